"""What every write path shares: refusals, lookups for write, row locks.

A refusal is an expected outcome (a bad code, a wrong PIN, an id out of
scope): the schema turns it into a ``userErrors`` entry and the mutation
rolls back. Row locks make check-then-write atomic against a concurrent
request: a reset racing a redemption, two resets of one student.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.directory.students import students_in_scope
from resolvers.scope import student_filter
from resolvers.tables import STUDENTS


@dataclass(frozen=True, slots=True)
class Refusal:
    """An expected failure, with a stable code and the input field at fault."""

    code: str
    message: str
    field: tuple[str, ...] | None = None


def not_found(what: str, field: tuple[str, ...]) -> Refusal:
    """The one answer for ids that are malformed, of another type, or out of
    scope: never a hint that the object exists."""
    return Refusal("NOT_FOUND", f"No {what} with this id.", field)


def require(allowed: bool, message: str) -> None:
    """The viewer reaches the object but may not do this to it: FORBIDDEN,
    raised by the lookup inside the mutation's transaction, before any write
    (docs/mutations.md, step 3)."""
    if not allowed:
        raise Forbidden(message)


async def lock_rows(
    db: Db,
    table: sa.Table,
    where: ColumnElement[bool],
    *,
    touch: sa.Column[Any],
    fetch: bool = True,
) -> Sequence[Row[Any]]:
    """The rows matching ``where``, locked until the transaction ends.

    PostgreSQL locks the rows themselves (``FOR NO KEY UPDATE``: inserts
    that reference them, such as a grant naming its code, are not blocked,
    so lock order students → codes cannot deadlock with them). A concurrent
    locker waits, then sees the committed row.

    SQLite has one writer at a time for the whole database. Its driver
    starts a transaction at the first write, so a write that changes
    nothing (``touch = touch``) as the first statement takes the write lock,
    waiting for another writer to finish; what is read after it is current.
    ``fetch=False``: only the lock is wanted (SQLite then skips the read).
    """
    order = list(table.primary_key.columns)
    if db.dialect == "postgresql":
        return await db.all(
            sa.select(table).where(where).order_by(*order).with_for_update(key_share=True)
        )
    await db.execute(sa.update(table).where(where).values({touch.name: touch}))
    if not fetch:
        return []
    return await db.all(sa.select(table).where(where).order_by(*order))


async def students_for_write(
    db: Db,
    viewer: Viewer,
    student_ids: Sequence[int | None],
    capability: Capability,
    *,
    field: tuple[str, ...],
    lock: bool = False,
) -> tuple[list[Row[Any]], list[Refusal]]:
    """The students an input names, each looked up through the viewer's
    scope in one statement: out of scope (or not a student id, None here) is
    a NOT_FOUND refusal at its index; in scope without ``capability`` is
    FORBIDDEN. Duplicates are kept once, in input order.

    ``lock``: the lookup also takes the students' row locks (``lock_rows``:
    the first lock of every portal write path, students then codes), so the
    rows returned are current and the write that follows needs no lock
    statement of its own. Only rows in scope are locked on PostgreSQL."""
    wanted = sorted({pk for pk in student_ids if pk is not None})
    if lock and wanted:
        where = sa.and_(STUDENTS.c.id.in_(wanted), student_filter(viewer.scope))
        locked = await lock_rows(db, STUDENTS, where, touch=STUDENTS.c.status)
        found = {row.id: row for row in locked}
    else:
        found = {
            row.id: row for row in await students_in_scope(db, viewer, wanted) if row is not None
        }
    rows: dict[int, Row[Any]] = {}
    refusals: list[Refusal] = []
    for index, pk in enumerate(student_ids):
        row = found.get(pk) if pk is not None else None
        if row is None:
            refusals.append(not_found("student", (*field, str(index))))
            continue
        held = viewer.scope.student_capabilities(
            student_id=row.id, school_id=row.school_id, district_id=row.district_id
        )
        require(capability in held, "Your role does not allow this for one of these students.")
        rows.setdefault(row.id, row)
    return list(rows.values()), refusals
