"""Long knowledge jobs (fetching a sitemap, ingesting many pages) run in the background.

The job's progress and per-item errors live in the database, so any server process can answer the status
endpoint, and a failing item never stops the others. Jobs run one at a time in a background thread: the
embedder already uses every core, so a second job would only slow both down.
"""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core.database import Base, utcnow
from core.errors import ModelUnavailable
from core.processes import Orphaned
from retrieval.errors import KnowledgeError

log = logging.getLogger(__name__)


class JobStatus(StrEnum):
    """Where a knowledge job stands; stored as its value in `jobs.status`."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every item done
    PARTIAL = "partial"  # some items done, some failed (their errors are on the job)
    FAILED = "failed"  # no item done


class JobRecord(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # a JobStatus
    actor: Mapped[str] = mapped_column(String(200))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(255))  # the process running it (core/processes.py)


class JobNotFound(KnowledgeError):
    def __init__(self, job_id: int):
        super().__init__(f"No job with id {job_id}.")


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    status: JobStatus
    actor: str
    total: int
    done: int
    errors: list[dict[str, str]]
    results: list[dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)

    @classmethod
    def from_record(cls, r: JobRecord) -> "Job":
        return cls(r.id, r.kind, JobStatus(r.status), r.actor, r.total, r.done, list(r.errors or []),
                   list(r.results or []), r.created_at, r.finished_at)


class JobRunner:
    def __init__(self, sessions: sessionmaker, owner: str | None = None):
        self.sessions = sessions
        self.owner = owner  # this process's id in the process table (core/processes.py)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge-job")

    def submit(self, kind: str, items: list[str], work: Callable[[str], dict[str, Any]], actor: str) -> Job:
        """Run `work(item)` for each item in the background; a failing item fails only itself."""
        with self.sessions() as session:
            record = JobRecord(kind=kind, status=JobStatus.QUEUED, actor=actor, total=len(items), done=0, errors=[],
                               results=[], owner=self.owner)
            session.add(record)
            session.commit()
            job = Job.from_record(record)
        self._executor.submit(self._run, job.id, items, work)
        return job

    def get(self, job_id: int) -> Job:
        with self.sessions() as session:
            record = session.get(JobRecord, job_id)
            if record is None:
                raise JobNotFound(job_id)
            return Job.from_record(record)

    def _run(self, job_id: int, items: list[str], work: Callable[[str], dict[str, Any]]) -> None:
        errors: list[dict[str, str]] = []
        results: list[dict[str, Any]] = []
        self._update(job_id, status=JobStatus.RUNNING)
        for done, item in enumerate(items, start=1):
            try:
                results.append({"item": item, **work(item)})
            except (KnowledgeError, ModelUnavailable) as error:
                errors.append({"item": item, "message": str(error)})
            except Exception:  # one broken item must not kill the job; the log has the traceback
                log.exception("Job %d failed on %s", job_id, item)
                errors.append({"item": item, "message": "internal error; the server log has the details"})
            self._update(job_id, done=done, errors=list(errors), results=list(results))
        status = JobStatus.SUCCEEDED if not errors else JobStatus.PARTIAL if results else JobStatus.FAILED
        self._update(job_id, status=status, finished_at=utcnow())

    def _update(self, job_id: int, **values: Any) -> None:
        with self.sessions() as session:
            record = session.get(JobRecord, job_id)
            for name, value in values.items():
                setattr(record, name, value)
            record.updated_at = utcnow()
            session.commit()

    def fail_abandoned(self, orphaned: Orphaned) -> list[int]:
        """End the jobs whose process died while they were queued or running (`orphaned(owner column)`).

        Their items and work were in that process's memory, so they cannot be resumed: they end as
        failed (or partial, if some items were done) with an error saying what was left undone.
        """
        ended = []
        with self.sessions() as session:
            unfinished = JobRecord.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
            records = session.scalars(select(JobRecord).where(unfinished, orphaned(JobRecord.owner))).all()
            for record in records:
                left = record.total - record.done
                record.errors = [*(record.errors or []), {
                    "item": f"{left} item(s) not processed",
                    "message": "the server process running this job stopped (a crash or a restart) before it "
                               "finished; submit the remaining items again",
                }]
                record.status = JobStatus.PARTIAL if record.results else JobStatus.FAILED
                record.finished_at = record.updated_at = utcnow()
                ended.append(record.id)
            session.commit()
        for job_id in ended:
            log.warning("Knowledge job %d was abandoned by a server process that stopped; marked as ended",
                        job_id)
        return ended

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
