"""Homework and timetable: what hangs off the sections a student is in now.

A student's homework and timetable are those of the sections they are
currently enrolled in (an active enrolment): leaving a section takes its
homework and lessons off their page. Both are fetched for every student of
a list at once, one statement per distinct page or date range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order, in_key_order
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, counts_by_parent, keyset_pages_by_parent
from resolvers.scope import capability_student_filter, student_filter
from resolvers.tables import ENROLMENTS, HOMEWORK, SECTIONS, STUDENTS, TIMETABLE_ENTRIES

# Served by ix_homework_section_due (section_id, due_on, id).
ORDER = (HOMEWORK.c.due_on, HOMEWORK.c.id)

# The student a row was fetched for: a homework or lesson of a shared
# section appears once under each of its students.
_PARENT = ENROLMENTS.c.student_id.label("parent_student_id")


def _of_current_sections(viewer: Viewer, table: sa.Table) -> sa.Select[Any]:
    """``table``'s rows (homework, lessons) for the current enrolments of
    students in scope, with the section's name and the student.

    The field is restricted on an already visible student; the scope filter
    is repeated here so that no path reaches another student's data.
    """
    return (
        sa.select(*table.c, SECTIONS.c.name.label("section_name"), _PARENT)
        .join(ENROLMENTS, ENROLMENTS.c.section_id == table.c.section_id)
        .join(SECTIONS, SECTIONS.c.id == table.c.section_id)
        .join(STUDENTS, STUDENTS.c.id == ENROLMENTS.c.student_id)
        .where(ENROLMENTS.c.active, student_filter(viewer.scope))
    )


def _homework(viewer: Viewer) -> sa.Select[Any]:
    return _of_current_sections(viewer, HOMEWORK)


async def homework_pages_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int], request: PageRequest
) -> list[Page]:
    return await keyset_pages_by_parent(db, _homework(viewer), _PARENT, ORDER, student_ids, request)


async def homework_counts_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int]
) -> list[int]:
    return await counts_by_parent(db, _homework(viewer), _PARENT, student_ids)


async def homework_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Node lookups: a homework is visible when it is in a current section
    of a student on whom the viewer holds HOMEWORK (the capability
    ``Student.homework`` is restricted to), decided in SQL."""
    enrolment = ENROLMENTS.alias("scope_homework_enrolment")
    student = STUDENTS.alias("scope_homework_student")
    visible = sa.exists(
        sa.select(enrolment.c.student_id)
        .join(student, student.c.id == enrolment.c.student_id)
        .where(
            enrolment.c.section_id == HOMEWORK.c.section_id,
            enrolment.c.active,
            capability_student_filter(viewer.scope, Capability.HOMEWORK, student),
        )
    )
    rows = await db.all(
        sa.select(*HOMEWORK.c, SECTIONS.c.name.label("section_name"))
        .join(SECTIONS, SECTIONS.c.id == HOMEWORK.c.section_id)
        .where(HOMEWORK.c.id.in_(list(ids)), visible)
    )
    return in_key_order(ids, rows, lambda r: r.id)


async def timetable_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int], dates: tuple[dt.date, dt.date]
) -> list[list[Row[Any]]]:
    """Each student's lessons from ``dates[0]`` to ``dates[1]`` inclusive,
    ordered by date and period (the checked range bounds the rows)."""
    first_day, last_day = dates
    rows = await db.all(
        _of_current_sections(viewer, TIMETABLE_ENTRIES)
        .where(
            _PARENT.in_(list(student_ids)),
            TIMETABLE_ENTRIES.c.date >= first_day,
            TIMETABLE_ENTRIES.c.date <= last_day,
        )
        .order_by(
            _PARENT, TIMETABLE_ENTRIES.c.date, TIMETABLE_ENTRIES.c.period, TIMETABLE_ENTRIES.c.id
        )
    )
    return grouped_in_key_order(student_ids, rows, lambda r: r.parent_student_id)
