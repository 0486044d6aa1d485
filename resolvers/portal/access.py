"""Access codes and student access grants: the read side of portal access."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers import tables
from resolvers.common import in_key_order
from resolvers.db import Db
from resolvers.portal.lifecycle import guardian_eligible
from resolvers.scope import student_filter

CODES = tables.AccessCode.__table__
STUDENTS = tables.Student.__table__
ACCOUNTS = tables.Account.__table__
GUARDIANS = tables.Guardian.__table__


async def active_code_by_student_id(db: Db, student_ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(CODES)
        .where(CODES.c.student_id.in_(list(student_ids)), CODES.c.status == "ACTIVE")
        .order_by(CODES.c.created_at, CODES.c.id)
    )
    return in_key_order(student_ids, rows, lambda r: r.student_id)


async def codes_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(CODES)
        .join(STUDENTS, STUDENTS.c.id == CODES.c.student_id)
        .where(CODES.c.id.in_(list(ids)), student_filter(viewer.scope))
    )
    return in_key_order(ids, rows, lambda r: r.id)


async def student_account_by_student_id(
    db: Db, student_ids: Sequence[int]
) -> list[Row[Any] | None]:
    """A student's own live account, if any."""
    rows = await db.all(
        sa.select(ACCOUNTS).where(
            ACCOUNTS.c.student_id.in_(list(student_ids)),
            ACCOUNTS.c.kind == "STUDENT",
            ACCOUNTS.c.revoked_at.is_(None),
        )
    )
    return in_key_order(student_ids, rows, lambda r: r.student_id)


async def eligible_by_guardian_id(db: Db, guardian_ids: Sequence[int]) -> list[bool]:
    rows = await db.all(
        sa.select(GUARDIANS.c.id).where(
            GUARDIANS.c.id.in_(list(guardian_ids)), guardian_eligible(GUARDIANS)
        )
    )
    eligible = {row.id for row in rows}
    return [g in eligible for g in guardian_ids]
