"""P2, the usual way: a strawberry server written as most tutorials write one.

Over the same tables and the same visibility rules as the server, but:
- strawberry's ASGI view and default JSON, no parser or validation cache;
- a permission class (``strawberry.BasePermission``) on every field, and the
  restricted fields decide with queries of their own;
- the ORM (SQLModel ``session.get`` / ``session.exec``), one row at a time:
  each nested object is fetched by its parent's resolver (N+1), nothing is
  batched, nothing is cached beyond the session's identity map;
- one ``AsyncSession`` per request behind a lock, because strawberry resolves
  sibling fields concurrently and a session must not be shared unguarded.

It answers W0-W4 with the same bytes as the server (checked before every
measurement); it is not a second implementation of the whole contract.
"""

# strawberry's field decorators are untyped; the repository relaxes the same
# check for its own schema package (pyproject.toml, [[tool.mypy.overrides]]).
# mypy: disallow-untyped-decorators=False

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, TypeVar

import sqlalchemy as sa
import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission

from bench.peer_p0 import LINK_ORDER, link_cursors
from gql.auth.tokens import InvalidToken, TokenSigner
from resolvers import tables as t
from resolvers.db import create_engine
from resolvers.pagination import Cursors

T = TypeVar("T")
UTC = dt.UTC

SCHOOL_WIDE = frozenset(
    {
        "DISTRICT_ADMIN",
        "SCHOOL_ADMIN",
        "ENROLMENT_MANAGER",
        "SUPPORT_STAFF",
        "SECURITY_CONTACT",
    }
)
PORTAL_VIEW = frozenset(
    {"DISTRICT_ADMIN", "SCHOOL_ADMIN", "ENROLMENT_MANAGER", "TEACHER", "SECURITY_CONTACT"}
)
REVOKE_GRANT = frozenset({"DISTRICT_ADMIN", "SCHOOL_ADMIN", "ENROLMENT_MANAGER", "TEACHER"})
HOMEWORK_AND_TIMETABLE = frozenset(
    {
        "DISTRICT_ADMIN",
        "SCHOOL_ADMIN",
        "ENROLMENT_MANAGER",
        "TEACHER",
        "SUPPORT_STAFF",
        "GUARDIAN",
    }
)


# ---------------------------------------------------------------- context


@dataclass
class SignedInViewer:
    account: t.Account
    staff: t.StaffMember | None
    roles: list[t.RoleGrant]

    @property
    def can_record_data(self) -> bool:
        return self.account.kind == "STAFF" and self.staff is not None and self.staff.active


@dataclass
class P2Context:
    session: AsyncSession
    viewer: SignedInViewer | None
    now: dt.datetime
    link_cursors: Cursors
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Restricted reads of students, written as access events at the end.
    reads: dict[tuple[int, int], set[str]] = field(default_factory=dict)

    async def get(self, model: type[T], pk: Any) -> T | None:
        async with self.lock:
            return await self.session.get(model, pk)

    async def all(self, statement: Any) -> list[Any]:
        async with self.lock:
            return list((await self.session.exec(statement)).all())

    async def one(self, statement: Any) -> Any:
        async with self.lock:
            return (await self.session.exec(statement)).one()


Info = strawberry.Info[P2Context, None]


def viewer_of(info: Info) -> SignedInViewer:
    viewer = info.context.viewer
    assert viewer is not None, "IsAuthenticated guards every field that gets here"
    return viewer


# ---------------------------------------------------------------- visibility


async def relations_to_student(context: P2Context, student: t.Student) -> set[str]:
    """Every way the viewer reaches the student, asked of the database."""
    viewer = context.viewer
    if viewer is None:
        return set()
    relations: set[str] = set()
    for grant in viewer.roles:
        at_school = grant.school_id == student.school_id or (
            grant.school_id is None and grant.district_id == student.district_id
        )
        if not at_school:
            continue
        if grant.role in SCHOOL_WIDE:
            relations.add(grant.role)
        elif (
            grant.role == "TEACHER" and viewer.staff is not None and await teaches(context, student)
        ):
            relations.add("TEACHER")
    if await holds_grant(context, student):
        relations.add("GUARDIAN")
    return relations


async def teaches(context: P2Context, student: t.Student) -> bool:
    viewer = context.viewer
    assert viewer is not None
    assert viewer.staff is not None
    if student.status != "ENROLLED":
        return False
    enrolments = await context.all(
        select(t.SectionEnrolment).where(
            t.SectionEnrolment.student_id == student.id, col(t.SectionEnrolment.active).is_(True)
        )
    )
    for enrolment in enrolments:
        section = await context.get(t.Section, enrolment.section_id)
        if section is None or not section.active:
            continue
        taught = await context.get(t.SectionTeacher, (section.id, viewer.staff.id))
        if taught is not None:
            return True
    return False


async def holds_grant(context: P2Context, student: t.Student) -> bool:
    viewer = context.viewer
    assert viewer is not None
    if student.status != "ENROLLED":
        return False
    grants = await context.all(
        select(t.StudentAccessGrant).where(
            t.StudentAccessGrant.account_id == viewer.account.id,
            t.StudentAccessGrant.student_id == student.id,
            col(t.StudentAccessGrant.revoked_at).is_(None),
            t.StudentAccessGrant.source != "STUDENT_LOGIN",
        )
    )
    if not grants:
        return False
    if viewer.account.guardian_id is None:
        return True
    contact = await context.all(
        select(t.StudentContact).where(
            t.StudentContact.student_id == student.id,
            t.StudentContact.guardian_id == viewer.account.guardian_id,
            col(t.StudentContact.restricted).is_(True),
        )
    )
    return not contact


# ---------------------------------------------------------------- permissions


class IsAuthenticated(BasePermission):
    message = "You must be signed in."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.viewer is not None


class Public(BasePermission):
    """Still a permission class: every field has one."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


class _StudentCapability(BasePermission):
    relations: ClassVar[frozenset[str]] = frozenset()
    what = ""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        student = source.row
        if not (await relations_to_student(info.context, student)) & self.relations:
            return False
        info.context.reads.setdefault((student.id, student.district_id), set()).add(self.what)
        return True


class CanSeeHomework(_StudentCapability):
    message = "Your role does not allow seeing a student's homework."
    relations = HOMEWORK_AND_TIMETABLE
    what = "homework"


class CanSeeTimetable(_StudentCapability):
    message = "Your role does not allow seeing a student's timetable."
    relations = HOMEWORK_AND_TIMETABLE
    what = "timetable"


class CanSeePortalAccess(_StudentCapability):
    message = "Your role does not allow seeing a student's portal access."
    relations = PORTAL_VIEW
    what = "portalAccess"


class CanSeeAccountEmail(BasePermission):
    message = "Your role does not allow seeing an account's email."

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        account: t.Account = source.row
        context = info.context
        if viewer_of(info).account.id == account.id:
            return True
        grants = await context.all(
            select(t.StudentAccessGrant).where(t.StudentAccessGrant.account_id == account.id)
        )
        for grant in grants:
            student = await context.get(t.Student, grant.student_id)
            if student is not None and (await relations_to_student(context, student)) & PORTAL_VIEW:
                return True
        return False


class CanSeeCrossSchoolLinks(BasePermission):
    message = "Your role does not allow seeing cross-school links of a district."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return any(
            g.role == "DISTRICT_ADMIN" and g.school_id is None and g.district_id == source.row.id
            for g in viewer_of(info).roles
        )


AUTHENTICATED: list[type[BasePermission]] = [IsAuthenticated]


def _global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{pk}".encode()).decode())


def _pk(global_id: str, type_name: str) -> int | None:
    try:
        name, _, pk = base64.b64decode(global_id, validate=True).decode().partition(":")
    except ValueError:
        return None
    return int(pk) if name == type_name and pk.isdigit() else None


def _after(info: Info, cursor: str | None) -> tuple[Any, ...] | None:
    """The account id after which a page of cross-school links starts: the
    server's signed cursors (resolvers/pagination.py), the same bytes."""
    if cursor is None:
        return None
    return info.context.link_cursors.decode(cursor, LINK_ORDER)


# ---------------------------------------------------------------- types


@strawberry.enum
class GrantSource(enum.Enum):
    ACCESS_CODE = "ACCESS_CODE"
    CONNECTION_REQUEST = "CONNECTION_REQUEST"
    SIS_SYNC = "SIS_SYNC"
    STUDENT_LOGIN = "STUDENT_LOGIN"


@strawberry.enum
class AccessCodeStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    RESET = "RESET"


@strawberry.interface
class Node:
    @strawberry.field(permission_classes=AUTHENTICATED)
    def id(self) -> strawberry.ID:
        raise NotImplementedError  # every node type resolves its own


@strawberry.type
class School:
    row: strawberry.Private[t.School]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def name(self) -> str:
        return self.row.name


@strawberry.type
class TimetableEntry:
    row: strawberry.Private[t.TimetableEntry]
    section: strawberry.Private[t.Section]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def date(self) -> dt.date:
        return self.row.date

    @strawberry.field(permission_classes=AUTHENTICATED)
    def period(self) -> str:
        return self.row.period

    @strawberry.field(permission_classes=AUTHENTICATED)
    def section_name(self) -> str:
        return self.section.name

    @strawberry.field(permission_classes=AUTHENTICATED)
    def room(self) -> str | None:
        return self.row.room


@strawberry.type
class Homework:
    row: strawberry.Private[t.Homework]
    section: strawberry.Private[t.Section]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def title(self) -> str:
        return self.row.title

    @strawberry.field(permission_classes=AUTHENTICATED)
    def due_on(self) -> dt.date:
        return self.row.due_on

    @strawberry.field(permission_classes=AUTHENTICATED)
    def section_name(self) -> str:
        return self.section.name


@strawberry.type
class HomeworkEdge:
    node: Homework = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class HomeworkConnection:
    edges: list[HomeworkEdge] = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class Student(Node):
    row: strawberry.Private[t.Student]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def id(self) -> strawberry.ID:
        return _global_id("Student", self.row.id or 0)

    @strawberry.field(permission_classes=AUTHENTICATED)
    def display_name(self) -> str:
        return f"{self.row.given_name} {self.row.family_name}"

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def school(self, info: Info) -> School:
        school = await info.context.get(t.School, self.row.school_id)
        assert school is not None
        return School(row=school)

    @strawberry.field(permission_classes=[IsAuthenticated, CanSeeTimetable])
    async def timetable(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
    ) -> list[TimetableEntry] | None:
        context = info.context
        entries: list[TimetableEntry] = []
        for enrolment in await _current_enrolments(context, self.row.id or 0):
            section = await context.get(t.Section, enrolment.section_id)
            assert section is not None
            lessons = await context.all(
                select(t.TimetableEntry).where(
                    t.TimetableEntry.section_id == enrolment.section_id,
                    t.TimetableEntry.date >= from_,
                    t.TimetableEntry.date <= to,
                )
            )
            entries += [TimetableEntry(row=lesson, section=section) for lesson in lessons]
        return sorted(entries, key=lambda e: (e.row.date, e.row.period, e.row.id or 0))

    @strawberry.field(permission_classes=[IsAuthenticated, CanSeeHomework])
    async def homework(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> HomeworkConnection | None:
        context = info.context
        items: list[Homework] = []
        for enrolment in await _current_enrolments(context, self.row.id or 0):
            section = await context.get(t.Section, enrolment.section_id)
            assert section is not None
            rows = await context.all(
                select(t.Homework).where(t.Homework.section_id == enrolment.section_id)
            )
            items += [Homework(row=row, section=section) for row in rows]
        items.sort(key=lambda h: (h.row.due_on, h.row.id or 0))
        return HomeworkConnection(edges=[HomeworkEdge(node=h) for h in items[: first or 20]])

    @strawberry.field(permission_classes=[IsAuthenticated, CanSeePortalAccess])
    def portal_access(self) -> StudentPortalAccess | None:
        return StudentPortalAccess(student=self.row)


async def _current_enrolments(context: P2Context, student_id: int) -> list[t.SectionEnrolment]:
    return await context.all(
        select(t.SectionEnrolment).where(
            t.SectionEnrolment.student_id == student_id, col(t.SectionEnrolment.active).is_(True)
        )
    )


@strawberry.type
class StudentEdge:
    node: Student = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class StudentConnection:
    edges: list[StudentEdge] = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class Account(Node):
    row: strawberry.Private[t.Account]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def id(self) -> strawberry.ID:
        return _global_id("Account", self.row.id or 0)

    @strawberry.field(permission_classes=AUTHENTICATED)
    def display_name(self) -> str:
        return self.row.display_name

    @strawberry.field(permission_classes=[IsAuthenticated, CanSeeAccountEmail])
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def grants(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> StudentAccessGrantConnection:
        """Active grants, cut to the viewer's scope one student at a time."""
        context = info.context
        grants = await context.all(
            select(t.StudentAccessGrant)
            .where(
                t.StudentAccessGrant.account_id == self.row.id,
                col(t.StudentAccessGrant.revoked_at).is_(None),
            )
            .order_by(col(t.StudentAccessGrant.granted_at), col(t.StudentAccessGrant.id))
        )
        visible = []
        for grant in grants:
            student = await context.get(t.Student, grant.student_id)
            if student is not None and await relations_to_student(context, student):
                visible.append(StudentAccessGrantEdge(node=StudentAccessGrant(row=grant)))
            if len(visible) == (first or 20):
                break
        return StudentAccessGrantConnection(edges=visible)


@strawberry.type
class StudentAccessGrant(Node):
    row: strawberry.Private[t.StudentAccessGrant]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def id(self) -> strawberry.ID:
        return _global_id("StudentAccessGrant", self.row.id or 0)

    @strawberry.field(permission_classes=AUTHENTICATED)
    def granted_at(self) -> dt.datetime:
        return self.row.granted_at

    @strawberry.field(permission_classes=AUTHENTICATED)
    def source(self) -> GrantSource:
        return GrantSource(self.row.source)

    @strawberry.field(permission_classes=AUTHENTICATED)
    def relationship(self) -> str | None:
        return self.row.relationship

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def account(self, info: Info) -> Account:
        account = await info.context.get(t.Account, self.row.account_id)
        assert account is not None
        return Account(row=account)

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def student(self, info: Info) -> Student:
        student = await info.context.get(t.Student, self.row.student_id)
        assert student is not None
        return Student(row=student)


@strawberry.type
class StudentAccessGrantEdge:
    node: StudentAccessGrant = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class StudentAccessGrantConnection:
    edges: list[StudentAccessGrantEdge] = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class StudentPortalAccess:
    student: strawberry.Private[t.Student]

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def grants(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        include_revoked: bool | None = False,
    ) -> StudentAccessGrantConnection:
        query = select(t.StudentAccessGrant).where(
            t.StudentAccessGrant.student_id == self.student.id
        )
        if not include_revoked:
            query = query.where(col(t.StudentAccessGrant.revoked_at).is_(None))
        grants = await info.context.all(
            query.order_by(
                col(t.StudentAccessGrant.granted_at), col(t.StudentAccessGrant.id)
            ).limit(first or 20)
        )
        return StudentAccessGrantConnection(
            edges=[StudentAccessGrantEdge(node=StudentAccessGrant(row=g)) for g in grants]
        )


@strawberry.type
class CrossSchoolLink:
    account_id: strawberry.Private[int]
    district_id: strawberry.Private[int]

    async def _students(self, info: Info) -> list[t.Student]:
        context = info.context
        grants = await context.all(
            select(t.StudentAccessGrant).where(
                t.StudentAccessGrant.account_id == self.account_id,
                t.StudentAccessGrant.district_id == self.district_id,
                col(t.StudentAccessGrant.revoked_at).is_(None),
            )
        )
        students: dict[int, t.Student] = {}
        for grant in grants:
            student = await context.get(t.Student, grant.student_id)
            if (
                student is not None
                and student.status == "ENROLLED"
                and student.district_id == self.district_id
                and await relations_to_student(context, student)
            ):
                students[student.id or 0] = student
        return sorted(students.values(), key=lambda s: (s.family_name, s.given_name, s.id or 0))

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def account(self, info: Info) -> Account:
        account = await info.context.get(t.Account, self.account_id)
        assert account is not None
        return Account(row=account)

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def schools(self, info: Info) -> list[School]:
        schools: dict[int, t.School] = {}
        for student in await self._students(info):
            school = await info.context.get(t.School, student.school_id)
            assert school is not None
            schools[school.id or 0] = school
        return [School(row=s) for s in sorted(schools.values(), key=lambda s: (s.name, s.id or 0))]

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def students(self, info: Info) -> list[Student]:
        return [Student(row=s) for s in await self._students(info)]


@strawberry.type
class CrossSchoolLinkEdge:
    node: CrossSchoolLink = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class CrossSchoolLinkConnection:
    total_count: int = strawberry.field(permission_classes=AUTHENTICATED)
    edges: list[CrossSchoolLinkEdge] = strawberry.field(permission_classes=AUTHENTICATED)


def _linked_accounts(district_id: int) -> Any:
    grant, student = t.StudentAccessGrant, t.Student
    return (
        select(grant.account_id)
        .join(student, col(student.id) == grant.student_id)
        .where(
            grant.district_id == district_id,
            student.district_id == district_id,
            col(grant.revoked_at).is_(None),
            student.status == "ENROLLED",
        )
        .group_by(col(grant.account_id))
        .having(sa.func.count(sa.distinct(col(student.school_id))) >= 2)
    )


@strawberry.type
class District(Node):
    row: strawberry.Private[t.District]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def id(self) -> strawberry.ID:
        return _global_id("District", self.row.id or 0)

    @strawberry.field(permission_classes=AUTHENTICATED)
    def name(self) -> str:
        return self.row.name

    @strawberry.field(permission_classes=[IsAuthenticated, CanSeeCrossSchoolLinks])
    async def cross_school_links(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> CrossSchoolLinkConnection | None:
        # The field is for district admins, whose scope is the whole district.
        district_id = self.row.id or 0
        query = _linked_accounts(district_id)
        total = await info.context.one(select(sa.func.count()).select_from(query.subquery()))
        position = _after(info, after)
        if position is not None:
            query = query.where(t.StudentAccessGrant.account_id > position[0])
        account_ids = await info.context.all(
            query.order_by(col(t.StudentAccessGrant.account_id)).limit(first or 20)
        )
        return CrossSchoolLinkConnection(
            total_count=int(total),
            edges=[
                CrossSchoolLinkEdge(node=CrossSchoolLink(account_id=a, district_id=district_id))
                for a in account_ids
            ],
        )


@strawberry.type
class Viewer:
    @strawberry.field(permission_classes=[Public])
    def is_authenticated(self, info: Info) -> bool:
        return info.context.viewer is not None

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def students(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> StudentConnection:
        """Students in scope: by role with a query, by grant one at a time."""
        context = info.context
        viewer = viewer_of(info)
        found: dict[int, t.Student] = {}
        districts = [
            g.district_id for g in viewer.roles if g.role in SCHOOL_WIDE and g.school_id is None
        ]
        schools = [
            g.school_id for g in viewer.roles if g.role in SCHOOL_WIDE and g.school_id is not None
        ]
        if districts or schools:
            by_role = await context.all(
                select(t.Student)
                .where(
                    sa.or_(
                        col(t.Student.district_id).in_(districts),
                        col(t.Student.school_id).in_(schools),
                    )
                )
                .order_by(col(t.Student.family_name), col(t.Student.given_name), col(t.Student.id))
                .limit(first or 20)
            )
            found.update({s.id: s for s in by_role})
        grants = await context.all(
            select(t.StudentAccessGrant).where(
                t.StudentAccessGrant.account_id == viewer.account.id,
                col(t.StudentAccessGrant.revoked_at).is_(None),
                t.StudentAccessGrant.source != "STUDENT_LOGIN",
            )
        )
        for grant in grants:
            student = await context.get(t.Student, grant.student_id)
            if student is not None and await holds_grant(context, student):
                found[student.id or 0] = student
        ordered = sorted(found.values(), key=lambda s: (s.family_name, s.given_name, s.id or 0))
        return StudentConnection(
            edges=[StudentEdge(node=Student(row=s)) for s in ordered[: first or 20]]
        )


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Public])
    def viewer(self) -> Viewer:
        return Viewer()

    @strawberry.field(permission_classes=AUTHENTICATED)
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        context = info.context
        student_pk = _pk(id, "Student")
        if student_pk is not None:
            student = await context.get(t.Student, student_pk)
            if student is None or not await relations_to_student(context, student):
                return None
            return Student(row=student)
        district_pk = _pk(id, "District")
        if district_pk is not None:
            district = await context.get(t.District, district_pk)
            if district is None:
                return None
            if not any(g.district_id == district.id for g in viewer_of(info).roles):
                return None
            return District(row=district)
        return None


# ---------------------------------------------------------------- the mutation


@strawberry.input
class RevokeStudentAccessInput:
    account_id: strawberry.ID
    student_ids: list[strawberry.ID]


@strawberry.type
class AccessCode:
    row: strawberry.Private[t.AccessCode]

    @strawberry.field(permission_classes=AUTHENTICATED)
    def status(self) -> AccessCodeStatus:
        return AccessCodeStatus(self.row.status)


@strawberry.type
class UserError:
    code: str = strawberry.field(permission_classes=AUTHENTICATED)
    message: str = strawberry.field(permission_classes=AUTHENTICATED)
    field: list[str] | None = strawberry.field(permission_classes=AUTHENTICATED)


@strawberry.type
class RevokeStudentAccessPayload:
    revoked_grants: list[StudentAccessGrant] = strawberry.field(permission_classes=AUTHENTICATED)
    reset_access_codes: list[AccessCode] = strawberry.field(permission_classes=AUTHENTICATED)
    user_errors: list[UserError] = strawberry.field(permission_classes=AUTHENTICATED)


class CanRevoke(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        return (
            viewer is not None
            and viewer.can_record_data
            and any(g.role in REVOKE_GRANT for g in viewer.roles)
        )


def _refused(message: str, *path: str) -> RevokeStudentAccessPayload:
    return RevokeStudentAccessPayload(
        revoked_grants=[],
        reset_access_codes=[],
        user_errors=[UserError(code="NOT_FOUND", message=message, field=list(path))],
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated, CanRevoke])
    async def revoke_student_access(
        self, info: Info, input: RevokeStudentAccessInput
    ) -> RevokeStudentAccessPayload:
        context = info.context
        viewer = viewer_of(info)
        account_pk = _pk(input.account_id, "Account")
        account = await context.get(t.Account, account_pk) if account_pk is not None else None
        # The account is in scope when it holds a grant to a student in scope.
        in_scope = False
        if account is not None:
            for grant in await context.all(
                select(t.StudentAccessGrant).where(t.StudentAccessGrant.account_id == account.id)
            ):
                student = await context.get(t.Student, grant.student_id)
                if student is not None and await relations_to_student(context, student):
                    in_scope = True
                    break
        if account is None or not in_scope:
            return _refused("No account with this id.", "input", "accountId")
        students: list[t.Student] = []
        for index, global_id in enumerate(input.student_ids):
            pk = _pk(global_id, "Student")
            student = await context.get(t.Student, pk) if pk is not None else None
            if student is None or not (await relations_to_student(context, student)) & REVOKE_GRANT:
                return _refused("No student with this id.", "input", "studentIds", str(index))
            students.append(student)
        grants = await context.all(
            select(t.StudentAccessGrant)
            .where(
                t.StudentAccessGrant.account_id == account.id,
                col(t.StudentAccessGrant.student_id).in_([s.id for s in students]),
                col(t.StudentAccessGrant.revoked_at).is_(None),
                t.StudentAccessGrant.source != "STUDENT_LOGIN",
            )
            .order_by(col(t.StudentAccessGrant.granted_at), col(t.StudentAccessGrant.id))
        )
        if {g.student_id for g in grants} != {s.id for s in students}:
            return _refused(
                "This account has no active access to this student.", "input", "studentIds"
            )
        staff_id = viewer.staff.id if viewer.staff is not None else None
        async with context.lock:
            for grant in grants:
                if grant.access_code_id is not None:
                    raise NotImplementedError("the bench pool's grants were not paired with codes")
                grant.revoked_at = context.now
                grant.revoked_by_staff_id = staff_id
                grant.revoke_reason = "Revoked by staff"
                context.session.add(grant)
                context.session.add(
                    t.AccessEvent(
                        district_id=grant.district_id,
                        student_id=grant.student_id,
                        at=context.now,
                        actor_account_id=viewer.account.id,
                        actor_staff_id=staff_id,
                        actor_kind=viewer.account.kind,
                        actor_name=viewer.account.display_name,
                        action="GRANT_REVOKED",
                        detail=f"grant {grant.id} of account {account.id}",
                    )
                )
            await context.session.commit()
        return RevokeStudentAccessPayload(
            revoked_grants=[StudentAccessGrant(row=g) for g in grants],
            reset_access_codes=[],
            user_errors=[],
        )


# ---------------------------------------------------------------- the app


class WriteReads(SchemaExtension):
    """After the operation: the read log as access events, then commit."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        assert isinstance(context, P2Context)
        viewer = context.viewer
        if viewer is not None and context.reads:
            async with context.lock:
                for (student_id, district_id), names in sorted(context.reads.items()):
                    context.session.add(
                        t.AccessEvent(
                            district_id=district_id,
                            student_id=student_id,
                            at=context.now,
                            actor_account_id=viewer.account.id,
                            actor_staff_id=viewer.staff.id
                            if viewer.can_record_data and viewer.staff
                            else None,
                            actor_kind=viewer.account.kind,
                            actor_name=viewer.account.display_name,
                            action="STUDENT_PROFILE",
                            detail="read " + ", ".join(sorted(names)),
                        )
                    )
                await context.session.commit()
        await context.session.close()


schema = strawberry.Schema(
    query=Query, mutation=Mutation, types=[Student, District], extensions=[WriteReads]
)


class View(GraphQL[P2Context, None]):
    def __init__(
        self, engine_holder: dict[str, AsyncEngine], signer: TokenSigner, cursor_key: bytes
    ) -> None:
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=False)
        self.engine_holder = engine_holder
        self.signer = signer
        self.link_cursors = link_cursors(cursor_key)

    async def get_context(self, request: Request | WebSocket, response: Any) -> P2Context:
        session = AsyncSession(self.engine_holder["engine"], expire_on_commit=False)
        now = dt.datetime.now(UTC)
        viewer = await self._viewer(session, request, now)
        return P2Context(session=session, viewer=viewer, now=now, link_cursors=self.link_cursors)

    async def _viewer(
        self, session: AsyncSession, request: Request | WebSocket, now: dt.datetime
    ) -> SignedInViewer | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = self.signer.verify(token.strip(), now=now)
        except InvalidToken:
            return None
        signed_in = await session.get(t.Session, claims.session_id)
        if (
            signed_in is None
            or signed_in.revoked_at is not None
            or signed_in.expires_at <= now
            or signed_in.account_id != claims.account_id
        ):
            return None
        account = await session.get(t.Account, signed_in.account_id)
        if account is None or account.revoked_at is not None:
            return None
        staff = (
            await session.get(t.StaffMember, account.staff_member_id)
            if account.staff_member_id is not None
            else None
        )
        holders = [col(t.RoleGrant.account_id) == account.id]
        if staff is not None and staff.active:
            holders.append(col(t.RoleGrant.staff_member_id) == staff.id)
        roles = list((await session.exec(select(t.RoleGrant).where(sa.or_(*holders)))).all())
        return SignedInViewer(account=account, staff=staff, roles=roles)


def create_app(database_url: str, signer: TokenSigner, cursor_key: bytes) -> Starlette:
    engine_holder: dict[str, AsyncEngine] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        engine_holder["engine"] = create_engine(database_url)
        try:
            yield
        finally:
            await engine_holder["engine"].dispose()

    view = View(engine_holder, signer, cursor_key)
    return Starlette(routes=[Route("/graphql", view)], lifespan=lifespan)
