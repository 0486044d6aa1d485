"""Student logins, the write side: a school's settings and the accounts they imply.

A student's own login is a STUDENT account (kind STUDENT, the student's id,
their synced email, their name) holding an active STUDENT_LOGIN grant to
themself. docs/architecture.md section 3: such a login exists exactly for ENROLLED students with a
synced email in an enabled year group of a school with logins on.
``reconcile_student_logins`` makes the data say so after anything that can
change the answer: the settings (``updateStudentLoginSettings``) and the SIS
sync (a student withdrawn, moved to another year group, their email removed).

Why it is written the way it is:
- Set-based statements (UPDATE/INSERT ... SELECT ... RETURNING), so the
  statement count is the same for one student or a whole year group and no
  list of student ids is ever sent back to the database.
- A login that ends has its grant revoked (kept, with a reason: grants are
  never deleted) and every session of its account ended in the same
  transaction, so the student's next request is refused (docs/architecture.md section 5).
- Turning a login back on reuses the student's live account and makes a new
  grant; the old grant stays revoked, so the bill (``resolvers.student_logins``)
  sees both spans. An account revoked by ``revokeAccounts`` has had its
  credentials removed; it is not revived: its grant ends and, while the
  student still qualifies, a new account is made.
- A student in an enabled year group without a synced email cannot get an
  account; they are reported (``students_without_email``), never skipped
  silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, FromClause

from permissions.capabilities import Capability
from permissions.roles import AccountKind, StudentSection
from permissions.viewer import Viewer
from resolvers import tables
from resolvers.db import Db
from resolvers.directory.schools import year_groups_by_school_id
from resolvers.events import SIS_SYNC, Actor, Event, record
from resolvers.scope import school_id_filter
from resolvers.tables import (
    ACCOUNTS,
    GRANTS,
    SCHOOLS,
    SESSIONS,
    STUDENTS,
    YEAR_GROUPS,
    AccessAction,
    EnrolmentStatus,
    GrantSource,
)
from resolvers.writes import Refusal, not_found, require

# Why a login ended: stored on the grant (revoke_reason) and in the audit trail.
NOT_ENROLLED = "The student is no longer enrolled."
SCHOOL_OFF = "Student logins are turned off for the school."
YEAR_GROUP_OFF = "Student logins are turned off for the student's year group."
NO_EMAIL = "The student has no synced email."
ACCOUNT_REVOKED = "The student's account was revoked."
SUPERSEDED = "Replaced by the student's current account."
SESSION_ENDED = "Student login ended"

_DISPLAY_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ReconcileOutcome:
    """What one reconciliation changed, by student id (in id order)."""

    enabled_student_ids: tuple[int, ...] = ()
    ended_student_ids: tuple[int, ...] = ()
    # In an enabled year group of an enabled school, enrolled, no synced email.
    students_without_email: tuple[int, ...] = ()
    accounts_created: int = 0
    sessions_ended: int = 0

    @property
    def logins_created(self) -> int:
        return len(self.enabled_student_ids)

    @property
    def logins_ended(self) -> int:
        return len(self.ended_student_ids)


# ---------------------------------------------------------------- settings


async def school_for_settings(
    db: Db, viewer: Viewer, school_id: int | None, *, field: tuple[str, ...]
) -> tuple[Row[Any] | None, list[Refusal]]:
    """The school, if a staff role of the viewer reaches it (a personal tie,
    a child at that school, is not a way in for a settings change), else
    NOT_FOUND; Forbidden without STUDENT_LOGIN_SETTINGS there."""
    school = None
    if school_id is not None:
        school = await db.first(
            sa.select(SCHOOLS).where(
                SCHOOLS.c.id == school_id,
                school_id_filter(
                    viewer.scope, SCHOOLS.c.id, SCHOOLS.c.district_id, staff_only=True
                ),
            )
        )
    if school is None:
        return None, [not_found("school", field)]
    held = viewer.scope.school_capabilities(school_id=school.id, district_id=school.district_id)
    require(
        Capability.STUDENT_LOGIN_SETTINGS in held,
        "Your role does not allow changing this school's student logins.",
    )
    return school, []


async def year_groups_of_school(
    db: Db, school: Row[Any], year_group_ids: Sequence[int | None], *, field: tuple[str, ...]
) -> tuple[frozenset[int], list[Refusal]]:
    """The year groups named, each of the school (else NOT_FOUND at its index)."""
    wanted = sorted({pk for pk in year_group_ids if pk is not None})
    rows = (
        await db.all(
            sa.select(YEAR_GROUPS.c.id).where(
                YEAR_GROUPS.c.district_id == school.district_id,
                YEAR_GROUPS.c.school_id == school.id,
                YEAR_GROUPS.c.id.in_(wanted),
            )
        )
        if wanted
        else []
    )
    found = frozenset(int(r.id) for r in rows)
    refusals = [
        not_found("year group", (*field, str(index)))
        for index, pk in enumerate(year_group_ids)
        if pk is None or pk not in found
    ]
    return found, refusals


def visible_sections_text(sections: Sequence[StudentSection]) -> str:
    """Stored space-separated, each once, in the enum's order."""
    chosen = set(sections)
    return " ".join(s.value for s in StudentSection if s in chosen)


async def save_settings(
    db: Db,
    *,
    school_id: int,
    district_id: int,
    enabled: bool,
    year_group_ids: frozenset[int],
    visible_sections: Sequence[StudentSection],
) -> None:
    """The school's flags, and every one of its year groups' (two statements)."""
    await db.execute(
        sa.update(SCHOOLS)
        .where(SCHOOLS.c.id == school_id, SCHOOLS.c.district_id == district_id)
        .values(
            student_logins_enabled=enabled,
            student_visible_sections=visible_sections_text(visible_sections),
        )
    )
    chosen = sorted(year_group_ids)
    await db.execute(
        sa.update(YEAR_GROUPS)
        .where(YEAR_GROUPS.c.school_id == school_id, YEAR_GROUPS.c.district_id == district_id)
        .values(student_logins_enabled=YEAR_GROUPS.c.id.in_(chosen) if chosen else sa.false())
    )


async def school_with_year_groups(db: Db, school_id: int) -> tuple[Row[Any], list[Row[Any]]]:
    """The school and its year groups, read again after a change (not through
    the request's loaders, whose cache may predate it)."""
    school = await db.first(sa.select(SCHOOLS).where(SCHOOLS.c.id == school_id))
    assert school is not None, "the caller found the school in this transaction"
    (year_groups,) = await year_groups_by_school_id(db, [school_id])
    return school, year_groups


# ---------------------------------------------------------------- reconciliation


@dataclass(frozen=True, slots=True)
class _Schools:
    """The schools being reconciled, and their districts (the tenant key
    every statement filters by)."""

    ids: tuple[int, ...]
    district_ids: tuple[int, ...]

    def of(self, students: FromClause) -> ColumnElement[bool]:
        """Students of these schools."""
        return sa.and_(
            students.c.district_id.in_(self.district_ids), students.c.school_id.in_(self.ids)
        )


async def _lock_schools(db: Db, school_ids: Sequence[int]) -> _Schools:
    """Lock the schools' rows until the transaction ends, so that two
    reconciliations of one school (a settings change racing a sync) run one
    after the other and never both make the same account. SQLite has one
    writer at a time anyway; FOR NO KEY UPDATE does not block inserts that
    reference a school."""
    rows = await db.all(
        sa.select(SCHOOLS.c.id, SCHOOLS.c.district_id)
        .where(SCHOOLS.c.id.in_(sorted(set(school_ids))))
        .order_by(SCHOOLS.c.id)
        .with_for_update(key_share=True)
    )
    return _Schools(
        ids=tuple(int(r.id) for r in rows),
        district_ids=tuple(sorted({int(r.district_id) for r in rows})),
    )


def _place(students: FromClause) -> tuple[FromClause, FromClause, FromClause]:
    """Aliases of the school and year group of ``students`` for a subquery."""
    school = SCHOOLS.alias()
    year_group = YEAR_GROUPS.alias()
    joined = students.join(school, school.c.id == students.c.school_id).outerjoin(
        year_group, year_group.c.id == students.c.year_group_id
    )
    return joined, school, year_group


def _has_email(students: FromClause) -> ColumnElement[bool]:
    return sa.and_(students.c.email.is_not(None), sa.func.trim(students.c.email) != "")


def _in_enabled_place(
    students: FromClause, school: FromClause, year_group: FromClause
) -> ColumnElement[bool]:
    return sa.and_(
        students.c.status == EnrolmentStatus.ENROLLED,
        school.c.student_logins_enabled.is_(True),
        year_group.c.student_logins_enabled.is_(True),
    )


def _qualifying_students(schools: _Schools) -> sa.Select[Any]:
    """Ids of the students of these schools who should have a login."""
    student = STUDENTS.alias()
    joined, school, year_group = _place(student)
    return (
        sa.select(student.c.id)
        .select_from(joined)
        .where(
            schools.of(student),
            _in_enabled_place(student, school, year_group),
            _has_email(student),
        )
    )


def _live_account_of(student_id: Any) -> sa.ScalarSelect[Any]:
    """The student's live account: the oldest STUDENT account not revoked."""
    account = ACCOUNTS.alias()
    return (
        sa.select(sa.func.min(account.c.id))
        .where(
            account.c.student_id == student_id,
            account.c.kind == AccountKind.STUDENT,
            account.c.revoked_at.is_(None),
        )
        .scalar_subquery()
    )


def _end_reason() -> sa.ScalarSelect[Any]:
    """Why a grant (the UPDATE's row) ends, from its student's current data."""
    student = STUDENTS.alias()
    joined, school, year_group = _place(student)
    account = ACCOUNTS.alias()
    account_revoked = sa.exists(
        sa.select(account.c.id).where(
            account.c.id == GRANTS.c.account_id, account.c.revoked_at.is_not(None)
        )
    )
    return (
        sa.select(
            sa.case(
                (student.c.status != EnrolmentStatus.ENROLLED, NOT_ENROLLED),
                (school.c.student_logins_enabled.is_not(True), SCHOOL_OFF),
                (year_group.c.student_logins_enabled.is_not(True), YEAR_GROUP_OFF),
                (sa.not_(_has_email(student)), NO_EMAIL),
                (account_revoked, ACCOUNT_REVOKED),
                else_=SUPERSEDED,
            )
        )
        .select_from(joined)
        .where(student.c.id == GRANTS.c.student_id)
        .scalar_subquery()
    )


async def _end_logins(db: Db, schools: _Schools, now: dt.datetime) -> Sequence[Row[Any]]:
    """Revoke every live STUDENT_LOGIN grant of these schools' students that
    should not be: the student no longer qualifies, or the grant is not held
    by the student's live account."""
    student = STUDENTS.alias()
    of_these_schools = sa.select(student.c.id).where(schools.of(student))
    should_not_be = sa.or_(
        GRANTS.c.student_id.not_in(_qualifying_students(schools)),
        GRANTS.c.account_id.is_distinct_from(_live_account_of(GRANTS.c.student_id)),
    )
    return await db.all(
        sa.update(GRANTS)
        .where(
            GRANTS.c.district_id.in_(schools.district_ids),
            GRANTS.c.source == GrantSource.STUDENT_LOGIN,
            GRANTS.c.revoked_at.is_(None),
            GRANTS.c.student_id.in_(of_these_schools),
            should_not_be,
        )
        .values(revoked_at=now, revoke_reason=_end_reason())
        .returning(
            GRANTS.c.student_id, GRANTS.c.account_id, GRANTS.c.district_id, GRANTS.c.revoke_reason
        )
    )


async def _end_sessions(db: Db, account_ids: Sequence[int], now: dt.datetime) -> int:
    if not account_ids:
        return 0
    result = await db.execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.account_id.in_(sorted(set(account_ids))), SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=SESSION_ENDED)
    )
    return int(result.rowcount or 0)


def _display_name(students: FromClause) -> ColumnElement[Any]:
    full = students.c.given_name + " " + students.c.family_name
    return sa.func.substr(full, 1, _DISPLAY_NAME_LENGTH)


async def _create_accounts(db: Db, schools: _Schools, now: dt.datetime) -> Sequence[Row[Any]]:
    """A STUDENT account for each qualifying student without a live one."""
    student = STUDENTS.alias()
    rows = (
        sa.select(
            sa.literal(AccountKind.STUDENT, sa.String),
            sa.func.trim(student.c.email),
            _display_name(student),
            sa.literal(now, tables.UTCDateTime()),
            student.c.id,
        )
        .where(
            student.c.id.in_(_qualifying_students(schools)),
            _live_account_of(student.c.id).is_(None),
        )
        .order_by(student.c.id)
    )
    return await db.all(
        sa.insert(ACCOUNTS)
        .from_select(["kind", "email", "display_name", "created_at", "student_id"], rows)
        .returning(ACCOUNTS.c.id, ACCOUNTS.c.student_id)
    )


async def _sync_account_details(db: Db, schools: _Schools) -> None:
    """Live accounts of qualifying students carry the synced email and name."""
    student = STUDENTS.alias()
    email = (
        sa.select(sa.func.trim(student.c.email))
        .where(student.c.id == ACCOUNTS.c.student_id)
        .scalar_subquery()
    )
    name = (
        sa.select(_display_name(student))
        .where(student.c.id == ACCOUNTS.c.student_id)
        .scalar_subquery()
    )
    await db.execute(
        sa.update(ACCOUNTS)
        .where(
            ACCOUNTS.c.kind == AccountKind.STUDENT,
            ACCOUNTS.c.revoked_at.is_(None),
            ACCOUNTS.c.student_id.in_(_qualifying_students(schools)),
            sa.or_(
                ACCOUNTS.c.email.is_distinct_from(email),
                ACCOUNTS.c.display_name.is_distinct_from(name),
            ),
        )
        .values(email=email, display_name=name)
    )


async def _grant_logins(db: Db, schools: _Schools, now: dt.datetime) -> Sequence[Row[Any]]:
    """A STUDENT_LOGIN grant to the live account of each qualifying student
    who has none."""
    student = STUDENTS.alias()
    account = ACCOUNTS.alias()
    grant = GRANTS.alias()
    live_grant = sa.exists(
        sa.select(grant.c.id).where(
            grant.c.student_id == student.c.id,
            grant.c.account_id == account.c.id,
            grant.c.source == GrantSource.STUDENT_LOGIN,
            grant.c.revoked_at.is_(None),
        )
    )
    rows = (
        sa.select(
            student.c.district_id,
            account.c.id,
            student.c.id,
            sa.literal(GrantSource.STUDENT_LOGIN, sa.String),
            sa.literal(now, tables.UTCDateTime()),
        )
        .select_from(student)
        .join(account, account.c.id == _live_account_of(student.c.id))
        .where(student.c.id.in_(_qualifying_students(schools)), sa.not_(live_grant))
        .order_by(student.c.id)
    )
    return await db.all(
        sa.insert(GRANTS)
        .from_select(["district_id", "account_id", "student_id", "source", "granted_at"], rows)
        .returning(GRANTS.c.student_id, GRANTS.c.district_id)
    )


async def _students_without_email(db: Db, schools: _Schools) -> tuple[int, ...]:
    student = STUDENTS.alias()
    joined, school, year_group = _place(student)
    rows = await db.all(
        sa.select(student.c.id)
        .select_from(joined)
        .where(
            schools.of(student),
            _in_enabled_place(student, school, year_group),
            sa.not_(_has_email(student)),
        )
        .order_by(student.c.family_name, student.c.given_name, student.c.id)
    )
    return tuple(int(r.id) for r in rows)


async def live_accounts_of_students(db: Db, student_ids: Sequence[int]) -> list[Row[Any]]:
    """The live STUDENT accounts of these students (for their welcome
    emails), in student order; one statement."""
    if not student_ids:
        return []
    return list(
        await db.all(
            sa.select(ACCOUNTS)
            .where(
                ACCOUNTS.c.kind == AccountKind.STUDENT,
                ACCOUNTS.c.revoked_at.is_(None),
                ACCOUNTS.c.student_id.in_(sorted(set(student_ids))),
            )
            .order_by(ACCOUNTS.c.student_id, ACCOUNTS.c.id)
        )
    )


async def reconcile_student_logins(
    db: Db, *, school_ids: Sequence[int], now: dt.datetime, actor: Actor = SIS_SYNC
) -> ReconcileOutcome:
    """Bring the student logins of these schools in line with their settings
    and the SIS data, in the caller's transaction (it does not commit).

    At most eight statements whatever the number of students: lock the
    schools, end grants, end their sessions, create accounts, refresh their
    email and name, make grants, list students without an email, and one
    INSERT of access events (STUDENT_LOGIN_ENABLED / STUDENT_LOGIN_ENDED per
    student, by ``actor``: the SIS sync unless a person acted).
    """
    if not school_ids:
        return ReconcileOutcome()
    schools = await _lock_schools(db, school_ids)
    if not schools.ids:
        return ReconcileOutcome()
    ended = await _end_logins(db, schools, now)
    sessions_ended = await _end_sessions(db, [int(r.account_id) for r in ended], now)
    created = await _create_accounts(db, schools, now)
    await _sync_account_details(db, schools)
    granted = await _grant_logins(db, schools, now)
    without_email = await _students_without_email(db, schools)

    events: list[Event] = []
    ended_students: dict[int, Row[Any]] = {}
    for row in ended:
        ended_students.setdefault(int(row.student_id), row)
    for student_id, row in sorted(ended_students.items()):
        events.append(
            Event(
                district_id=row.district_id,
                action=AccessAction.STUDENT_LOGIN_ENDED,
                student_id=student_id,
                detail=row.revoke_reason,
            )
        )
    enabled = sorted({int(r.student_id): int(r.district_id) for r in granted}.items())
    events.extend(
        Event(
            district_id=district_id,
            action=AccessAction.STUDENT_LOGIN_ENABLED,
            student_id=student_id,
        )
        for student_id, district_id in enabled
    )
    await record(db, actor, events, at=now)
    return ReconcileOutcome(
        enabled_student_ids=tuple(student_id for student_id, _ in enabled),
        ended_student_ids=tuple(sorted(ended_students)),
        students_without_email=without_email,
        accounts_created=len(created),
        sessions_ended=sessions_ended,
    )
