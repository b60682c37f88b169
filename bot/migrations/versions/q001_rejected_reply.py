"""answer quality: a generated reply the check stopped is kept on its bot turn

Revision ID: q001
Revises: r001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = 'q001'
down_revision = 'r001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rejected_reply', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_column('rejected_reply')
