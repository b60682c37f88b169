"""customers in their own language: the language each conversation is held in

Revision ID: e026
Revises: h001
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = 'e026'
down_revision = 'h001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('language')
