"""Connection requests (the PIN flow): the read side."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.viewer import Viewer
from resolvers.common import in_key_order
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, counts_by_parent, keyset_pages_by_parent
from resolvers.scope import capability_student_filter
from resolvers.tables import CONNECTION_REQUESTS, STUDENTS, ConnectionRequestStatus

ORDER = (CONNECTION_REQUESTS.c.created_at, CONNECTION_REQUESTS.c.id)


def effective_status(row: Any, now: dt.datetime) -> str:
    """A waiting request past its expiry is REQUEST_EXPIRED, stored or not."""
    if row.status == ConnectionRequestStatus.WAITING_FOR_ACTIVATION and row.expires_at <= now:
        return ConnectionRequestStatus.REQUEST_EXPIRED
    return str(row.status)


def _requests(viewer: Viewer) -> sa.Select[Any]:
    return (
        sa.select(CONNECTION_REQUESTS)
        .join(STUDENTS, STUDENTS.c.id == CONNECTION_REQUESTS.c.student_id)
        # A request names a third party: the revoke view's (PORTAL_VIEW).
        .where(capability_student_filter(viewer.scope, Capability.PORTAL_VIEW))
    )


async def request_pages_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int], request: PageRequest
) -> list[Page]:
    return await keyset_pages_by_parent(
        db, _requests(viewer), CONNECTION_REQUESTS.c.student_id, ORDER, student_ids, request
    )


async def request_counts_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int]
) -> list[int]:
    return await counts_by_parent(
        db, _requests(viewer), CONNECTION_REQUESTS.c.student_id, student_ids
    )


async def requests_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(_requests(viewer).where(CONNECTION_REQUESTS.c.id.in_(list(ids))))
    return in_key_order(ids, rows, lambda r: r.id)
