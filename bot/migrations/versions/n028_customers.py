"""customers: the table `users` becomes `customers` and its foreign keys `user_id` become `customer_id`

Revision ID: n028
Revises: s027
Create Date: 2026-12-05
"""
from alembic import op

revision = 'n028'
down_revision = 's027'
branch_labels = None
depends_on = None

# The tables whose column `user_id` points at users.id.
REFERRING = ('channel_identities', 'conversations')


def upgrade() -> None:
    _rename('users', 'customers', 'user_id', 'customer_id')


def downgrade() -> None:
    _rename('customers', 'users', 'customer_id', 'user_id')


def _rename(table: str, new_table: str, column: str, new_column: str) -> None:
    """Renames in place, on both backends: every row stays where it is, nothing is copied.

    SQLite: `ALTER TABLE ... RENAME TO` (3.26+) rewrites the foreign keys that name the table, and
    `RENAME COLUMN` (3.25+) the constraints and indexes on the column. The batch is kept from recreating a
    table (recreate='never'): a recreated table is copied and its original dropped, and with the
    foreign_keys pragma on (core/database.py) dropping `conversations` deletes every turn (ON DELETE CASCADE).
    Its indexes and foreign keys have no names of their own but the index names, which are made again.

    PostgreSQL keeps the names it gave when the tables were created (`users_pkey`, `users_id_seq`,
    `conversations_user_id_fkey`); they are renamed to what it would name them now, so that a migrated
    database and a new one are alike.
    """
    postgres = op.get_bind().dialect.name == 'postgresql'
    op.rename_table(table, new_table)
    if postgres:
        op.execute(f'ALTER TABLE {new_table} RENAME CONSTRAINT {table}_pkey TO {new_table}_pkey')
        op.execute(f'ALTER SEQUENCE {table}_id_seq RENAME TO {new_table}_id_seq')
    for referring in REFERRING:
        with op.batch_alter_table(referring, recreate='never') as batch_op:
            batch_op.alter_column(column, new_column_name=new_column)
        if postgres:
            op.execute(f'ALTER TABLE {referring} RENAME CONSTRAINT {referring}_{column}_fkey '
                       f'TO {referring}_{new_column}_fkey')
            op.execute(f'ALTER INDEX ix_{referring}_{column} RENAME TO ix_{referring}_{new_column}')
        else:
            op.drop_index(f'ix_{referring}_{column}', table_name=referring)
            op.create_index(f'ix_{referring}_{new_column}', referring, [new_column], unique=False)
