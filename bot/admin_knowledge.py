"""The admin API for bulk FAQ import/export (CSV, JSON, YAML) and the audit log of knowledge changes."""

import tempfile
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from bot.deps import AdminDep, EditorDep, KnowledgeDep, ServicesDep, require_viewer
from retrieval.audit import audit_page
from retrieval.faq_files import FORMATS, UnreadableFaqFile, read_faq_file, write_faq_file
from retrieval.knowledge_base import UpsertReport

router = APIRouter(prefix="/admin", tags=["admin: bulk and audit"], dependencies=[Depends(require_viewer)])

_MEDIA = {".csv": "text/csv", ".json": "application/json", ".yaml": "application/yaml"}
_MAX_IMPORT_BYTES = 20_000_000
_BATCH = 64


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based data row (the CSV header is not a row)")
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[RowErrorOut] = Field(description="rows that were skipped; every other row was imported")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    data: list[AuditOut]
    count: int


@router.post("/faqs/import", response_model=ImportOut)
def import_faqs(knowledge: KnowledgeDep, editor: EditorDep,
                file: UploadFile = File(description="CSV, JSON or YAML; the format follows the file extension")):
    """Add FAQs from a file; an existing question is updated, not duplicated. Bad rows are reported, not fatal."""
    suffix = PurePath(file.filename or "").suffix.lower()
    if suffix not in FORMATS:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"{file.filename!r}: unsupported file type; use one of {', '.join(FORMATS)}.")
    data = file.file.read(_MAX_IMPORT_BYTES + 1)
    if len(data) > _MAX_IMPORT_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"FAQ files are limited to {_MAX_IMPORT_BYTES:,} bytes.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{PurePath(file.filename).stem or 'faqs'}{suffix}"
        path.write_bytes(data)
        try:
            parsed = read_faq_file(path)  # the same reader as `helpdesk faq import`
        except UnreadableFaqFile as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    totals = UpsertReport()
    for start in range(0, len(parsed.drafts), _BATCH):
        report = knowledge.upsert_many(parsed.drafts[start : start + _BATCH], actor=editor.name)
        totals = UpsertReport(totals.created + report.created, totals.updated + report.updated,
                              totals.unchanged + report.unchanged)
    return ImportOut(created=totals.created, updated=totals.updated, unchanged=totals.unchanged,
                     rejected=len(parsed.errors),
                     errors=[RowErrorOut(row=error.row, message=error.message) for error in parsed.errors])


@router.get("/faqs/export")
def export_faqs(knowledge: KnowledgeDep, format: Literal["csv", "json", "yaml"] = Query("json")) -> Response:
    """Every FAQ as a file that `POST /admin/faqs/import` and `helpdesk faq import` read back."""
    faqs, _ = knowledge.page(0, 10**9)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"faqs.{format}"
        write_faq_file(path, faqs)
        content = path.read_bytes()
    return Response(content, media_type=_MEDIA[f".{format}"],
                    headers={"Content-Disposition": f'attachment; filename="faqs.{format}"'})


@router.get("/audit", response_model=AuditPage)
def audit_log(services: ServicesDep, _: AdminDep, offset: int = Query(0, ge=0),
              limit: int = Query(100, ge=1, le=1000), actor: str | None = None,
              action: str | None = Query(None, description="prefix, e.g. `faq.` or `document.delete`")):
    """Knowledge changes, newest first: who (key name or bootstrap-admin), when, what."""
    entries, count = audit_page(services.sessions, offset, limit, actor, action)
    return AuditPage(data=[AuditOut(**entry.__dict__) for entry in entries], count=count)
