"""Student and StudentContact."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.visibility import Reach
from resolvers.directory import students as data
from schema.directory import guardians, schools
from schema.enums import EnrolmentStatus
from schema.graphql_context import Context, Info
from schema.node import Node, to_global_id
from schema.portal import access
from schema.relay import After, Before, Connection, First, Last, PageArgs, connection, page_request
from schema.restrictions import restricted
from schema.student_data import audit, homework

if TYPE_CHECKING:
    from schema.directory.guardians import Guardian
    from schema.directory.schools import School, YearGroup
    from schema.portal.access import StudentPortalAccess
    from schema.student_data.audit import AccessReview
    from schema.student_data.homework import Homework, TimetableEntry


@strawberry.type(description="A student as the SIS records them, in the viewer's scope.")
class Student(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.STUDENT
    given_name: str = strawberry.field(description="Given name.")
    family_name: str = strawberry.field(description="Family name.")
    display_name: str = strawberry.field(
        description="The name to show: given name, then family name."
    )
    enrolment_status: EnrolmentStatus = strawberry.field(
        description="ENROLLED, WITHDRAWN or GRADUATED, as the SIS says."
    )
    email: str | None = strawberry.field(
        description="The student's email as the SIS records it.",
        extensions=restricted(Capability.CONTACT_DETAILS, "a student's email"),
    )
    date_of_birth: dt.date | None = strawberry.field(
        description="The student's date of birth.",
        extensions=restricted(Capability.CONTACT_DETAILS, "a student's date of birth"),
    )
    sis_id: str | None = strawberry.field(
        description="The student's id in the SIS (its OneRoster sourcedId).",
        extensions=restricted(Capability.SIS_IDS, "a student's SIS id"),
    )
    pk: strawberry.Private[int]
    school_id: strawberry.Private[int]
    district_id: strawberry.Private[int]
    year_group_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Student:
        return cls(
            id=to_global_id("Student", row.id),
            given_name=row.given_name,
            family_name=row.family_name,
            display_name=f"{row.given_name} {row.family_name}",
            enrolment_status=EnrolmentStatus(row.status),
            email=row.email,
            date_of_birth=row.date_of_birth,
            sis_id=row.sourced_id,
            pk=row.id,
            school_id=row.school_id,
            district_id=row.district_id,
            year_group_id=row.year_group_id,
        )

    def capabilities(self, context: Context) -> frozenset[Capability]:
        return context.viewer.scope.student_capabilities(
            student_id=self.pk, school_id=self.school_id, district_id=self.district_id
        )

    def note_read(self, context: Context, field_name: str) -> None:
        """Anyone but the student reading a restricted field is logged."""
        if context.viewer.student_id != self.pk:
            context.reads.note(
                student_id=self.pk, district_id=self.district_id, field_name=field_name
            )

    @strawberry.field(description="The student's school.")
    async def school(
        self, info: Info
    ) -> Annotated[School, strawberry.lazy("schema.directory.schools")]:
        row = await info.context.loaders.school_by_id.load(self.school_id)
        assert row is not None
        return schools.School.from_row(row)

    @strawberry.field(description="The student's year group; null when the SIS gives none.")
    async def year_group(
        self, info: Info
    ) -> Annotated[YearGroup, strawberry.lazy("schema.directory.schools")] | None:
        if self.year_group_id is None:
            return None
        row = await info.context.loaders.year_group_by_id.load(self.year_group_id)
        return schools.YearGroup.from_row(row) if row is not None else None

    @strawberry.field(
        description="Contacts on record for this student (from the SIS).",
        extensions=restricted(Capability.CONTACT_DETAILS, "a student's contacts"),
    )
    async def contacts(self, info: Info) -> list[StudentContact] | None:
        rows = await info.context.loaders.contacts_by_student_id.load(self.pk)
        return [StudentContact.from_row(row) for row in rows]

    @strawberry.field(
        description="Parent/guardian portal access: the access code, who is paired, pending requests.",
        extensions=restricted(Capability.PORTAL_VIEW, "a student's portal access"),
    )
    def portal_access(
        self,
    ) -> Annotated[StudentPortalAccess, strawberry.lazy("schema.portal.access")] | None:
        return access.StudentPortalAccess(student=self)

    @strawberry.field(
        description="Whether the student has a login of their own.",
        extensions=restricted(Capability.PORTAL_VIEW, "whether a student has a login"),
    )
    async def has_login(self, info: Info) -> bool | None:
        row = await info.context.loaders.student_account_by_student_id.load(self.pk)
        return row is not None

    @strawberry.field(
        description="The student's homework, due soonest first.",
        extensions=restricted(Capability.HOMEWORK, "a student's homework"),
    )
    async def homework(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated[Homework, strawberry.lazy("schema.student_data.homework")]] | None:
        return await homework.homework_connection(
            info, self.pk, PageArgs(first, after, last, before)
        )

    @strawberry.field(
        description="The student's lessons from `from` to `to`, both included (at most a set number of days).",
        extensions=restricted(Capability.TIMETABLE, "a student's timetable"),
    )
    async def timetable(
        self,
        info: Info,
        from_: Annotated[
            dt.date,
            strawberry.argument(name="from", description="The first day, included."),
        ],
        to: Annotated[
            dt.date, strawberry.argument(description="The last day, included; not before `from`.")
        ],
    ) -> list[Annotated[TimetableEntry, strawberry.lazy("schema.student_data.homework")]] | None:
        return await homework.timetable_entries(info, self.pk, from_, to)

    @strawberry.field(
        description="Who can see this student's information, and who has looked at it.",
        extensions=restricted(Capability.ACCESS_REVIEW, "a student's access review"),
    )
    def access_review(
        self,
    ) -> Annotated[AccessReview, strawberry.lazy("schema.student_data.audit")] | None:
        return audit.AccessReview(student_id=self.pk)


@strawberry.type(description="A contact recorded against a student in the SIS, with its flags.")
class StudentContact:
    contact_type: str = strawberry.field(
        description="The relationship as the SIS records it (e.g. 'Mother')."
    )
    portal_eligible: bool = strawberry.field(
        description="The SIS flag that makes this contact eligible for a portal account."
    )
    restricted: bool = strawberry.field(
        description="A custody or safeguarding restriction: this contact must never get access to this student."
    )
    guardian_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> StudentContact:
        return cls(
            contact_type=row.contact_type,
            portal_eligible=row.portal_eligible,
            restricted=row.restricted,
            guardian_id=row.guardian_id,
        )

    @strawberry.field(description="The contact's record.")
    async def guardian(
        self, info: Info
    ) -> Annotated[Guardian, strawberry.lazy("schema.directory.guardians")]:
        row = await info.context.loaders.guardian_by_id.load(self.guardian_id)
        assert row is not None
        return guardians.Guardian.from_row(row)


async def student_connection(
    info: Info, page_args: PageArgs, where: data.StudentFilter
) -> Connection[Student]:
    request = page_request(info, page_args, data.ORDER)
    db, viewer = info.context.db, info.context.viewer
    page = await data.student_page(db, viewer, request, where)
    return connection(page, Student.from_row, lambda: data.student_count(db, viewer, where))
