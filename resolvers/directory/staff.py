"""Staff records and sections of the schools in scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order, rows_by_id
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, count, keyset_page
from resolvers.scope import school_id_filter, section_filter, staff_filter
from resolvers.tables import SCHOOLS, SECTION_TEACHERS, SECTIONS, STAFF, STAFF_SCHOOLS

ORDER = (STAFF.c.family_name, STAFF.c.given_name, STAFF.c.id)


def staff_at_school(school_id: int, *, include_deactivated: bool) -> sa.Select[Any]:
    query = (
        sa.select(STAFF)
        .join(STAFF_SCHOOLS, STAFF_SCHOOLS.c.staff_member_id == STAFF.c.id)
        .where(STAFF_SCHOOLS.c.school_id == school_id)
    )
    if not include_deactivated:
        query = query.where(STAFF.c.active)
    return query


async def staff_page_at_school(
    db: Db, school_id: int, request: PageRequest, *, include_deactivated: bool
) -> Page:
    # The field is restricted to staff of that school; the school is in scope.
    query = staff_at_school(school_id, include_deactivated=include_deactivated)
    return await keyset_page(db, query, ORDER, request)


async def staff_count_at_school(db: Db, school_id: int, *, include_deactivated: bool) -> int:
    return await count(db, staff_at_school(school_id, include_deactivated=include_deactivated))


async def staff_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, STAFF, ids, staff_filter(viewer))


async def staff_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, STAFF, ids)


async def schools_by_staff_id(
    db: Db, viewer: Viewer, staff_ids: Sequence[int]
) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(SCHOOLS, STAFF_SCHOOLS.c.staff_member_id.label("parent_staff_id"))
        .join(STAFF_SCHOOLS, STAFF_SCHOOLS.c.school_id == SCHOOLS.c.id)
        .where(
            STAFF_SCHOOLS.c.staff_member_id.in_(list(staff_ids)),
            school_id_filter(viewer.scope, SCHOOLS.c.id, SCHOOLS.c.district_id),
        )
        .order_by(SCHOOLS.c.name, SCHOOLS.c.id)
    )
    return grouped_in_key_order(staff_ids, rows, lambda r: r.parent_staff_id)


async def sections_by_staff_id(
    db: Db, viewer: Viewer, staff_ids: Sequence[int]
) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(SECTIONS, SECTION_TEACHERS.c.staff_member_id.label("parent_staff_id"))
        .join(SECTION_TEACHERS, SECTION_TEACHERS.c.section_id == SECTIONS.c.id)
        .where(
            SECTION_TEACHERS.c.staff_member_id.in_(list(staff_ids)),
            section_filter(viewer.scope),
        )
        .order_by(SECTIONS.c.name, SECTIONS.c.id)
    )
    return grouped_in_key_order(staff_ids, rows, lambda r: r.parent_staff_id)


async def teachers_by_section_id(db: Db, section_ids: Sequence[int]) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(STAFF, SECTION_TEACHERS.c.section_id.label("parent_section_id"))
        .join(SECTION_TEACHERS, SECTION_TEACHERS.c.staff_member_id == STAFF.c.id)
        .where(SECTION_TEACHERS.c.section_id.in_(list(section_ids)))
        .order_by(*ORDER)
    )
    return grouped_in_key_order(section_ids, rows, lambda r: r.parent_section_id)


async def sections_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, SECTIONS, ids, section_filter(viewer.scope))


async def staff_school_refs_by_staff_id(db: Db, staff_ids: Sequence[int]) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(STAFF_SCHOOLS).where(STAFF_SCHOOLS.c.staff_member_id.in_(list(staff_ids)))
    )
    return grouped_in_key_order(staff_ids, rows, lambda r: r.staff_member_id)
