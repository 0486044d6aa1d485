"""index for unlinked staff accounts (account administrators see them)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_accounts_kind_staff_member", "accounts", ["kind", "staff_member_id"])


def downgrade() -> None:
    op.drop_index("ix_accounts_kind_staff_member", table_name="accounts")
