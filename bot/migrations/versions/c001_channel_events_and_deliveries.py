"""channel events (dedup) and deliveries (outgoing platform messages)

Revision ID: c001
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = 'c001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=True),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('channel_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_deliveries_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_deliveries_status'), ['status'], unique=False)

    op.create_table('channel_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('event_key', sa.String(length=255), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'event_key', name='uq_channel_event')
    )


def downgrade() -> None:
    op.drop_table('channel_events')
    with op.batch_alter_table('channel_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_channel_deliveries_channel'))

    op.drop_table('channel_deliveries')
