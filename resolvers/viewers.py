"""Who is asking: the session check and the scope, two statements a request.

``load_viewer`` runs one indexed lookup (session → account → linked staff
record) and one UNION ALL that gathers every fact the scope needs: role
grants, the students of the sections the linked staff member teaches, the
account's active grants and, for a student account, whether logins are on.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import sqlalchemy as sa

from permissions.roles import AccountKind, Role, StudentSection
from permissions.scope import RoleAt, Scope, StudentRef
from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.scope import account_restricted_from
from resolvers.tables import (
    ACCOUNTS,
    ENROLMENTS,
    GRANTS,
    ROLE_GRANTS,
    SCHOOLS,
    SECTION_TEACHERS,
    SECTIONS,
    SESSIONS,
    STAFF,
    STUDENTS,
    YEAR_GROUPS,
    EnrolmentStatus,
    GrantSource,
)

_INT_NULL = sa.cast(sa.null(), sa.Integer)
_TEXT_NULL = sa.cast(sa.null(), sa.String)


# The statements of every request are built once, with bind parameters:
# building a SQLAlchemy statement costs more than running it on SQLite, and
# these two run on every request (bench/RESULTS.md).
_SESSION_VIEWER = (
    sa.select(
        ACCOUNTS.c.id,
        ACCOUNTS.c.kind,
        ACCOUNTS.c.display_name,
        ACCOUNTS.c.staff_member_id,
        ACCOUNTS.c.guardian_id,
        ACCOUNTS.c.student_id,
        STAFF.c.active.label("staff_active"),
        STAFF.c.given_name.label("staff_given_name"),
        STAFF.c.family_name.label("staff_family_name"),
    )
    .select_from(SESSIONS)
    .join(ACCOUNTS, ACCOUNTS.c.id == SESSIONS.c.account_id)
    .outerjoin(STAFF, STAFF.c.id == ACCOUNTS.c.staff_member_id)
    .where(
        SESSIONS.c.id == sa.bindparam("session_id", type_=SESSIONS.c.id.type),
        SESSIONS.c.revoked_at.is_(None),
        SESSIONS.c.expires_at > sa.bindparam("now", type_=SESSIONS.c.expires_at.type),
        ACCOUNTS.c.revoked_at.is_(None),
    )
)


async def load_viewer(db: Db, *, session_id: str, now: dt.datetime) -> Viewer | None:
    """The viewer of a live session, or None when the session is not live
    (unknown, revoked, expired, or its account's credentials revoked)."""
    row = await db.first(_SESSION_VIEWER, {"session_id": session_id, "now": now})
    if row is None:
        return None
    kind = AccountKind(row.kind)
    scope = await load_scope(
        db,
        account_id=row.id,
        kind=kind,
        staff_member_id=row.staff_member_id,
        student_id=row.student_id,
    )
    return Viewer(
        account_id=row.id,
        kind=kind,
        session_id=session_id,
        display_name=row.display_name,
        staff_member_id=row.staff_member_id,
        staff_member_active=bool(row.staff_active),
        staff_member_name=(
            f"{row.staff_given_name} {row.staff_family_name}"
            if row.staff_member_id is not None and row.staff_given_name is not None
            else None
        ),
        guardian_id=row.guardian_id,
        student_id=row.student_id,
        scope=scope,
    )


async def load_scope(
    db: Db,
    *,
    account_id: int,
    kind: AccountKind,
    staff_member_id: int | None,
    student_id: int | None,
) -> Scope:
    # The student's own record: a school-made STUDENT account, or a personal
    # one that activated the student's own connection request.
    as_student = student_id is not None
    statement = _scope_statement(staff=staff_member_id is not None, student=as_student)
    parameters = {"account_id": account_id}
    if staff_member_id is not None:
        parameters["staff_member_id"] = staff_member_id
    if as_student and student_id is not None:
        parameters["student_id"] = student_id
    rows = await db.all(statement, parameters)

    roles: list[RoleAt] = []
    taught: list[tuple[int, int | None, int, int]] = []
    granted: list[StudentRef] = []
    self_student: StudentRef | None = None
    visible: frozenset[StudentSection] = frozenset()
    for row in rows:
        part, text, a, b, c, d = tuple(row)
        if part == "R":
            roles.append(RoleAt(role=Role(text), school_id=a, district_id=b))
        elif part == "T":
            taught.append((a, b, c, d))
        elif part == "G":
            granted.append(StudentRef(student_id=a, school_id=b, district_id=c))
        else:
            self_student = StudentRef(student_id=a, school_id=b, district_id=c)
            visible = frozenset(StudentSection(s) for s in (text or "").split())

    teacher_schools = {r.school_id for r in roles if r.role is Role.TEACHER and r.school_id}
    teacher_districts = {r.district_id for r in roles if r.role is Role.TEACHER and not r.school_id}
    sections: set[int] = set()
    students: set[int] = set()
    for section_id, enrolled_student, school_id, district_id in taught:
        if school_id in teacher_schools or district_id in teacher_districts:
            sections.add(section_id)
            if enrolled_student is not None:
                students.add(enrolled_student)
    return Scope(
        roles=tuple(
            sorted(set(roles), key=lambda r: (r.role.value, r.district_id, r.school_id or 0))
        ),
        teacher_section_ids=frozenset(sections),
        teacher_student_ids=frozenset(students),
        granted_students=tuple(sorted(set(granted), key=lambda s: s.student_id)),
        self_student=self_student,
        self_visible_sections=visible,
    )


_ACCOUNT_ID = sa.bindparam("account_id", type_=sa.Integer())
_STAFF_MEMBER_ID = sa.bindparam("staff_member_id", type_=sa.Integer())
_STUDENT_ID = sa.bindparam("student_id", type_=sa.Integer())


@functools.cache
def _scope_statement(*, staff: bool, student: bool) -> sa.CompoundSelect[Any]:
    """The one scope statement of a viewer of this shape (ids bound at run time)."""
    parts: list[sa.Select[Any]] = [_role_grants(staff=staff)]
    if staff:
        parts.append(_taught())
    parts.append(_granted())
    if student:
        parts.append(_self())
    return sa.union_all(*parts)


def _role_grants(*, staff: bool) -> sa.Select[Any]:
    # SIS roles reach an account through its staff record, while the SIS
    # keeps that record active; grantRole's roles belong to the account.
    holder = ROLE_GRANTS.c.account_id == _ACCOUNT_ID
    if staff:
        holder = sa.or_(
            holder, sa.and_(ROLE_GRANTS.c.staff_member_id == _STAFF_MEMBER_ID, STAFF.c.active)
        )
    return (
        sa.select(
            sa.literal("R").label("part"),
            ROLE_GRANTS.c.role.label("text"),
            ROLE_GRANTS.c.school_id.label("a"),
            ROLE_GRANTS.c.district_id.label("b"),
            _INT_NULL.label("c"),
            _INT_NULL.label("d"),
        )
        .select_from(ROLE_GRANTS)
        .outerjoin(STAFF, STAFF.c.id == ROLE_GRANTS.c.staff_member_id)
        .where(holder)
    )


def _taught() -> sa.Select[Any]:
    # Current enrolments only: an active enrolment of an enrolled student.
    return (
        sa.select(
            sa.literal("T"),
            _TEXT_NULL,
            SECTION_TEACHERS.c.section_id,
            STUDENTS.c.id,
            SECTIONS.c.school_id,
            SECTIONS.c.district_id,
        )
        .select_from(SECTION_TEACHERS)
        .join(SECTIONS, sa.and_(SECTIONS.c.id == SECTION_TEACHERS.c.section_id, SECTIONS.c.active))
        .outerjoin(
            ENROLMENTS,
            sa.and_(ENROLMENTS.c.section_id == SECTIONS.c.id, ENROLMENTS.c.active),
        )
        .outerjoin(
            STUDENTS,
            sa.and_(
                STUDENTS.c.id == ENROLMENTS.c.student_id,
                STUDENTS.c.status == EnrolmentStatus.ENROLLED,
            ),
        )
        .where(SECTION_TEACHERS.c.staff_member_id == _STAFF_MEMBER_ID)
    )


def _granted() -> sa.Select[Any]:
    # Access is derived from current data: only enrolled students, and never
    # a student this account's person is restricted from (through its
    # contact record or its verified email), whatever grant rows say.
    return (
        sa.select(
            sa.literal("G"),
            _TEXT_NULL,
            STUDENTS.c.id,
            STUDENTS.c.school_id,
            STUDENTS.c.district_id,
            _INT_NULL,
        )
        .select_from(GRANTS)
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
        .where(
            GRANTS.c.account_id == _ACCOUNT_ID,
            GRANTS.c.revoked_at.is_(None),
            GRANTS.c.source != GrantSource.STUDENT_LOGIN,
            STUDENTS.c.status == EnrolmentStatus.ENROLLED,
            sa.not_(account_restricted_from(STUDENTS.c.id, ACCOUNTS)),
            # One's own record is reached as oneself (``_self``), never
            # through the guardian row.
            ACCOUNTS.c.student_id.is_distinct_from(STUDENTS.c.id),
        )
    )


def _self() -> sa.Select[Any]:
    return (
        sa.select(
            sa.literal("S"),
            SCHOOLS.c.student_visible_sections,
            STUDENTS.c.id,
            STUDENTS.c.school_id,
            STUDENTS.c.district_id,
            _INT_NULL,
        )
        .select_from(STUDENTS)
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
        .join(YEAR_GROUPS, YEAR_GROUPS.c.id == STUDENTS.c.year_group_id)
        .where(
            STUDENTS.c.id == _STUDENT_ID,
            STUDENTS.c.status == EnrolmentStatus.ENROLLED,
            SCHOOLS.c.student_logins_enabled,
            YEAR_GROUPS.c.student_logins_enabled,
        )
    )
