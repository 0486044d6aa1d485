"""District, School, YearGroup: the organisation tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.visibility import Reach
from resolvers.directory import schools as data
from resolvers.directory import staff as staff_data
from resolvers.directory import students as student_data
from schema.directory import cross_school, staff, students
from schema.enums import StudentSection
from schema.graphql_context import Context, Info
from schema.node import Node, pk_of, to_global_id
from schema.relay import After, Before, Connection, First, Last, PageArgs, connection, page_request
from schema.restrictions import restricted

if TYPE_CHECKING:
    from schema.directory.cross_school import CrossSchoolLink
    from schema.directory.staff import StaffMember
    from schema.directory.students import Student


@strawberry.type(description="A school district (OneRoster org of type district).")
class District(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.DISTRICT
    name: str = strawberry.field(description="The district's name.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> District:
        return cls(id=to_global_id("District", row.id), name=row.name, pk=row.id)

    def capabilities(self, context: Context) -> frozenset[Capability]:
        return context.viewer.scope.district_capabilities(district_id=self.pk)

    @strawberry.field(description="The district's schools in the viewer's scope, by name.")
    async def schools(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[School]:
        request = page_request(info, PageArgs(first, after, last, before), data.SCHOOL_ORDER)
        db, viewer = info.context.db, info.context.viewer
        page = await data.school_page(db, viewer, request, district_id=self.pk)
        return connection(
            page, School.from_row, lambda: data.school_count(db, viewer, district_id=self.pk)
        )

    @strawberry.field(
        description="Accounts with active access to students at two or more schools of this district.",
        extensions=restricted(Capability.CROSS_SCHOOL_LINKS, "cross-school links of a district"),
    )
    async def cross_school_links(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> (
        Connection[Annotated[CrossSchoolLink, strawberry.lazy("schema.directory.cross_school")]]
        | None
    ):
        return await cross_school.cross_school_links(
            info, self.pk, PageArgs(first, after, last, before)
        )


@strawberry.type(description="A school of a district (OneRoster org of type school).")
class School(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.SCHOOL
    name: str = strawberry.field(description="The school's name.")
    pk: strawberry.Private[int]
    district_id: strawberry.Private[int]
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> School:
        return cls(
            id=to_global_id("School", row.id),
            name=row.name,
            pk=row.id,
            district_id=row.district_id,
            row=row,
        )

    def capabilities(self, context: Context) -> frozenset[Capability]:
        return context.viewer.scope.school_capabilities(
            school_id=self.pk, district_id=self.district_id
        )

    @strawberry.field(
        description="The school's id in the SIS (its OneRoster sourcedId).",
        extensions=restricted(Capability.SIS_IDS, "a school's SIS id"),
    )
    def sis_id(self) -> str | None:
        return self.row.sourced_id  # type: ignore[no-any-return]

    @strawberry.field(description="The district the school belongs to.")
    async def district(self, info: Info) -> District:
        row = await info.context.loaders.district_by_id.load(self.district_id)
        assert row is not None
        return District.from_row(row)

    @strawberry.field(description="The school's year groups, in order.")
    async def year_groups(self, info: Info) -> list[YearGroup]:
        rows = await info.context.loaders.year_groups_by_school_id.load(self.pk)
        return [YearGroup.from_row(row) for row in rows]

    @strawberry.field(description="The school's students in the viewer's scope, by name.")
    async def students(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        year_group_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only students of this year group (its global ID)."),
        ] = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Only students matching every word of this text (any case)."
            ),
        ] = None,
    ) -> Connection[Annotated[Student, strawberry.lazy("schema.directory.students")]]:
        year_group = pk_of(year_group_id, "YearGroup") if year_group_id is not None else None
        if year_group_id is not None and year_group is None:
            year_group = -1  # an id that is not a year group matches no student
        where = student_data.StudentFilter(
            school_id=self.pk, year_group_id=year_group, search=search
        )
        return await students.student_connection(info, PageArgs(first, after, last, before), where)

    @strawberry.field(
        description="The school's staff records, by name.",
        extensions=restricted(Capability.STAFF_DIRECTORY, "a school's staff list"),
    )
    async def staff_members(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        include_deactivated: Annotated[
            bool | None,
            strawberry.argument(
                description="False: only staff records the SIS still has active (null means true)."
            ),
        ] = True,
    ) -> Connection[Annotated[StaffMember, strawberry.lazy("schema.directory.staff")]] | None:
        request = page_request(info, PageArgs(first, after, last, before), staff_data.ORDER)
        include_deactivated = include_deactivated is not False  # null means the default
        db = info.context.db
        page = await staff_data.staff_page_at_school(
            db, self.pk, request, include_deactivated=include_deactivated
        )
        return connection(
            page,
            staff.StaffMember.from_row,
            lambda: staff_data.staff_count_at_school(
                db, self.pk, include_deactivated=include_deactivated
            ),
        )

    @strawberry.field(
        description="Whether the school's students have logins, for which year groups, and what they see.",
        extensions=restricted(
            Capability.STUDENT_LOGIN_SETTINGS, "a school's student login settings"
        ),
    )
    async def student_login_settings(self, info: Info) -> StudentLoginSettings | None:
        year_groups = await info.context.loaders.year_groups_by_school_id.load(self.pk)
        return StudentLoginSettings.from_row(self.row, year_groups)


@strawberry.type(description="A year group (grade) of a school.")
class YearGroup(Node):
    name: str = strawberry.field(description="The year group's name, e.g. 'Year 7'.")
    student_logins_enabled: bool = strawberry.field(
        description="Whether the school turned student logins on for it."
    )
    pk: strawberry.Private[int]
    school_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> YearGroup:
        return cls(
            id=to_global_id("YearGroup", row.id),
            name=row.name,
            student_logins_enabled=row.student_logins_enabled,
            pk=row.id,
            school_id=row.school_id,
        )

    @strawberry.field(description="The school the year group belongs to.")
    async def school(self, info: Info) -> School:
        row = await info.context.loaders.school_by_id.load(self.school_id)
        assert row is not None
        return School.from_row(row)


@strawberry.type(
    description="A school's student logins: on or off, for which year groups, what students see, and the price."
)
class StudentLoginSettings:
    enabled: bool = strawberry.field(description="Whether students of the school have logins.")
    enabled_year_groups: list[YearGroup] = strawberry.field(
        description="The year groups whose students get logins."
    )
    visible_sections: list[StudentSection] = strawberry.field(
        description="What a signed-in student may see of their own record."
    )
    price_per_student_per_term: int = strawberry.field(
        description="Price per student per term, in minor units (50 = 50p)."
    )
    currency: str = strawberry.field(description="The price's currency (ISO 4217, e.g. GBP).")

    @classmethod
    def from_row(cls, school: Row[Any], year_groups: list[Row[Any]]) -> StudentLoginSettings:
        return cls(
            enabled=school.student_logins_enabled,
            enabled_year_groups=[
                YearGroup.from_row(y) for y in year_groups if y.student_logins_enabled
            ],
            visible_sections=[StudentSection(s) for s in school.student_visible_sections.split()],
            price_per_student_per_term=school.price_per_student_per_term,
            currency=school.currency,
        )
