"""at most one open assignment of a form per student and audience

Revision ID: 0004
Revises: 0003

Before this index two concurrent ``assignForm`` calls could both insert an
assignment. Such duplicates are open (ASSIGNED) rows without answers; the
oldest is the one ``assignForm`` has always returned, so the newer ones are
removed before the unique index is made (ADR 0008).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN_ASSIGNMENT = "status = 'ASSIGNED'"


def upgrade() -> None:
    op.execute(
        sa.text(
            """
            DELETE FROM form_assignments
            WHERE status = 'ASSIGNED'
              AND NOT EXISTS (
                SELECT 1 FROM form_answers WHERE form_answers.assignment_id = form_assignments.id
              )
              AND EXISTS (
                SELECT 1 FROM form_assignments AS older
                WHERE older.form_id = form_assignments.form_id
                  AND older.student_id = form_assignments.student_id
                  AND older.assigned_to_student = form_assignments.assigned_to_student
                  AND older.status = 'ASSIGNED'
                  AND older.id < form_assignments.id
              )
            """
        )
    )
    op.create_index(
        "ux_form_assignments_open",
        "form_assignments",
        ["form_id", "student_id", "assigned_to_student"],
        unique=True,
        sqlite_where=sa.text(OPEN_ASSIGNMENT),
        postgresql_where=sa.text(OPEN_ASSIGNMENT),
    )


def downgrade() -> None:
    op.drop_index("ux_form_assignments_open", table_name="form_assignments")
