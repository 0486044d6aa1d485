"""The access review: who can see a student now, and who has looked.

The access log is read newest first: ``resolvers.pagination`` with
``descending`` (``after`` is ``(at, id) < cursor``, rank by ``at DESC, id
DESC``); ix_access_events_student_at serves it read backwards, and a
backward page reads it forwards.
"""

from __future__ import annotations

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
from resolvers.tables import ACCESS_EVENTS, ACCOUNTS, GRANTS, STUDENTS

# Newest first (descending): the cursor holds (at, id) and the next page lies below it.
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


async def log_pages_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int], request: PageRequest
) -> list[Page]:
    """The same page of each student's access log, newest first, in one
    statement (ROW_NUMBER per student)."""
    return await keyset_pages_by_parent(
        db,
        _events(viewer),
        ACCESS_EVENTS.c.student_id,
        LOG_ORDER,
        student_ids,
        request,
        descending=True,
    )


async def log_counts_by_student(db: Db, viewer: Viewer, student_ids: Sequence[int]) -> list[int]:
    return await counts_by_parent(db, _events(viewer), ACCESS_EVENTS.c.student_id, student_ids)
