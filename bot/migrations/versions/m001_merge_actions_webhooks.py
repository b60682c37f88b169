"""merge the custom-actions and webhooks branches

Revision ID: m001
Revises: a001, w001
Create Date: 2026-12-01
"""

revision = "m001"
down_revision = ("a001", "w001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
