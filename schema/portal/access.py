"""Portal access: grants, access codes, and a student's portal page."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.visibility import Reach
from resolvers.directory import accounts as account_data
from resolvers.portal import connection_requests as request_data
from schema.directory import accounts, staff, students
from schema.enums import AccessCodeStatus, GrantSource
from schema.graphql_context import Context, Info
from schema.node import Node, to_global_id
from schema.portal import connection_requests
from schema.relay import After, Before, Connection, First, Last, PageArgs, connection, page_request
from schema.restrictions import restricted

if TYPE_CHECKING:
    from schema.directory.accounts import Account
    from schema.directory.staff import StaffMember
    from schema.directory.students import Student
    from schema.portal.connection_requests import ConnectionRequest


async def _student_capabilities(context: Context, student_id: int) -> frozenset[Capability]:
    row = await context.loaders.student_by_id.load(student_id)
    if row is None:
        return frozenset()
    return context.viewer.scope.student_capabilities(
        student_id=row.id, school_id=row.school_id, district_id=row.district_id
    )


async def _staff_member(info: Info, staff_member_id: int | None) -> StaffMember | None:
    if staff_member_id is None:
        return None
    row = await info.context.loaders.staff_member_by_id.load(staff_member_id)
    return staff.StaffMember.from_row(row) if row is not None else None


async def _student(info: Info, student_id: int) -> Student:
    row = await info.context.loaders.student_by_id.load(student_id)
    assert row is not None
    return students.Student.from_row(row)


@strawberry.type(description="One account's access to one student's information.")
class StudentAccessGrant(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.STUDENT
    source: GrantSource = strawberry.field(description="How the access was given.")
    relationship: str | None = strawberry.field(
        description="The relationship the account stated or the SIS gave."
    )
    granted_at: dt.datetime = strawberry.field(description="When the access began.")
    revoked_at: dt.datetime | None = strawberry.field(
        description="When the access ended; null while active."
    )
    pk: strawberry.Private[int]
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> StudentAccessGrant:
        return cls(
            id=to_global_id("StudentAccessGrant", row.id),
            source=GrantSource(row.source),
            relationship=row.relationship,
            granted_at=row.granted_at,
            revoked_at=row.revoked_at,
            pk=row.id,
            row=row,
        )

    async def capabilities(self, context: Context) -> frozenset[Capability]:
        return await _student_capabilities(context, self.row.student_id)

    @strawberry.field(description="The account with access.")
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.directory.accounts")]:
        row = await info.context.loaders.account_by_id.load(self.row.account_id)
        assert row is not None
        through = await _student_capabilities(info.context, self.row.student_id)
        return accounts.Account.from_row(row, granted_through=through)

    @strawberry.field(description="The student it may see.")
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")]:
        return await _student(info, self.row.student_id)

    @strawberry.field(
        description="The staff record that revoked this grant; null while it is active or when the SIS or the system revoked it.",
        extensions=restricted(Capability.PORTAL_VIEW, "who revoked a grant"),
    )
    async def revoked_by(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")] | None:
        return await _staff_member(info, self.row.revoked_by_staff_id)


@strawberry.type(
    description="A student's portal access code: a parent signs in and redeems it to pair."
)
class AccessCode(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.STUDENT
    status: AccessCodeStatus = strawberry.field(description="ACTIVE until reset.")
    created_at: dt.datetime = strawberry.field(description="When the code was made.")
    pk: strawberry.Private[int]
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> AccessCode:
        return cls(
            id=to_global_id("AccessCode", row.id),
            status=AccessCodeStatus(row.status),
            created_at=row.created_at,
            pk=row.id,
            row=row,
        )

    async def capabilities(self, context: Context) -> frozenset[Capability]:
        return await _student_capabilities(context, self.row.student_id)

    @strawberry.field(
        description="The code itself, as a guardian types it (case and dashes do not matter).",
        extensions=restricted(Capability.MANAGE_ACCESS_CODES, "an access code"),
    )
    async def code(self, info: Info) -> str | None:
        from resolvers.portal.codes import display_code

        return display_code(self.row.code)

    @strawberry.field(description="The student the code pairs with.")
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")]:
        return await _student(info, self.row.student_id)

    @strawberry.field(description="The staff record that made or reset it, if any.")
    async def created_by(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")] | None:
        return await _staff_member(info, self.row.created_by_staff_id)


@strawberry.type(
    description="A student's parent/guardian portal access: the code, who is paired, pending requests."
)
class StudentPortalAccess:
    """Reached only through ``Student.portalAccess`` (restricted to the
    portal view); the parts that manage codes are restricted again."""

    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.STUDENT

    student: strawberry.Private[Any]

    def capabilities(self, context: Context) -> frozenset[Capability]:
        return self.student.capabilities(context)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The current access code; null until portal access is enabled.",
        extensions=restricted(Capability.MANAGE_ACCESS_CODES, "a student's access code"),
    )
    async def access_code(self, info: Info) -> AccessCode | None:
        row = await info.context.loaders.active_code_by_student_id.load(self.student.pk)
        return AccessCode.from_row(row) if row is not None else None

    @strawberry.field(description="Accounts with access to this student, oldest first.")
    async def grants(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        include_revoked: Annotated[
            bool | None,
            strawberry.argument(description="True: revoked grants too (null means false)."),
        ] = False,
    ) -> Connection[StudentAccessGrant]:
        request = page_request(info, PageArgs(first, after, last, before), account_data.GRANT_ORDER)
        include_revoked = bool(include_revoked)
        loaders = info.context.loaders
        key = self.student.pk
        page = await loaders.grant_page_by_student_id.load((key, (request, include_revoked)))
        return connection(
            page,
            StudentAccessGrant.from_row,
            lambda: loaders.grant_count_by_student_id.load((key, include_revoked)),
        )

    @strawberry.field(description="Connection requests for this student, oldest first.")
    async def connection_requests(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[
        Annotated[ConnectionRequest, strawberry.lazy("schema.portal.connection_requests")]
    ]:
        request = page_request(info, PageArgs(first, after, last, before), request_data.ORDER)
        loaders = info.context.loaders
        key = self.student.pk
        page = await loaders.request_page_by_student_id.load((key, request))
        now = info.context.clock()
        return connection(
            page,
            lambda row: connection_requests.ConnectionRequest.from_row_at(row, now),
            lambda: loaders.request_count_by_student_id.load(key),
        )

    @strawberry.field(
        description="Short-lived link to a printable PDF of login instructions.",
        extensions=restricted(Capability.MANAGE_ACCESS_CODES, "login instructions"),
    )
    async def login_instructions_url(self, info: Info) -> str | None:
        row = await info.context.loaders.active_code_by_student_id.load(self.student.pk)
        if row is None or info.context.links is None:
            return None
        return info.context.links.login_instructions(row.id)
