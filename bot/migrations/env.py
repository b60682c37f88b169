from alembic import context
from sqlalchemy import create_engine

# Every module that declares tables on Base.metadata, so that autogenerate sees the whole schema.
import bot.api_keys  # noqa: F401
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
from core.database import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
