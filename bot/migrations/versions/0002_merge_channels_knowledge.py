"""merge the channel and knowledge branches

Revision ID: 0002
Revises: c001, k001
Create Date: 2026-11-22
"""

revision = "0002"
down_revision = ("c001", "k001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
