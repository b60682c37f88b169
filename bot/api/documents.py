"""The admin API for documents: upload, fetch URLs and sitemaps (as background jobs), list, get, delete, re-sync."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import EditorDep, KnowledgeDep, SettingsDep, require_viewer
from bot.openapi import Timestamp
from retrieval.documents import Document, Passage
from retrieval.errors import DocumentError, DocumentTooLarge, UnsupportedDocument
from retrieval.fetch import Fetcher
from retrieval.jobs import Job, JobStatus
from retrieval.library import IngestReport, Upload

router = APIRouter(prefix="/admin", tags=["admin: documents"], dependencies=[Depends(require_viewer)])


class DocumentOut(BaseModel):
    id: int
    title: str
    source: str = Field(description="file name, or URL for fetched pages")
    source_kind: str = Field(description="upload | url")
    media_type: str
    tags: list[str]
    size_bytes: int
    chunk_count: int
    version: int
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, document: Document) -> "DocumentOut":
        return cls(**{name: getattr(document, name) for name in cls.model_fields})


class IngestOut(BaseModel):
    document: DocumentOut
    created: bool
    chunks_added: int = Field(description="chunks embedded because they are new or changed")
    chunks_removed: int
    chunks_unchanged: int

    @classmethod
    def of(cls, report: IngestReport) -> "IngestOut":
        return cls(document=DocumentOut.of(report.document), created=report.created, chunks_added=report.added,
                   chunks_removed=report.removed, chunks_unchanged=report.unchanged)


class ItemError(BaseModel):
    item: str
    message: str


class UploadOut(BaseModel):
    documents: list[IngestOut]
    errors: list[ItemError] = Field(description="files that were rejected; nothing of them was stored")


class DocumentPage(BaseModel):
    data: list[DocumentOut]
    count: int


class PassageOut(BaseModel):
    id: int
    section: str
    text: str


class FetchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list, max_length=10_000)
    sitemap: str | None = Field(None, description="a sitemap.xml (or sitemap index) whose pages to fetch")
    tags: list[str] = Field(default_factory=list, max_length=50)


class JobOut(BaseModel):
    id: int
    kind: str
    status: JobStatus = Field(description="queued | running | succeeded | partial | failed")
    total: int
    done: int
    errors: list[ItemError]
    results: list[dict[str, Any]]
    created_at: Timestamp
    finished_at: Timestamp | None

    @classmethod
    def of(cls, job: Job) -> "JobOut":
        return cls(id=job.id, kind=job.kind, status=job.status, total=job.total, done=job.done,
                   errors=[ItemError(**error) for error in job.errors], results=job.results,
                   created_at=job.created_at, finished_at=job.finished_at)


@router.post("/documents", response_model=UploadOut, status_code=status.HTTP_201_CREATED)
async def upload_documents(knowledge: KnowledgeDep, editor: EditorDep,
                           files: list[UploadFile] = File(description="Markdown, HTML, text or PDF files"),
                           tags: str = Form("", description="comma-separated tags for every file"),
                           title: str | None = Form(None, description="title, when uploading one file")):
    """Add documents, or re-sync ones uploaded before under the same file name (only changed chunks re-embed).

    Each file stands alone: a rejected file is reported in `errors` and leaves nothing behind. When every
    file is rejected the answer is an error status (413, 415 or 422) with the reasons.
    """
    library = knowledge.documents
    reports, errors, failures = [], [], []
    for upload in files:
        name = upload.filename or "upload"
        try:
            data = await upload.read(library.max_upload_bytes + 1)  # never read past the limit
            if len(data) > library.max_upload_bytes:
                raise DocumentTooLarge(name, len(data), library.max_upload_bytes)
            item = Upload(name, data, "upload", upload.content_type, tuple(tags.split(",")),
                          title if len(files) == 1 else None)
            reports.append(IngestOut.of(await _in_thread(library.ingest, item, editor.name)))
        except DocumentError as error:
            errors.append(ItemError(item=name, message=str(error)))
            failures.append(error)
    if not reports:
        raise HTTPException(_status_of(failures[0]) if len(failures) == 1 else 422,
                            "; ".join(error.message for error in errors) or "No files were sent.")
    return UploadOut(documents=reports, errors=errors)


def _status_of(error: DocumentError) -> int:
    if isinstance(error, DocumentTooLarge):
        return status.HTTP_413_CONTENT_TOO_LARGE
    if isinstance(error, UnsupportedDocument):
        return status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    return status.HTTP_422_UNPROCESSABLE_CONTENT


async def _in_thread(function, *args):
    # Parsing and embedding take CPU seconds: keep the event loop (chat) responsive meanwhile.
    return await asyncio.to_thread(function, *args)


@router.get("/documents", response_model=DocumentPage)
def list_documents(knowledge: KnowledgeDep, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)):
    documents, count = knowledge.documents.page(offset, limit)
    return DocumentPage(data=[DocumentOut.of(document) for document in documents], count=count)


@router.get("/documents/{document_id}", response_model=DocumentOut)
def get_document(document_id: int, knowledge: KnowledgeDep):
    return DocumentOut.of(knowledge.documents.get(document_id))


@router.get("/documents/{document_id}/chunks", response_model=list[PassageOut])
def document_chunks(document_id: int, knowledge: KnowledgeDep):
    return [_passage(passage) for passage in knowledge.documents.passages(document_id)]


def _passage(passage: Passage) -> PassageOut:
    return PassageOut(id=passage.id, section=passage.section, text=passage.text)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(document_id: int, knowledge: KnowledgeDep, editor: EditorDep) -> Response:
    knowledge.documents.delete(document_id, actor=editor.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/documents/{document_id}/resync", response_model=IngestOut)
def resync_document(document_id: int, knowledge: KnowledgeDep, settings: SettingsDep, editor: EditorDep):
    """Fetch a page again and re-embed only the chunks that changed. Uploaded files: upload them again."""
    document = knowledge.documents.get(document_id)
    if document.source_kind != "url":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"Document {document_id} was uploaded as a file: upload {document.source!r} again "
                            "with POST /admin/documents to re-sync it.")
    fetcher = Fetcher(settings.fetch_timeout_seconds, knowledge.documents.max_upload_bytes)
    page = fetcher.fetch(document.source)
    upload = Upload(document.source, page.data, "url", page.content_type, tuple(document.tags))
    return IngestOut.of(knowledge.documents.ingest(upload, editor.name))


@router.post("/documents/fetch", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def fetch_documents(body: FetchIn, knowledge: KnowledgeDep, settings: SettingsDep, editor: EditorDep,
                    response: Response):
    """Fetch pages (a list of URLs and/or a sitemap) in a background job; poll `GET /admin/jobs/{id}`."""
    fetcher = Fetcher(settings.fetch_timeout_seconds, knowledge.documents.max_upload_bytes)
    urls = list(body.urls)
    if body.sitemap:
        urls += fetcher.sitemap_urls(body.sitemap)
    urls = list(dict.fromkeys(url.strip() for url in urls if url.strip()))
    if not urls:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Give `urls` or a `sitemap` that lists pages.")

    def ingest(url: str) -> dict[str, Any]:
        page = fetcher.fetch(url)
        report = knowledge.documents.ingest(Upload(url, page.data, "url", page.content_type, tuple(body.tags)),
                                            editor.name)
        return {"document_id": report.document.id, "chunks_added": report.added,
                "chunks_removed": report.removed, "chunks_unchanged": report.unchanged}

    job = knowledge.jobs.submit("fetch", urls, ingest, editor.name)
    response.headers["Location"] = f"/admin/jobs/{job.id}"
    return JobOut.of(job)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: int, knowledge: KnowledgeDep):
    return JobOut.of(knowledge.jobs.get(job_id))
