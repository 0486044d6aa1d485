"""native app sign-in hand-offs (OIDC, RFC 8252 with PKCE)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_handoffs",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("client", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index("ix_auth_handoffs_account_id", "auth_handoffs", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_auth_handoffs_account_id", table_name="auth_handoffs")
    op.drop_table("auth_handoffs")
