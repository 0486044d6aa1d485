"""Access codes, the write side: enable, reset, redeem (docs/architecture.md section 3).

A student has at most one ACTIVE code. Every path that reads a code and
then writes because of it locks first (``resolvers.writes.lock_rows``), in
one order, students then codes: a reset racing a redemption either sees the
redemption's grant made while the code was still ACTIVE, or makes the
redemption see a RESET code and refuse. Never a grant made with a dead code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.events import Actor, Event, record
from resolvers.portal.codes import ALPHABET, LENGTH, new_code, normalise_code
from resolvers.scope import account_restricted_from
from resolvers.tables import (
    ACCESS_CODES,
    ACCOUNTS,
    GRANTS,
    SCHOOLS,
    STUDENTS,
    AccessAction,
    AccessCodeStatus,
    EnrolmentStatus,
    GrantSource,
)
from resolvers.writes import Refusal, lock_rows

# One answer for a mistyped, unknown, reset or otherwise unusable code: the
# person typing learns nothing about which (see docs/adr/0002).
INVALID_CODE = Refusal(
    "INVALID_CODE",
    "This code does not pair with any student. Check it, or ask the school for a new one.",
    ("input", "code"),
)
RELATIONSHIP_MAX = 64


@dataclass(frozen=True, slots=True)
class Redemption:
    grant: Row[Any] | None = None
    refusal: Refusal | None = None


async def lock_students(db: Db, student_ids: Sequence[int]) -> None:
    """Serialise writers per student: the first lock every code path takes."""
    await lock_rows(
        db, STUDENTS, STUDENTS.c.id.in_(list(student_ids)), touch=STUDENTS.c.status, fetch=False
    )


async def _active_codes(db: Db, student_ids: Sequence[int]) -> dict[int, Row[Any]]:
    rows = await db.all(
        sa.select(ACCESS_CODES).where(
            ACCESS_CODES.c.student_id.in_(list(student_ids)),
            ACCESS_CODES.c.status == AccessCodeStatus.ACTIVE,
        )
    )
    return {row.student_id: row for row in rows}


async def _issue(
    db: Db, actor: Actor, students: Sequence[Row[Any]], *, now: dt.datetime, action: AccessAction
) -> dict[int, Row[Any]]:
    """A new ACTIVE code for each student (one INSERT), audited."""
    if not students:
        return {}
    rows = await db.all(
        sa.insert(ACCESS_CODES)
        .values(
            [
                {
                    "district_id": s.district_id,
                    "student_id": s.id,
                    "code": new_code(),
                    "status": AccessCodeStatus.ACTIVE,
                    "created_at": now,
                    "created_by_staff_id": actor.staff_member_id,
                }
                for s in students
            ]
        )
        .returning(*ACCESS_CODES.c)
    )
    await record(
        db,
        actor,
        [
            Event(
                row.district_id, action, student_id=row.student_id, detail=f"access code {row.id}"
            )
            for row in rows
        ],
        at=now,
    )
    return {row.student_id: row for row in rows}


async def enable_portal_access(
    db: Db, actor: Actor, students: Sequence[Row[Any]], *, now: dt.datetime
) -> list[Row[Any]]:
    """Each student's ACTIVE code, in input order: made for students that
    lack one, the existing one for the rest. The caller holds the students'
    locks (``students_for_write(..., lock=True)``)."""
    ids = [s.id for s in students]
    codes = await _active_codes(db, ids)
    made = await _issue(
        db,
        actor,
        [s for s in students if s.id not in codes],
        now=now,
        action=AccessAction.ACCESS_CODE_ISSUED,
    )
    codes.update(made)
    return [codes[i] for i in ids]


async def replace_codes(
    db: Db, actor: Actor, students: Sequence[Row[Any]], *, now: dt.datetime
) -> list[Row[Any]]:
    """RESET the students' ACTIVE codes and issue new ones (the caller holds
    the students' locks). Grants made with the old codes are untouched."""
    ids = [s.id for s in students]
    old = await lock_rows(
        db,
        ACCESS_CODES,
        sa.and_(
            ACCESS_CODES.c.student_id.in_(ids), ACCESS_CODES.c.status == AccessCodeStatus.ACTIVE
        ),
        touch=ACCESS_CODES.c.status,
    )
    if old:
        await db.execute(
            sa.update(ACCESS_CODES)
            .where(ACCESS_CODES.c.id.in_([row.id for row in old]))
            .values(status=AccessCodeStatus.RESET, reset_at=now)
        )
        await record(
            db,
            actor,
            [
                Event(
                    row.district_id,
                    AccessAction.ACCESS_CODE_RESET,
                    student_id=row.student_id,
                    detail=f"access code {row.id}",
                )
                for row in old
            ],
            at=now,
        )
    made = await _issue(db, actor, students, now=now, action=AccessAction.ACCESS_CODE_ISSUED)
    return [made[i] for i in ids]


async def reset_access_codes(
    db: Db, actor: Actor, students: Sequence[Row[Any]], *, now: dt.datetime
) -> list[Row[Any]]:
    """A new ACTIVE code for each student, in input order; the old one
    becomes RESET and stops pairing anyone. The caller holds the students'
    locks (``students_for_write(..., lock=True)``)."""
    return await replace_codes(db, actor, students, now=now)


def _well_formed(code: str) -> bool:
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)


async def redeem_access_code(
    db: Db, viewer: Viewer, *, typed: str, relationship: str | None, now: dt.datetime
) -> Redemption:
    """Pair the viewer's account with the code's student.

    A code that is unknown, RESET, for a student who has left, or typed by a
    contact restricted from that student gets the same refusal. A second
    redemption of the same student returns the account's existing grant.
    """
    assert viewer.account_id is not None
    relationship = (relationship or "").strip() or None
    if relationship is not None and len(relationship) > RELATIONSHIP_MAX:
        return Redemption(
            refusal=Refusal(
                "TOO_LONG",
                f"The relationship may be at most {RELATIONSHIP_MAX} characters.",
                ("input", "relationship"),
            )
        )
    code = normalise_code(typed)
    if not _well_formed(code):
        return Redemption(refusal=INVALID_CODE)
    locked = await lock_rows(
        db, ACCESS_CODES, ACCESS_CODES.c.code == code, touch=ACCESS_CODES.c.status
    )
    if not locked or locked[0].status != AccessCodeStatus.ACTIVE:
        return Redemption(refusal=INVALID_CODE)
    access_code = locked[0]
    student = await db.first(
        sa.select(
            STUDENTS.c.id,
            STUDENTS.c.status,
            account_restricted_from(STUDENTS.c.id).label("restricted"),
        )
        .select_from(STUDENTS)
        .join(ACCOUNTS, ACCOUNTS.c.id == viewer.account_id)
        .where(STUDENTS.c.id == access_code.student_id)
    )
    if student is None or student.status != EnrolmentStatus.ENROLLED or student.restricted:
        return Redemption(refusal=INVALID_CODE)
    existing = await active_grant(db, account_id=viewer.account_id, student_id=student.id)
    if existing is not None:
        return Redemption(grant=existing)
    grant = await create_grant(
        db,
        Actor.of(viewer),
        district_id=access_code.district_id,
        account_id=viewer.account_id,
        student_id=student.id,
        source=GrantSource.ACCESS_CODE,
        relationship=relationship,
        access_code_id=access_code.id,
        now=now,
        extra_events=[
            Event(
                access_code.district_id,
                AccessAction.ACCESS_CODE_REDEEMED,
                student_id=student.id,
                detail=f"access code {access_code.id}",
            )
        ],
    )
    return Redemption(grant=grant)


async def account_is_restricted(db: Db, *, account_id: int, student_id: int) -> bool:
    """Whether the account's person is restricted from the student
    (``resolvers.scope.account_restricted_from``)."""
    found = await db.scalar(
        sa.select(account_restricted_from(student_id)).where(ACCOUNTS.c.id == account_id)
    )
    return bool(found)


async def active_grant(db: Db, *, account_id: int, student_id: int) -> Row[Any] | None:
    return await db.first(
        sa.select(GRANTS)
        .where(
            GRANTS.c.account_id == account_id,
            GRANTS.c.student_id == student_id,
            GRANTS.c.revoked_at.is_(None),
        )
        .order_by(GRANTS.c.granted_at, GRANTS.c.id)
        .limit(1)
    )


async def create_grant(
    db: Db,
    actor: Actor,
    *,
    district_id: int,
    account_id: int,
    student_id: int,
    source: str,
    relationship: str | None,
    now: dt.datetime,
    access_code_id: int | None = None,
    connection_request_id: int | None = None,
    extra_events: Sequence[Event] = (),
) -> Row[Any]:
    """One grant, audited with whatever else the caller's change records."""
    grant = await db.first(
        sa.insert(GRANTS)
        .values(
            district_id=district_id,
            account_id=account_id,
            student_id=student_id,
            source=source,
            relationship=relationship,
            access_code_id=access_code_id,
            connection_request_id=connection_request_id,
            granted_at=now,
        )
        .returning(*GRANTS.c)
    )
    assert grant is not None
    await record(
        db,
        actor,
        [
            *extra_events,
            Event(
                district_id,
                AccessAction.GRANT_CREATED,
                student_id=student_id,
                detail=f"grant {grant.id} ({source}) to account {account_id}",
            ),
        ],
        at=now,
    )
    return grant


async def login_instructions_facts(db: Db, access_code_id: int) -> Row[Any] | None:
    """What the printable instructions show: the code, its status, the
    student's and the school's names."""
    return await db.first(
        sa.select(
            ACCESS_CODES.c.code,
            ACCESS_CODES.c.status,
            STUDENTS.c.given_name,
            STUDENTS.c.family_name,
            SCHOOLS.c.name.label("school_name"),
        )
        .join(STUDENTS, STUDENTS.c.id == ACCESS_CODES.c.student_id)
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
        .where(ACCESS_CODES.c.id == access_code_id)
    )
