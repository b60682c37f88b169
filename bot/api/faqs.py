"""The admin API for FAQs: list, create, read, replace, change, delete, and bulk import/export (CSV, JSON, YAML);
an FAQ's generated questions (paraphrases the LM wrote, training/enrichment.py) are added and removed apart.

Every change goes through `retrieval.knowledge_base.KnowledgeBase`, which stores it, logs it for the
other processes' indexes and updates this process's index before answering (docs/architecture.md).
"""

import tempfile
from pathlib import Path, PurePath
from typing import Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import EditorDep, KnowledgeDep, ServicesDep, require_viewer
from bot.openapi import Timestamp
from core.language_detection import shared_detector
from retrieval.faq_files import FORMATS, UnreadableFaqFile, read_faq_file, write_faq_file
from retrieval.faqs import Faq, FaqPatch, make_draft
from retrieval.generated_questions import remove_generated_question
from retrieval.knowledge_base import UpsertReport
from training.enrichment import EnrichmentConfig, EnrichmentFailed, enrich_faq, translate_faq
from training.translations import source_texts

# Any key may read; changes need the editor role (bot/api_keys.py).
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_viewer)])

_MEDIA = {".csv": "text/csv", ".json": "application/json", ".yaml": "application/yaml"}
_MAX_IMPORT_BYTES = 20_000_000
_BATCH = 64


class FaqIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(min_length=1, max_length=20000)
    alt_questions: list[str] = Field(default_factory=list, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)


class FaqChangesIn(BaseModel):
    """Only the fields sent are changed. Typed without null: a field is left out to keep it, never nulled."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(None, min_length=1, max_length=2000)
    answer: str = Field(None, min_length=1, max_length=20000)
    alt_questions: list[str] = Field(None, max_length=200, description="The whole new list: it replaces the "
                                                                       "stored one.")
    tags: list[str] = Field(None, max_length=50, description="The whole new list: it replaces the stored one.")
    version: int = Field(None, ge=1, description="The version you edited (GET gives it). If the FAQ is at "
                                                  "another version now, the answer is 409 and nothing changes.")


class FaqOut(BaseModel):
    id: int
    question: str
    answer: str
    alt_questions: list[str]
    generated_questions: list[str] = Field(description="Paraphrases and translations the LM wrote (`helpdesk faq "
                                                       "enrich`, POST /admin/faqs/{id}/enrich): searched like "
                                                       "`alt_questions`, kept when the FAQ is edited, removable one "
                                                       "by one.")
    tags: list[str]
    version: int
    updated_at: Timestamp

    @classmethod
    def of(cls, faq: Faq) -> "FaqOut":
        return cls(**faq.__dict__)


class FaqPage(BaseModel):
    data: list[FaqOut]
    count: int


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based data row (the CSV header is not a row)")
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[RowErrorOut] = Field(description="rows that were skipped; every other row was imported")


@router.get("/faqs", response_model=FaqPage)
def list_faqs(knowledge: KnowledgeDep, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)):
    faqs, count = knowledge.page(offset, limit)
    return FaqPage(data=[FaqOut.of(faq) for faq in faqs], count=count)


@router.post("/faqs", response_model=FaqOut, status_code=status.HTTP_201_CREATED)
def create_faq(body: FaqIn, knowledge: KnowledgeDep, editor: EditorDep):
    return FaqOut.of(knowledge.create(make_draft(**body.model_dump()), actor=editor.name))


# The fixed paths come before /faqs/{faq_id}, which would otherwise take "import" and "export" for ids.
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


@router.get("/faqs/export", responses={200: {"description": "The file, in the asked format.", "content": {
    "application/json": {}, "text/csv": {}, "application/yaml": {}}}})
def export_faqs(knowledge: KnowledgeDep, format: Literal["csv", "json", "yaml"] = Query("json")) -> Response:
    """Every FAQ as a file that `POST /admin/faqs/import` and `helpdesk faq import` read back."""
    faqs, _ = knowledge.page(0, 10**9)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"faqs.{format}"
        write_faq_file(path, faqs)
        content = path.read_bytes()
    return Response(content, media_type=_MEDIA[f".{format}"],
                    headers={"Content-Disposition": f'attachment; filename="faqs.{format}"'})


@router.get("/faqs/{faq_id}", response_model=FaqOut)
def get_faq(faq_id: int, knowledge: KnowledgeDep):
    return FaqOut.of(knowledge.get(faq_id))


@router.put("/faqs/{faq_id}", response_model=FaqOut)
def replace_faq(faq_id: int, body: FaqIn, knowledge: KnowledgeDep, editor: EditorDep):
    """Replace the whole FAQ: a field left out gets its default, so leaving out `alt_questions` or `tags`
    deletes them. To change some fields and keep the others, use `PATCH /admin/faqs/{faq_id}`."""
    return FaqOut.of(knowledge.update(faq_id, make_draft(**body.model_dump()), actor=editor.name))


@router.patch("/faqs/{faq_id}", response_model=FaqOut)
def change_faq(faq_id: int, body: FaqChangesIn, knowledge: KnowledgeDep, editor: EditorDep):
    """Change only the fields sent; the others keep their stored values. Lists are replaced whole. With
    `version`, the change is refused (409) if someone else changed the FAQ since that version."""
    changes = body.model_dump(exclude_unset=True)
    if not changes.keys() - {"version"}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "Nothing to change: send at least one of question, answer, alt_questions, tags.")
    return FaqOut.of(knowledge.patch(faq_id, FaqPatch(**changes), actor=editor.name))


@router.delete("/faqs/{faq_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_faq(faq_id: int, knowledge: KnowledgeDep, editor: EditorDep) -> Response:
    knowledge.delete(faq_id, actor=editor.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/faqs/{faq_id}/enrich", response_model=FaqOut)
def enrich(faq_id: int, services: ServicesDep, editor: EditorDep,
           language: str | None = Query(None, pattern=r"^[a-z]{2,3}$",
                                        description="Translate the FAQ's questions into this language (ISO 639-1) "
                                                    "instead, replacing its earlier translations into it.")):
    """Ask the configured LM now for paraphrases of this FAQ, or with `language` for its questions in that
    language, and add them to its generated questions (seconds to a minute on a CPU). 422 when it wrote nothing
    usable or there is nothing to translate, 503 when the LM cannot answer."""
    knowledge = services.knowledge
    faq = knowledge.get(faq_id)
    try:
        if language is None:
            enrich_faq(knowledge, services.generator, faq, EnrichmentConfig(), services.settings.company_name)
        elif not source_texts(faq, shared_detector(), language):
            raise EnrichmentFailed(f"the FAQ's questions are already in {language}: nothing to translate")
        else:
            translate_faq(knowledge, services.generator, faq, language, EnrichmentConfig(),
                          services.settings.company_name)
    except EnrichmentFailed as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return FaqOut.of(knowledge.get(faq_id))


@router.delete("/faqs/{faq_id}/generated-questions", response_model=FaqOut)
def remove_generated(faq_id: int, knowledge: KnowledgeDep, editor: EditorDep,
                     question: str = Query(min_length=1, max_length=2000,
                                           description="The generated question to remove, exactly as listed.")):
    """Remove one generated question; the admin's alternatives are never touched. 404 when the FAQ has no such
    generated question."""
    return FaqOut.of(remove_generated_question(knowledge, faq_id, question, actor=editor.name))
