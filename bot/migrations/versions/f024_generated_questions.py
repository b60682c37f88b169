"""knowledge enrichment: an FAQ's generated alternative questions, kept apart from the admin's

Revision ID: f024
Revises: e026
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = 'f024'
down_revision = 'e026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('faqs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('generated_questions', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('faqs', schema=None) as batch_op:
        batch_op.drop_column('generated_questions')
