"""`helpdesk serve --workers N`: N server processes on one port, one database.

Python answers one request at a time per process (the GIL), so one process cannot use a second core for
the HTTP, SQL and search work around a model call. N processes can; the kernel spreads connections over
them. What must happen once is done once, before the workers start, by a short-lived preparation process:
migrating the database, converting the embedded LM, indexing and calibrating the knowledge base, importing
the sample FAQs. It leaves the index and calibration snapshots under `data/index/`, so each worker starts
from them (loading its own models, ~10-20 s here) instead of embedding and calibrating again; a
calibration a worker still has to do (FAQs edited while it was down) is done by one process at a time
(retrieval/calibrator.py). uvicorn's supervisor restarts a worker that dies; a worker whose supervisor dies
stops itself.

What keeps several processes correct lives elsewhere: per-customer order and exactly-once answers in
`core/turn_locks.py`, knowledge edits reaching every process in `retrieval/search_index.py`, channel event
dedup and crash take-over in `bot/connectors/ledger.py` and `bot/background/recovery.py`.
"""

import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import click

from bot.cli.startup import configure_logging, started_services

MAX_DEFAULT_WORKERS = 8  # each worker holds its own copy of the models
HEALTHCHECK_SECONDS = 60  # a worker loading models on a busy machine can miss uvicorn's 5 s default

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per core this process may run on, at most MAX_DEFAULT_WORKERS."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


def serve_workers(host: str, port: int, workers: int, sample_faqs: Path | None) -> None:
    """Prepare once in a child process, then run `workers` uvicorn workers until stopped."""
    import uvicorn

    preparation = multiprocessing.get_context("spawn").Process(
        target=prepare, args=(str(sample_faqs) if sample_faqs else None, logging.getLogger().level),
        name="helpdesk-prepare")
    preparation.start()
    preparation.join()
    if preparation.exitcode != 0:
        raise click.ClickException("Preparing the database, models and index failed (see above); "
                                   "no worker was started.")
    os.environ["HELPDESK_SUPERVISOR_PID"] = str(os.getpid())
    # Each worker's torch and llama.cpp get their share of the cores: N processes × all cores would only
    # thrash them. An operator's own OMP_NUM_THREADS / HELPDESK_LM_THREADS / _PROMPT_THREADS win.
    share = str(max(1, len(os.sched_getaffinity(0)) // workers))
    os.environ.setdefault("OMP_NUM_THREADS", share)
    os.environ.setdefault("HELPDESK_LM_THREADS", share)
    os.environ.setdefault("HELPDESK_LM_PROMPT_THREADS", share)
    click.echo(f"Helpdesk bot on http://{host}:{port} with {workers} worker processes  (chat widget demo: "
               f"http://{host}:{port}/ , API docs: http://{host}:{port}/docs)")
    uvicorn.run("bot.cli.multiprocess:worker_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", timeout_worker_healthcheck=HEALTHCHECK_SECONDS)


def prepare(sample_faqs: str | None, log_level: int) -> None:
    """What a start does once for every worker: migrate, convert models, index, calibrate, import (the
    sample shop's actions with its FAQs, as the one-process `serve --sample-kb` does)."""
    from bot.cli.actions import SAMPLE_ACTIONS, import_actions
    from bot.cli.faq import import_faqs

    configure_logging(log_level)
    try:
        services = started_services(with_lm=True)
        if sample_faqs:
            import_faqs(services, Path(sample_faqs))
            import_actions(services, SAMPLE_ACTIONS)
        services.knowledge.calibrator.train_now()  # the FAQs as imported: workers load this snapshot
        services.knowledge.close()  # writes the index snapshot the workers start from
    except click.ClickException as error:
        error.show()
        raise SystemExit(1) from None


def worker_app():
    """The app of one worker process (uvicorn calls this in each spawned worker)."""
    from bot.app import create_app

    configure_logging(logging.INFO)
    _stop_when_orphaned()
    return create_app()


def _stop_when_orphaned(poll_seconds: float = 1.0) -> None:
    """A worker whose supervisor was killed stops as if told to (SIGTERM: answers in progress finish),
    instead of holding the port forever."""
    supervisor = int(os.environ.get("HELPDESK_SUPERVISOR_PID", "0"))
    if not supervisor:
        return

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(poll_seconds)
        log.warning("The supervising process %d is gone; this worker stops", supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
