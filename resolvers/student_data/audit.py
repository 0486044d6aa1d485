"""The access review: who can see a student now, and who has looked.

The access log is read newest first. ``resolvers.pagination`` pages in
ascending order only, so the descending keyset (``(at, id) < cursor``, rank
by ``at DESC, id DESC``) lives here; ix_access_events_student_at serves it
read backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from permissions.capabilities import Capability
from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order, in_key_order
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, counts_by_parent, encode_cursor
from resolvers.scope import capability_student_filter, student_filter
from resolvers.tables import ACCESS_EVENTS, ACCOUNTS, GRANTS, STUDENTS

# Newest first: the cursor holds (at, id) and the next page lies below it.
LOG_ORDER = (ACCESS_EVENTS.c.at, ACCESS_EVENTS.c.id)


async def current_grants_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int]
) -> list[list[Row[Any]]]:
    """Everyone with current access: grants not revoked, held by accounts
    whose credentials have not been revoked (such an account can no longer
    sign in, whatever its grant rows say)."""
    rows = await db.all(
        sa.select(GRANTS)
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
        .where(
            GRANTS.c.student_id.in_(list(student_ids)),
            GRANTS.c.revoked_at.is_(None),
            ACCOUNTS.c.revoked_at.is_(None),
            student_filter(viewer.scope),
        )
        .order_by(GRANTS.c.student_id, GRANTS.c.granted_at, GRANTS.c.id)
    )
    return grouped_in_key_order(student_ids, rows, lambda r: r.student_id)


def _events(viewer: Viewer) -> sa.Select[Any]:
    return (
        sa.select(ACCESS_EVENTS)
        .join(STUDENTS, STUDENTS.c.id == ACCESS_EVENTS.c.student_id)
        .where(student_filter(viewer.scope))
    )


async def events_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Node lookups: an event is visible when it is in the access log of a
    student on whom the viewer holds ACCESS_REVIEW (the capability
    ``Student.accessReview`` is restricted to), decided in SQL. Events
    about no student are in no access log."""
    rows = await db.all(
        sa.select(ACCESS_EVENTS)
        .join(STUDENTS, STUDENTS.c.id == ACCESS_EVENTS.c.student_id)
        .where(
            ACCESS_EVENTS.c.id.in_(list(ids)),
            capability_student_filter(viewer.scope, Capability.ACCESS_REVIEW),
        )
    )
    return in_key_order(ids, rows, lambda r: r.id)


def _before(cursor: tuple[Any, ...]) -> ColumnElement[bool]:
    return sa.tuple_(*LOG_ORDER) < sa.tuple_(
        *[sa.literal(v, type_=c.type) for v, c in zip(cursor, LOG_ORDER, strict=True)]
    )


def _page(rows: Sequence[Row[Any]], request: PageRequest) -> Page:
    has_next = len(rows) > request.first
    rows = rows[: request.first]
    return Page(
        rows=rows,
        cursors=[encode_cursor([row.at, row.id]) for row in rows],
        has_next=has_next,
        has_previous=request.after is not None,
    )


async def log_pages_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int], request: PageRequest
) -> list[Page]:
    """The same page of each student's access log, newest first, in one
    statement (ROW_NUMBER per student, as ``keyset_pages_by_parent``)."""
    query = _events(viewer).where(ACCESS_EVENTS.c.student_id.in_(list(student_ids)))
    if request.after is not None:
        query = query.where(_before(request.after))
    newest_first = [ACCESS_EVENTS.c.at.desc(), ACCESS_EVENTS.c.id.desc()]
    ranked = query.add_columns(
        sa.func.row_number()
        .over(partition_by=ACCESS_EVENTS.c.student_id, order_by=newest_first)
        .label("_rank")
    ).subquery()
    rows = await db.all(
        sa.select(ranked)
        .where(ranked.c._rank <= request.first + 1)
        .order_by(ranked.c.student_id, ranked.c._rank)
    )
    grouped = grouped_in_key_order(student_ids, rows, lambda r: r.student_id)
    return [_page(group, request) for group in grouped]


async def log_counts_by_student(db: Db, viewer: Viewer, student_ids: Sequence[int]) -> list[int]:
    return await counts_by_parent(db, _events(viewer), ACCESS_EVENTS.c.student_id, student_ids)
