"""The Alembic migrations build exactly the schema the models describe, on both backends."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import bot.api_keys  # noqa: F401  (every table on Base.metadata, as bot/migrations/env.py imports them)
import bot.connectors.records  # noqa: F401
import core.outbox  # noqa: F401
import core.processes  # noqa: F401
import dialogue.actions.records  # noqa: F401
import dialogue.records  # noqa: F401
import retrieval.declared_actions.declarations  # noqa: F401
import core.audit  # noqa: F401
import retrieval.changes  # noqa: F401
import retrieval.documents  # noqa: F401
import retrieval.faqs  # noqa: F401
import retrieval.jobs  # noqa: F401
from bot.migrate import upgrade_database
from core.database import Base, make_engine
from tests.conftest import BACKENDS, _fresh_postgres_database

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_create_what_the_models_declare(backend, tmp_path, request):
    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'migrated.db'}", None
    else:
        url, drop = _fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
        if drop:
            drop()
    assert differences == [], "a model changed without a migration (alembic revision --autogenerate)"
