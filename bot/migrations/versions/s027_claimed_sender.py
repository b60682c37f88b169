"""claimed sender ids: when a channel identity first came with proof, after which it needs proof

Revision ID: s027
Revises: f024
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = 's027'
down_revision = 'f024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel_identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channel_identities', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
