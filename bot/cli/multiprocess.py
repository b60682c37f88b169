"""`helpdesk serve --workers N`: N server processes on one port, one database.

Python answers one request at a time per process (the GIL), so one process cannot use a second core for
the HTTP, SQL and search work around a model call. N processes can; the kernel spreads connections over
them. What must happen once is done once, before the workers start, by a short-lived preparation process:
migrating the database, converting the embedded LM, indexing and calibrating the knowledge base, importing
the sample FAQs. It leaves the index and calibration snapshots under `data/index/`, so each worker starts
from them (loading its own models, ~10-20 s here) instead of embedding and calibrating again; a
calibration a worker still has to do (FAQs edited while it was down) is done by one process at a time
(retrieval/calibrator.py). The supervisor (bot/cli/supervisor.py, uvicorn's, made to stop in seconds)
restarts a worker that dies; a worker whose supervisor dies stops itself.

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

from bot.cli.startup import configure_logging, freeze_loaded, started_services, stop_signals_end_loading

MAX_DEFAULT_WORKERS = 8  # each worker holds its own copy of the models
# A hung worker is replaced after this; a dead one at once, and a stop request is never held by it
# (bot/cli/supervisor.py). A worker loading models on a busy machine can miss uvicorn's 5 s default.
HEALTHCHECK_SECONDS = 60
KILL_AFTER_GRACE_SECONDS = 4  # lifespan shutdown after the grace period: snapshot, heartbeat, connections

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per core this process may run on, at most MAX_DEFAULT_WORKERS."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


def serve_workers(host: str, port: int, workers: int, sample_faqs: Path | None, grace_seconds: float) -> None:
    """Prepare once in a child process, then run `workers` uvicorn workers until stopped."""
    if not _prepared(sample_faqs):
        return
    os.environ["HELPDESK_SUPERVISOR_PID"] = str(os.getpid())
    # Each worker's torch and llama.cpp get their share of the cores: N processes × all cores would only
    # thrash them. An operator's own OMP_NUM_THREADS / HELPDESK_LM_THREADS / _PROMPT_THREADS win.
    share = str(max(1, len(os.sched_getaffinity(0)) // workers))
    os.environ.setdefault("OMP_NUM_THREADS", share)
    os.environ.setdefault("HELPDESK_LM_THREADS", share)
    os.environ.setdefault("HELPDESK_LM_PROMPT_THREADS", share)
    click.echo(f"Helpdesk bot on http://{host}:{port} with {workers} worker processes  (chat widget demo: "
               f"http://{host}:{port}/ , API docs: http://{host}:{port}/docs)")
    _supervise(host, port, workers, grace_seconds)


def _prepared(sample_faqs: Path | None) -> bool:
    """Runs `prepare` in a child; False when a stop signal ended it (passed on to it: it stops at once)."""
    preparation = multiprocessing.get_context("spawn").Process(
        target=prepare, args=(str(sample_faqs) if sample_faqs else None, logging.getLogger().level),
        name="helpdesk-prepare")
    stopped = []

    def stop(signum: int, frame: object) -> None:
        stopped.append(signum)
        if preparation.pid is not None:
            preparation.terminate()  # its own handler (stop_signals_end_loading) ends it at once

    previous = {stop_signal: signal.signal(stop_signal, stop) for stop_signal in (signal.SIGINT, signal.SIGTERM)}
    try:
        preparation.start()
        if stopped:
            preparation.terminate()
        preparation.join()
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
    if stopped:
        click.echo("Stopped while preparing; no worker was started.")
        return False
    if preparation.exitcode != 0:
        raise click.ClickException("Preparing the database, models and index failed (see above); "
                                   "no worker was started.")
    return True


def _supervise(host: str, port: int, workers: int, grace_seconds: float) -> None:
    """What `uvicorn.run(..., workers=N)` does, with the supervisor of bot/cli/supervisor.py."""
    from uvicorn import Config

    from bot.cli.supervisor import Supervisor

    config = Config("bot.cli.multiprocess:worker_app", factory=True, host=host, port=port, workers=workers,
                    log_level="info", timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
                    timeout_graceful_shutdown=grace_seconds)
    sock = config.bind_socket()
    try:
        Supervisor(config, [sock], stop_seconds=grace_seconds + KILL_AFTER_GRACE_SECONDS).run()
    finally:
        sock.close()


def prepare(sample_faqs: str | None, log_level: int) -> None:
    """What a start does once for every worker: migrate, convert models, index, calibrate, import (the
    sample shop's actions with its FAQs, as the one-process `serve --sample-kb` does)."""
    from bot.cli.actions import SAMPLE_ACTIONS, import_actions
    from bot.cli.faq import import_faqs

    configure_logging(log_level)
    try:
        with stop_signals_end_loading():
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
    """The app of one worker process (uvicorn calls this in each spawned worker, in its main thread).

    The models load here rather than in the app's lifespan, so that a SIGTERM during the load ends the
    worker at once (`stop_signals_end_loading`); the lifespan's start is then a no-op."""
    from uvicorn.config import STARTUP_FAILURE

    configure_logging(logging.INFO)
    _stop_when_orphaned()
    try:
        with stop_signals_end_loading():
            from bot.app import create_app  # its imports (torch, transformers) take ~10 s: stoppable too

            services = started_services(with_lm=True)
        app = create_app(services.settings, services)
        freeze_loaded()
        return app
    except click.ClickException as error:
        error.show()
        raise SystemExit(STARTUP_FAILURE) from None  # the supervisor stops: every worker would fail the same way
    except Exception:
        # Not exit status 1, which the supervisor answers with a new worker that fails the same way, for ever.
        log.exception("This worker could not start; the server stops")
        raise SystemExit(STARTUP_FAILURE) from None


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
