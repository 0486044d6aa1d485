"""Students and their contacts, always cut to the viewer's scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order, name_search, rows_by_id
from resolvers.db import Db
from resolvers.pagination import (
    Page,
    PageRequest,
    count,
    counts_by_parent,
    keyset_page,
    keyset_pages_by_parent,
)
from resolvers.scope import student_filter, student_sis_id_match
from resolvers.tables import CONTACTS, ENROLMENTS, STUDENTS

ORDER = (STUDENTS.c.family_name, STUDENTS.c.given_name, STUDENTS.c.id)


@dataclass(frozen=True, slots=True)
class StudentFilter:
    school_id: int | None = None
    year_group_id: int | None = None
    search: str | None = None


def scoped_students(viewer: Viewer, where: StudentFilter = StudentFilter()) -> sa.Select[Any]:
    query = sa.select(STUDENTS).where(student_filter(viewer.scope))
    if where.school_id is not None:
        query = query.where(STUDENTS.c.school_id == where.school_id)
    if where.year_group_id is not None:
        query = query.where(STUDENTS.c.year_group_id == where.year_group_id)
    if where.search:
        query = query.where(
            sa.or_(
                name_search(where.search, STUDENTS.c.given_name, STUDENTS.c.family_name),
                student_sis_id_match(viewer.scope, where.search),
            )
        )
    return query


async def student_page(
    db: Db, viewer: Viewer, request: PageRequest, where: StudentFilter = StudentFilter()
) -> Page:
    return await keyset_page(db, scoped_students(viewer, where), ORDER, request)


async def student_count(db: Db, viewer: Viewer, where: StudentFilter = StudentFilter()) -> int:
    return await count(db, scoped_students(viewer, where))


def _section_students(viewer: Viewer) -> sa.Select[Any]:
    # A section's students are its current enrolments, cut to scope.
    return (
        sa.select(STUDENTS, ENROLMENTS.c.section_id.label("parent_section_id"))
        .join(ENROLMENTS, ENROLMENTS.c.student_id == STUDENTS.c.id)
        .where(ENROLMENTS.c.active, student_filter(viewer.scope))
    )


async def student_pages_by_section(
    db: Db, viewer: Viewer, section_ids: Sequence[int], request: PageRequest
) -> list[Page]:
    query = _section_students(viewer)
    parent = ENROLMENTS.c.section_id.label("parent_section_id")
    return await keyset_pages_by_parent(db, query, parent, ORDER, section_ids, request)


async def student_counts_by_section(
    db: Db, viewer: Viewer, section_ids: Sequence[int]
) -> list[int]:
    parent = ENROLMENTS.c.section_id.label("parent_section_id")
    return await counts_by_parent(db, _section_students(viewer), parent, section_ids)


async def students_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, STUDENTS, ids, student_filter(viewer.scope))


async def students_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Path lookups (a grant's student is checked by its own scope)."""
    return await rows_by_id(db, STUDENTS, ids)


async def contacts_by_student_id(db: Db, student_ids: Sequence[int]) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(CONTACTS)
        .where(CONTACTS.c.student_id.in_(list(student_ids)))
        .order_by(CONTACTS.c.student_id, CONTACTS.c.id)
    )
    return grouped_in_key_order(student_ids, rows, lambda r: r.student_id)


async def students_in_scope_by_guardian_id(
    db: Db, viewer: Viewer, guardian_ids: Sequence[int]
) -> list[list[Row[Any]]]:
    """``Guardian.students``: the contact's students, limited to scope."""
    rows = await db.all(
        sa.select(STUDENTS, CONTACTS.c.guardian_id.label("parent_guardian_id"))
        .join(CONTACTS, CONTACTS.c.student_id == STUDENTS.c.id)
        .where(CONTACTS.c.guardian_id.in_(list(guardian_ids)), student_filter(viewer.scope))
        .order_by(*ORDER)
    )
    return grouped_in_key_order(guardian_ids, rows, lambda r: r.parent_guardian_id)


async def student_refs_by_guardian_id(db: Db, guardian_ids: Sequence[int]) -> list[list[Row[Any]]]:
    """Where each contact's students sit, to decide capabilities on the
    contact; the scope predicate keeps only the viewer's own reach."""
    rows = await db.all(
        sa.select(
            CONTACTS.c.guardian_id,
            STUDENTS.c.id.label("student_id"),
            STUDENTS.c.school_id,
            STUDENTS.c.district_id,
        )
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .where(CONTACTS.c.guardian_id.in_(list(guardian_ids)))
    )
    return grouped_in_key_order(guardian_ids, rows, lambda r: r.guardian_id)
