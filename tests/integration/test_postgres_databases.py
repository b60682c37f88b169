"""The tests' own PostgreSQL databases are dropped even while something is still connected to them."""

import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.integration


def _exists(server_url: str, name: str) -> bool:
    engine = create_engine(server_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
    finally:
        engine.dispose()


def test_a_database_a_session_still_holds_is_dropped(postgres_server_url):
    url, drop = fresh_postgres_database(postgres_server_url)
    name = url.rsplit("/", 1)[1].split("?")[0]
    holder = create_engine(url, pool_size=1)
    held = holder.connect()  # a test that forgot to dispose its engine, or a server process still running
    held.execute(text("SELECT 1"))
    try:
        drop()
        assert not _exists(postgres_server_url, name)
    finally:
        held.invalidate()
        holder.dispose()
