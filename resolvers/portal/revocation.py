"""The revoke view's write: end one account's access to chosen students.

Revoking acts only on students in the actor's scope (the caller resolved
them through scope; anything else was a NOT_FOUND refusal before this runs).
The account keeps its other students. When the account had paired with a
student's code and that code is still ACTIVE, the code is reset so that no
one else can use it (docs/architecture.md section 3), and the new code is returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from resolvers.db import Db
from resolvers.events import Actor, Event, record
from resolvers.portal.access_writes import replace_codes
from resolvers.tables import ACCESS_CODES, GRANTS, AccessAction, AccessCodeStatus, GrantSource
from resolvers.writes import Refusal

REVOKED_IN_VIEW = "Revoked by staff"


@dataclass(frozen=True, slots=True)
class Revocation:
    grants: list[Row[Any]] = field(default_factory=list)
    reset_codes: list[Row[Any]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def _portal_grants(account_id: int, student_ids: Sequence[int]) -> sa.ColumnElement[bool]:
    # A student's own login is governed by the school's login settings, not
    # by the revoke view, so STUDENT_LOGIN grants are not revoked here.
    return sa.and_(
        GRANTS.c.account_id == account_id,
        GRANTS.c.student_id.in_(list(student_ids)),
        GRANTS.c.revoked_at.is_(None),
        GRANTS.c.source != GrantSource.STUDENT_LOGIN,
    )


async def revoke_student_access(
    db: Db,
    actor: Actor,
    *,
    account_id: int,
    students: Sequence[Row[Any]],
    student_indexes: Sequence[int],
    now: dt.datetime,
) -> Revocation:
    """End the account's active grants to ``students``. All or nothing: a
    named student without an active grant is a refusal, and the caller then
    rolls back (the grants are ended and read back in one UPDATE … RETURNING,
    so the check costs no statement of its own). The caller holds the
    students' locks: it looked them up with ``students_for_write(...,
    lock=True)``, the first lock of every portal write path."""
    ids = [s.id for s in students]
    revoked = sorted(
        await db.all(
            sa.update(GRANTS)
            .where(_portal_grants(account_id, ids))
            .values(
                revoked_at=now,
                revoked_by_staff_id=actor.staff_member_id,
                revoke_reason=REVOKED_IN_VIEW,
            )
            .returning(*GRANTS.c)
        ),
        key=lambda g: (g.granted_at, g.id),
    )
    granted = {g.student_id for g in revoked}
    refusals = [
        Refusal(
            "NOT_FOUND",
            "This account has no active access to this student.",
            ("input", "studentIds", str(index)),
        )
        for student, index in zip(students, student_indexes, strict=True)
        if student.id not in granted
    ]
    if refusals:
        return Revocation(refusals=refusals)

    await record(
        db,
        actor,
        [
            Event(
                g.district_id,
                AccessAction.GRANT_REVOKED,
                student_id=g.student_id,
                detail=f"grant {g.id} of account {account_id}",
            )
            for g in revoked
        ],
        at=now,
    )
    # The codes this account paired with, where still the student's ACTIVE code.
    used_code_ids = sorted({g.access_code_id for g in revoked if g.access_code_id is not None})
    still_active = (
        {
            row.student_id
            for row in await db.all(
                sa.select(ACCESS_CODES.c.student_id).where(
                    ACCESS_CODES.c.id.in_(used_code_ids),
                    ACCESS_CODES.c.status == AccessCodeStatus.ACTIVE,
                )
            )
        }
        if used_code_ids
        else set()
    )
    reset = [s for s in students if s.id in still_active]
    new_codes = await replace_codes(db, actor, reset, now=now) if reset else []
    return Revocation(grants=revoked, reset_codes=new_codes)
