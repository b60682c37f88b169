"""Alembic migrations, run programmatically so `helpdesk serve` always starts on the current schema."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
        config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> None:
    # "heads": features developed in parallel may add migration branches; all of them apply.
    command.upgrade(alembic_config(engine), "heads")
