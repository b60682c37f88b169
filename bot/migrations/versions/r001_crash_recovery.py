"""crash recovery: worker heartbeats, owners of background work, replayable channel events

Revision ID: r001
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = 'r001'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workers',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('channel_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=255), nullable=True))
    with op.batch_alter_table('channel_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('owner', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_channel_events_processed_at'), ['processed_at'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=255), nullable=True))
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_turns_external_id'), ['external_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turns_external_id'))
        batch_op.drop_column('external_id')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('owner')
    with op.batch_alter_table('channel_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_events_processed_at'))
        batch_op.drop_column('owner')
        batch_op.drop_column('payload')
    with op.batch_alter_table('channel_deliveries', schema=None) as batch_op:
        batch_op.drop_column('owner')
    op.drop_table('workers')
