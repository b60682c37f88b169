"""What the commands start from: offline defaults for the model libraries, and the started services.

A leaf: it imports no command module, so every command module may import it.
"""

import logging
import os

import click


def offline_by_default() -> None:
    # Models are embedded or local; never wait on a hub that locked-down servers cannot reach.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def configure_logging(level: int) -> None:
    """The log format of every command, and of each worker process of `helpdesk serve --workers`."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is not news


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
