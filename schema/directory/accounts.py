"""Account (a login identity), RoleGrant, and the Viewer."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import OWN_ACCOUNT, Capability
from permissions.visibility import Reach
from resolvers.directory import accounts as data
from resolvers.directory import students as student_data
from resolvers.portal.lifecycle import reasons_of, status_of
from schema.directory import guardians, schools, staff, students
from schema.enums import AccountKind, PortalStatus, RevokeReason, Role
from schema.graphql_context import Context, Info
from schema.node import Node, to_global_id
from schema.portal import access
from schema.relay import After, Before, Connection, First, Last, PageArgs, connection, page_request
from schema.restrictions import StudentDatum, restricted

if TYPE_CHECKING:
    from schema.directory.guardians import Guardian
    from schema.directory.schools import District, School
    from schema.directory.staff import StaffMember
    from schema.directory.students import Student
    from schema.portal.access import StudentAccessGrant


@strawberry.type(description="A role held at one school or across one district.")
class RoleGrant:
    role: Role = strawberry.field(description="The role.")
    school_id: strawberry.Private[int | None]
    district_id: strawberry.Private[int]

    @strawberry.field(description="Set when the grant covers one school.")
    async def school(
        self, info: Info
    ) -> Annotated[School, strawberry.lazy("schema.directory.schools")] | None:
        if self.school_id is None:
            return None
        row = await info.context.loaders.school_by_id.load(self.school_id)
        return schools.School.from_row(row) if row is not None else None

    @strawberry.field(description="Set when the grant covers a whole district.")
    async def district(
        self, info: Info
    ) -> Annotated[District, strawberry.lazy("schema.directory.schools")] | None:
        if self.school_id is not None:
            return None
        row = await info.context.loaders.district_by_id.load(self.district_id)
        return schools.District.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: Any) -> RoleGrant:
        role = row.role if isinstance(row.role, Role) else Role(row.role)
        return cls(role=role, school_id=row.school_id, district_id=row.district_id)


@strawberry.type(
    description="A login identity. Staff accounts are 'users'; writes need a linked staff member."
)
class Account(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.ACCOUNT
    kind: AccountKind = strawberry.field(description="STAFF, GUARDIAN or STUDENT.")
    display_name: str = strawberry.field(description="The name to show.")
    portal_status: PortalStatus = strawberry.field(
        description="ACTIVE, READY_TO_REVOKE (see revokeReasons) or REVOKED: credentials removed, sessions ended."
    )
    revoke_reasons: list[RevokeReason] = strawberry.field(
        description="Why the account is READY_TO_REVOKE; empty otherwise."
    )
    created_at: dt.datetime = strawberry.field(description="When the account was made.")
    pk: strawberry.Private[int]
    row: strawberry.Private[Row[Any]]
    # Reached through a grant (the revoke view, the access review): what the
    # viewer holds on that grant's student decides what it sees of the
    # account, with no further question to the database.
    granted_through: strawberry.Private[frozenset[Capability] | None] = None

    @classmethod
    def from_row(
        cls, row: Row[Any], *, granted_through: frozenset[Capability] | None = None
    ) -> Account:
        return cls(
            id=to_global_id("Account", row.id),
            kind=AccountKind(row.kind),
            display_name=row.display_name,
            portal_status=status_of(row),
            revoke_reasons=[] if row.revoked_at is not None else reasons_of(row),
            created_at=row.created_at,
            pk=row.id,
            row=row,
            granted_through=granted_through,
        )

    async def capabilities(self, context: Context) -> frozenset[Capability]:
        viewer = context.viewer
        if viewer.account_id == self.pk:
            return OWN_ACCOUNT
        if self.granted_through is not None:
            return self.granted_through
        held: set[Capability] = set()
        for ref in await context.loaders.reach_by_account_id.load(self.pk):
            if ref.school_id is None:
                held |= viewer.scope.unlinked_staff_capabilities(district_id=ref.district_id)
            elif ref.student_id is None:
                held |= viewer.scope.school_capabilities(
                    school_id=ref.school_id, district_id=ref.district_id
                )
            else:
                held |= viewer.scope.student_capabilities(
                    student_id=ref.student_id, school_id=ref.school_id, district_id=ref.district_id
                )
        return frozenset(held)

    async def student_datum(self, context: Context) -> StudentDatum | None:
        """A STUDENT account's email is its student's email (the SIS sets
        it): the student's datum, with the student's rule."""
        if self.kind is not AccountKind.STUDENT or self.row.student_id is None:
            return None
        row = await context.loaders.student_by_id.load(self.row.student_id)
        if row is None:
            return StudentDatum(self.row.student_id, 0, frozenset())
        if context.viewer.account_id == self.pk:
            return StudentDatum(row.id, row.district_id, OWN_ACCOUNT)
        held = context.viewer.scope.student_capabilities(
            student_id=row.id, school_id=row.school_id, district_id=row.district_id
        )
        return StudentDatum(row.id, row.district_id, held)

    @strawberry.field(
        description="The account's sign-in email.",
        extensions=restricted(
            Capability.PORTAL_VIEW, "an account's email", of_student=Capability.CONTACT_DETAILS
        ),
    )
    async def email(self, info: Info) -> str | None:
        return self.row.email  # type: ignore[no-any-return]

    @strawberry.field(
        description="When the account last signed in; null if it never has.",
        extensions=restricted(Capability.ACCOUNT_LIFECYCLE, "when an account last signed in"),
    )
    async def last_login_at(self, info: Info) -> dt.datetime | None:
        return self.row.last_login_at  # type: ignore[no-any-return]

    @strawberry.field(description="The account's roles in force (staff accounts).")
    async def roles(self, info: Info) -> list[RoleGrant]:
        rows = await info.context.loaders.role_grants_by_account_id.load(self.pk)
        return [RoleGrant.from_row(row) for row in rows]

    @strawberry.field(
        description="For a STAFF account: the staff record it records data as; null for other kinds and for a staff account not linked to one.",
        extensions=restricted(Capability.STAFF_DIRECTORY, "an account's staff record"),
    )
    async def staff_member(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")] | None:
        if self.row.staff_member_id is None:
            return None
        row = await info.context.loaders.staff_member_by_id.load(self.row.staff_member_id)
        return staff.StaffMember.from_row(row) if row is not None else None

    @strawberry.field(
        description="For a GUARDIAN account: its contact record in the SIS; null for other kinds or when not linked.",
        extensions=restricted(Capability.PORTAL_VIEW, "an account's contact record"),
    )
    async def guardian(
        self, info: Info
    ) -> Annotated[Guardian, strawberry.lazy("schema.directory.guardians")] | None:
        if self.row.guardian_id is None:
            return None
        row = await info.context.loaders.guardian_by_id.load(self.row.guardian_id)
        return guardians.Guardian.from_row(row) if row is not None else None

    @strawberry.field(
        description="For a STUDENT account: the student it belongs to; null for other kinds.",
        extensions=restricted(Capability.PORTAL_VIEW, "an account's student"),
    )
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")] | None:
        if self.row.student_id is None:
            return None
        row = await info.context.loaders.student_by_id.load(self.row.student_id)
        return students.Student.from_row(row) if row is not None else None

    @strawberry.field(description="Active access to students, limited to the viewer's scope.")
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
    ) -> Connection[Annotated[StudentAccessGrant, strawberry.lazy("schema.portal.access")]]:
        request = page_request(info, PageArgs(first, after, last, before), data.GRANT_ORDER)
        include_revoked = bool(include_revoked)
        loaders = info.context.loaders
        page = await loaders.grant_page_by_account_id.load((self.pk, (request, include_revoked)))
        return connection(
            page,
            access.StudentAccessGrant.from_row,
            lambda: loaders.grant_count_by_account_id.load((self.pk, include_revoked)),
        )


@strawberry.type(description="The one asking: signed in or not, as whom, with which roles.")
class Viewer:
    is_authenticated: bool = strawberry.field(
        description="False for anonymous requests (no credential)."
    )
    can_record_data: bool = strawberry.field(
        description="False for accounts not linked to an active staff member: they can look but not touch."
    )

    @strawberry.field(description="The signed-in account; null when anonymous.")
    async def account(self, info: Info) -> Account | None:
        account_id = info.context.viewer.account_id
        if account_id is None:
            return None
        row = await info.context.loaders.account_by_id.load(account_id)
        return Account.from_row(row) if row is not None else None

    @strawberry.field(
        description="The roles in force for this account (from the SIS or granted by hand)."
    )
    def roles(self, info: Info) -> list[RoleGrant]:
        return [RoleGrant.from_row(grant) for grant in info.context.viewer.scope.roles]

    @strawberry.field(description="The staff record that this viewer's writes are attributed to.")
    async def acting_as(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")] | None:
        staff_member_id = info.context.viewer.staff_member_id
        if staff_member_id is None:
            return None
        row = await info.context.loaders.staff_member_by_id.load(staff_member_id)
        return staff.StaffMember.from_row(row) if row is not None else None

    @strawberry.field(
        description="Students this viewer may see, the same set every other query is filtered by."
    )
    async def students(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Only students matching every word of this text (any case)."
            ),
        ] = None,
    ) -> Connection[Annotated[Student, strawberry.lazy("schema.directory.students")]]:
        return await students.student_connection(
            info, PageArgs(first, after, last, before), student_data.StudentFilter(search=search)
        )
