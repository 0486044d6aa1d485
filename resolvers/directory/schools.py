"""Districts, schools and year groups: the organisation tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order, rows_by_id
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, count, keyset_page
from resolvers.scope import district_filter, school_filter, school_id_filter
from resolvers.tables import DISTRICTS, SCHOOLS, YEAR_GROUPS

SCHOOL_ORDER = (SCHOOLS.c.name, SCHOOLS.c.id)
DISTRICT_ORDER = (DISTRICTS.c.name, DISTRICTS.c.id)


def scoped_districts(viewer: Viewer) -> sa.Select[Any]:
    return sa.select(DISTRICTS).where(district_filter(viewer.scope))


def scoped_schools(viewer: Viewer, *, district_id: int | None = None) -> sa.Select[Any]:
    query = sa.select(SCHOOLS).where(school_filter(viewer.scope))
    if district_id is not None:
        query = query.where(SCHOOLS.c.district_id == district_id)
    return query


async def district_page(db: Db, viewer: Viewer, request: PageRequest) -> Page:
    return await keyset_page(db, scoped_districts(viewer), DISTRICT_ORDER, request)


async def district_count(db: Db, viewer: Viewer) -> int:
    return await count(db, scoped_districts(viewer))


async def school_page(
    db: Db, viewer: Viewer, request: PageRequest, *, district_id: int | None = None
) -> Page:
    return await keyset_page(
        db, scoped_schools(viewer, district_id=district_id), SCHOOL_ORDER, request
    )


async def school_count(db: Db, viewer: Viewer, *, district_id: int | None = None) -> int:
    return await count(db, scoped_schools(viewer, district_id=district_id))


# Path lookups: a school or district reached through a visible object is on
# the path to it, so these are not filtered again.
async def districts_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, DISTRICTS, ids)


async def schools_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, SCHOOLS, ids)


async def year_groups_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, YEAR_GROUPS, ids)


async def year_groups_by_school_id(db: Db, school_ids: Sequence[int]) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(YEAR_GROUPS)
        .where(YEAR_GROUPS.c.school_id.in_(list(school_ids)))
        .order_by(YEAR_GROUPS.c.code, YEAR_GROUPS.c.id)
    )
    return grouped_in_key_order(school_ids, rows, lambda r: r.school_id)


# Node lookups: ids from a client, filtered by scope.
async def districts_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, DISTRICTS, ids, district_filter(viewer.scope))


async def schools_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, SCHOOLS, ids, school_filter(viewer.scope))


async def year_groups_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(
        db,
        YEAR_GROUPS,
        ids,
        school_id_filter(viewer.scope, YEAR_GROUPS.c.school_id, YEAR_GROUPS.c.district_id),
    )
