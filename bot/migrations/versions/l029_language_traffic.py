"""questions across languages: the running mean of the questions asked in each language, per embedder

Revision ID: l029
Revises: n028
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = 'l029'
down_revision = 'n028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'language_traffic',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('questions', sa.Integer(), nullable=False),
        sa.Column('vector_sum', sa.LargeBinary(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('model_id', 'language', name='uq_language_traffic'),
    )


def downgrade() -> None:
    op.drop_table('language_traffic')
