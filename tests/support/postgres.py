"""Databases of a test's or a benchmark's own on a PostgreSQL server, created fresh and dropped after.

The role these run as may create databases but is not a superuser. `DROP DATABASE ... WITH (FORCE)` then fails
whenever an autovacuum worker happens to be in the database ("must be a member of the role whose process is being
terminated": the worker belongs to no role); CI hit that once in 1,300 tests. So the drop ends this role's own
sessions itself and drops without FORCE, which asks autovacuum to leave and waits for it, and tries again while
the server still reports the database in use.
"""

import time
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

ATTEMPTS = 10


def fresh_postgres_database(server_url: str, prefix: str = "helpdesk_test") -> tuple[str, Callable[[], None]]:
    """(url of a new, empty database on the server, a function that drops it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        try:
            drop_database(admin, name)
        finally:
            admin.dispose()

    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


def drop_database(admin, name: str) -> None:
    for attempt in range(ATTEMPTS):
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :name AND usename = current_user AND pid <> pg_backend_pid()"),
                {"name": name})
            try:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                return
            except OperationalError as error:  # 55006 object_in_use: a session not yet gone
                if getattr(error.orig, "sqlstate", None) != "55006" or attempt == ATTEMPTS - 1:
                    raise
        time.sleep(0.5)
