"""Access codes and student access grants: the read side of portal access."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.roles import AccountKind
from permissions.viewer import Viewer
from resolvers.common import in_key_order
from resolvers.db import Db
from resolvers.portal.lifecycle import guardian_eligible
from resolvers.scope import capability_student_filter
from resolvers.tables import ACCESS_CODES, ACCOUNTS, GUARDIANS, STUDENTS, AccessCodeStatus


async def active_code_by_student_id(db: Db, student_ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(ACCESS_CODES)
        .where(
            ACCESS_CODES.c.student_id.in_(list(student_ids)),
            ACCESS_CODES.c.status == AccessCodeStatus.ACTIVE,
        )
        .order_by(ACCESS_CODES.c.created_at, ACCESS_CODES.c.id)
    )
    return in_key_order(student_ids, rows, lambda r: r.student_id)


async def codes_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(ACCESS_CODES)
        .join(STUDENTS, STUDENTS.c.id == ACCESS_CODES.c.student_id)
        # Found by id by those who may see the code on its student
        # (Student.portalAccess.accessCode): MANAGE_ACCESS_CODES, not the
        # whole revoke view (a teacher revokes grants, never sees codes).
        .where(
            ACCESS_CODES.c.id.in_(list(ids)),
            capability_student_filter(viewer.scope, Capability.MANAGE_ACCESS_CODES),
        )
    )
    return in_key_order(ids, rows, lambda r: r.id)


async def student_account_by_student_id(
    db: Db, student_ids: Sequence[int]
) -> list[Row[Any] | None]:
    """A student's own live account, if any."""
    rows = await db.all(
        sa.select(ACCOUNTS).where(
            ACCOUNTS.c.student_id.in_(list(student_ids)),
            ACCOUNTS.c.kind == AccountKind.STUDENT,
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
