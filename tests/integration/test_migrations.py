"""The Alembic migrations build exactly the schema the models describe, on both backends."""

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select

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
import retrieval.language_traffic  # noqa: F401
from bot.migrate import alembic_config, upgrade_database
from core.database import Base, make_engine, make_session_factory, utcnow
from dialogue.records import ChannelIdentityRecord, ConversationRecord, CustomerRecord, TurnRecord
from tests.conftest import BACKENDS
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.integration


def _database(backend, tmp_path, request):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}", None
    return fresh_postgres_database(request.getfixturevalue("postgres_server_url"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_create_what_the_models_declare(backend, tmp_path, request):
    url, drop = _database(backend, tmp_path, request)
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


# The tables of the customer as they were at s027, before n028 renamed `users` to `customers` and `user_id`
# to `customer_id`: the models describe the new names, so the old rows are written through these.
_BEFORE_RENAME = sa.MetaData()
_USERS = sa.Table("users", _BEFORE_RENAME, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("name", sa.String), sa.Column("email", sa.String), sa.Column("attributes", sa.JSON),
                  sa.Column("created_at", sa.DateTime(timezone=True)),
                  sa.Column("updated_at", sa.DateTime(timezone=True)))
_IDENTITIES = sa.Table("channel_identities", _BEFORE_RENAME, sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("channel", sa.String), sa.Column("external_id", sa.String),
                       sa.Column("user_id", sa.Integer), sa.Column("created_at", sa.DateTime(timezone=True)),
                       sa.Column("claimed_at", sa.DateTime(timezone=True)))
_CONVERSATIONS = sa.Table("conversations", _BEFORE_RENAME, sa.Column("id", sa.Integer, primary_key=True),
                          sa.Column("user_id", sa.Integer), sa.Column("channel", sa.String),
                          sa.Column("status", sa.String), sa.Column("started_at", sa.DateTime(timezone=True)),
                          sa.Column("last_activity_at", sa.DateTime(timezone=True)))
_TURNS = sa.Table("turns", _BEFORE_RENAME, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("conversation_id", sa.Integer), sa.Column("role", sa.String), sa.Column("text", sa.Text),
                  sa.Column("kind", sa.String), sa.Column("sources", sa.JSON), sa.Column("metadata", sa.JSON),
                  sa.Column("created_at", sa.DateTime(timezone=True)))


def _schema(engine) -> dict:
    """Tables, columns, keys and indexes as the database reports them (names included), to compare two."""
    inspector = sa.inspect(engine)
    return {table: (
        [(column["name"], str(column["type"]), column["nullable"], column["default"])  # PostgreSQL: the sequence
         for column in inspector.get_columns(table)],
        inspector.get_pk_constraint(table),
        sorted((fk["name"] or "", fk["constrained_columns"], fk["referred_table"], fk["referred_columns"],
                fk["options"]) for fk in inspector.get_foreign_keys(table)),
        sorted((index["name"], index["column_names"], index["unique"]) for index in inspector.get_indexes(table)),
        sorted((unique["name"], unique["column_names"]) for unique in inspector.get_unique_constraints(table)),
    ) for table in sorted(inspector.get_table_names()) if table != "alembic_version"}


def _customers_before_the_rename(engine, names: tuple[str, ...]) -> tuple[list[int], dict, dict, dict]:
    """Customers as s027 stored them, each with a claimed REST identity and a conversation with one turn:
    (their ids, and by id: identity, conversation and turn ids)."""
    now = utcnow()
    ids, identities, conversations, turns = [], {}, {}, {}
    with engine.begin() as connection:
        for name in names:
            user_id = connection.execute(_USERS.insert().values(
                name=name, email=f"{name.lower()}@example.com", attributes={"order_numbers": [f"{name}-1"]},
                created_at=now, updated_at=now)).inserted_primary_key[0]
            ids.append(user_id)
            identities[user_id] = connection.execute(_IDENTITIES.insert().values(
                channel="rest", external_id=name.lower(), user_id=user_id, created_at=now,
                claimed_at=now)).inserted_primary_key[0]
            conversations[user_id] = connection.execute(_CONVERSATIONS.insert().values(
                user_id=user_id, channel="rest", status="bot", started_at=now,
                last_activity_at=now)).inserted_primary_key[0]
            turns[user_id] = connection.execute(_TURNS.insert().values(
                conversation_id=conversations[user_id], role="user", text=f"Where is order {name}-1?",
                kind="message", sources=[], metadata={}, created_at=now)).inserted_primary_key[0]
    return ids, identities, conversations, turns


@pytest.mark.parametrize("backend", BACKENDS)
def test_renaming_users_to_customers_keeps_every_customer_linked(backend, tmp_path, request):
    """n028 renames in place: customers written at s027 come out of the upgrade with their identities,
    conversations and turns (on SQLite a recreated `conversations` would have cascaded the turns away), and
    the downgrade gives them back under the old names."""
    url, drop = _database(backend, tmp_path, request)
    engine = make_engine(url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "s027")
        before = _schema(engine)
        (ann, bob), identities, conversations, turns = _customers_before_the_rename(engine, ("Ann", "Bob"))

        command.upgrade(config, "heads")
        with make_session_factory(engine)() as session:
            customer = session.get(CustomerRecord, ann)
            assert (customer.name, customer.email, customer.attributes) == (
                "Ann", "ann@example.com", {"order_numbers": ["Ann-1"]})
            assert [(i.id, i.channel, i.external_id, i.claimed_at is not None) for i in customer.identities] == [
                (identities[ann], "rest", "ann", True)]
            assert session.get(ChannelIdentityRecord, identities[ann]).customer is customer
            assert session.get(ConversationRecord, conversations[ann]).customer_id == ann
            assert session.scalars(select(TurnRecord.id).where(
                TurnRecord.conversation_id == conversations[ann])).all() == [turns[ann]]
            newcomer = CustomerRecord(attributes={})  # ids go on after the existing ones: the sequence came along
            session.add(newcomer)
            session.flush()
            assert newcomer.id > bob
            session.rollback()
            # The foreign keys came along too: deleting a customer deletes their identities, conversations, turns.
            session.execute(delete(CustomerRecord).where(CustomerRecord.id == bob))
            session.commit()
            assert session.scalars(select(ChannelIdentityRecord.id)).all() == [identities[ann]]
            assert session.scalars(select(ConversationRecord.id)).all() == [conversations[ann]]
            assert session.scalars(select(TurnRecord.id)).all() == [turns[ann]]

        command.downgrade(config, "s027")
        assert _schema(engine) == before  # every table, column, key and index under its old name again
        with engine.connect() as connection:
            assert connection.execute(select(_USERS.c.id, _USERS.c.name)).all() == [(ann, "Ann")]
            assert connection.execute(select(_IDENTITIES.c.id, _IDENTITIES.c.user_id)).all() == [
                (identities[ann], ann)]
            assert connection.execute(select(_CONVERSATIONS.c.id, _CONVERSATIONS.c.user_id)).all() == [
                (conversations[ann], ann)]
            assert connection.execute(select(_TURNS.c.id)).scalars().all() == [turns[ann]]
        command.upgrade(config, "heads")
    finally:
        engine.dispose()
        if drop:
            drop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_renamed_tables_are_named_as_a_new_database_names_them(backend, tmp_path, request):
    """compare_metadata overlooks the names of primary and foreign keys and PostgreSQL's sequences; after
    the rename they must be what a database created now gets (customers_pkey, customers_id_seq,
    conversations_customer_id_fkey, ...), so that a later migration can name them."""
    schemas = []
    for build in (upgrade_database, Base.metadata.create_all):
        (tmp_path / build.__name__).mkdir()
        url, drop = _database(backend, tmp_path / build.__name__, request)
        engine = make_engine(url)
        try:
            build(engine)
            schemas.append({table: shape for table, shape in _schema(engine).items()
                            if table in ("customers", "channel_identities", "conversations")})
        finally:
            engine.dispose()
            if drop:
                drop()
    migrated, created = schemas
    assert len(migrated) == 3 and migrated == created
