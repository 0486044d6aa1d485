"""StaffMember (the SIS's staff record) and Section (a class)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import OWN_STAFF_RECORD, Capability
from permissions.visibility import Reach
from resolvers.directory import students as student_data
from schema.directory import accounts, schools, students
from schema.graphql_context import Context, Info
from schema.node import Node, to_global_id
from schema.relay import After, Before, Connection, First, Last, PageArgs, connection, page_request
from schema.restrictions import restricted

if TYPE_CHECKING:
    from schema.directory.accounts import Account
    from schema.directory.schools import School
    from schema.directory.students import Student


@strawberry.type(
    description="A staff record from the SIS; it records data through a linked account."
)
class StaffMember(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.STAFF_MEMBER
    display_name: str = strawberry.field(
        description="The name to show: given name, then family name."
    )
    active: bool = strawberry.field(
        description="False once the SIS deactivates or deletes the record; the record is kept."
    )
    deactivated_at: dt.datetime | None = strawberry.field(
        description="When the SIS deactivated or deleted the record; null while active."
    )
    pk: strawberry.Private[int]
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> StaffMember:
        return cls(
            id=to_global_id("StaffMember", row.id),
            display_name=f"{row.given_name} {row.family_name}",
            active=row.active,
            deactivated_at=row.deactivated_at,
            pk=row.id,
            row=row,
        )

    async def capabilities(self, context: Context) -> frozenset[Capability]:
        viewer = context.viewer
        held: set[Capability] = set()
        for ref in await context.loaders.staff_school_refs_by_staff_member_id.load(self.pk):
            held |= viewer.scope.school_capabilities(
                school_id=ref.school_id, district_id=ref.district_id
            )
        if viewer.staff_member_id == self.pk:
            held |= OWN_STAFF_RECORD
        return frozenset(held)

    @strawberry.field(
        description="The staff member's email as the SIS records it.",
        extensions=restricted(Capability.STAFF_DIRECTORY, "a staff member's email"),
    )
    async def email(self, info: Info) -> str | None:
        return self.row.email  # type: ignore[no-any-return]

    @strawberry.field(
        description="The staff member's id in the SIS (its OneRoster sourcedId).",
        extensions=restricted(Capability.SIS_IDS, "a staff member's SIS id"),
    )
    async def sis_id(self, info: Info) -> str | None:
        return self.row.sourced_id  # type: ignore[no-any-return]

    @strawberry.field(description="The schools the staff member works at.")
    async def schools(
        self, info: Info
    ) -> list[Annotated[School, strawberry.lazy("schema.directory.schools")]]:
        rows = await info.context.loaders.schools_by_staff_member_id.load(self.pk)
        return [schools.School.from_row(row) for row in rows]

    @strawberry.field(description="The classes the staff member teaches.")
    async def sections(self, info: Info) -> list[Section]:
        rows = await info.context.loaders.sections_by_staff_member_id.load(self.pk)
        return [Section.from_row(row) for row in rows]

    @strawberry.field(
        description="The login account linked to this staff record, if any.",
        extensions=restricted(Capability.ACCOUNT_LIFECYCLE, "a staff member's account"),
    )
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.directory.accounts")] | None:
        row = await info.context.loaders.account_by_staff_member_id.load(self.pk)
        return accounts.Account.from_row(row) if row is not None else None


@strawberry.type(
    description="A class: what OneRoster calls a class, taught by staff to enrolled students."
)
class Section(Node):
    # who may see its restricted fields (sisId): its school's staff roles
    reach = Reach.SCHOOL
    name: str = strawberry.field(description="The class's name, e.g. '7A Maths'.")
    sis_id: str | None = strawberry.field(
        description="The class's id in the SIS (its OneRoster sourcedId).",
        extensions=restricted(Capability.SIS_IDS, "a class's SIS id"),
    )
    pk: strawberry.Private[int]
    school_id: strawberry.Private[int]
    district_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Section:
        return cls(
            id=to_global_id("Section", row.id),
            name=row.name,
            sis_id=row.sourced_id,
            pk=row.id,
            school_id=row.school_id,
            district_id=row.district_id,
        )

    def capabilities(self, context: Context) -> frozenset[Capability]:
        return context.viewer.scope.school_capabilities(
            school_id=self.school_id, district_id=self.district_id
        )

    @strawberry.field(description="The school the class belongs to.")
    async def school(
        self, info: Info
    ) -> Annotated[School, strawberry.lazy("schema.directory.schools")]:
        row = await info.context.loaders.school_by_id.load(self.school_id)
        assert row is not None
        return schools.School.from_row(row)

    @strawberry.field(description="The class's teachers.")
    async def teachers(self, info: Info) -> list[StaffMember]:
        rows = await info.context.loaders.teachers_by_section_id.load(self.pk)
        return [StaffMember.from_row(row) for row in rows]

    @strawberry.field(description="The class's enrolled students in the viewer's scope, by name.")
    async def students(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated[Student, strawberry.lazy("schema.directory.students")]]:
        request = page_request(info, PageArgs(first, after, last, before), student_data.ORDER)
        loaders = info.context.loaders
        page = await loaders.student_page_by_section_id.load((self.pk, request))
        return connection(
            page,
            students.Student.from_row,
            lambda: loaders.student_count_by_section_id.load(self.pk),
        )
