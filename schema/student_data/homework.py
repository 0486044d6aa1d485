"""Homework and TimetableEntry: a student's sections, as the student sees them.

Both are reached only through ``Student.homework`` / ``Student.timetable``,
which are restricted on the student; here they are loaded per student in
batches.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from resolvers.student_data import homework as data
from schema.directory import staff
from schema.graphql_context import Info
from schema.node import Node, to_global_id
from schema.relay import BadUserInput, Connection, PageArgs, connection, page_request

if TYPE_CHECKING:
    from schema.directory.staff import StaffMember

# Two months of lessons at most: the range bounds the rows of one request.
MAX_TIMETABLE_DAYS = 62


@strawberry.type(description="Homework set for a section.")
class Homework(Node):
    title: str = strawberry.field(description="The homework's title.")
    details: str | None = strawberry.field(
        description="What to do; null when only the title says it."
    )
    due_on: dt.date = strawberry.field(description="The day it is due.")
    section_name: str = strawberry.field(description="The name of the class it was set for.")
    recorded_by_staff_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Homework:
        return cls(
            id=to_global_id("Homework", row.id),
            title=row.title,
            details=row.details,
            due_on=row.due_on,
            section_name=row.section_name,
            recorded_by_staff_id=row.recorded_by_staff_id,
        )

    @strawberry.field(
        description="The staff record the homework was recorded as (not the login account)."
    )
    async def recorded_by(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")]:
        row = await info.context.loaders.staff_member_by_id.load(self.recorded_by_staff_id)
        assert row is not None  # a foreign key; staff records are never deleted
        return staff.StaffMember.from_row(row)


@strawberry.type(description="One lesson of a student's timetable.")
class TimetableEntry:
    date: dt.date = strawberry.field(description="The day of the lesson.")
    period: str = strawberry.field(description="The period, as the school names it.")
    section_name: str = strawberry.field(description="The class.")
    room: str | None = strawberry.field(description="The room; null when not given.")

    @classmethod
    def from_row(cls, row: Row[Any]) -> TimetableEntry:
        return cls(date=row.date, period=row.period, section_name=row.section_name, room=row.room)


async def homework_connection(
    info: Info, student_id: int, page_args: PageArgs
) -> Connection[Homework]:
    """``Student.homework``: due soonest first."""
    request = page_request(info, page_args, data.ORDER)
    loaders = info.context.loaders
    page = await loaders.homework_page_by_student_id.load((student_id, request))
    return connection(
        page, Homework.from_row, lambda: loaders.homework_count_by_student_id.load(student_id)
    )


async def timetable_entries(
    info: Info, student_id: int, from_: dt.date, to: dt.date
) -> list[TimetableEntry]:
    """``Student.timetable``: lessons from ``from`` to ``to``, both included."""
    if to < from_:
        raise BadUserInput("to must not be before from.", "to")
    if (to - from_).days + 1 > MAX_TIMETABLE_DAYS:
        raise BadUserInput(f"A timetable covers at most {MAX_TIMETABLE_DAYS} days.", "to")
    rows = await info.context.loaders.timetable_by_student_id.load((student_id, (from_, to)))
    return [TimetableEntry.from_row(row) for row in rows]
