"""Keyset pagination: page 50 costs what page 1 costs, in both directions.

A page is ordered by a tuple of columns ending in the primary key; the
cursor is that tuple, signed for its list (``Cursors``). ``after`` becomes ``(a, b, id) > (:a, :b, :id)``
and ``before`` ``(a, b, id) < (...)`` (row values work on SQLite and
PostgreSQL), served by the index on the same columns. A backward page
(Relay's ``last``/``before``) reverses the ORDER BY, fetches ``last + 1``
rows (the index read backwards, the same cost as a forward page) and flips
them back, so edges are always in the list's order. Nested connections under
a list are fetched for every parent at once with ROW_NUMBER() OVER
(PARTITION BY parent), one statement per level.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from resolvers.db import Db


class InvalidCursor(ValueError):
    """A cursor this server did not make, or made for another list."""


# Used when no key is configured (tests that build a context by hand): the
# same for the whole process, so cursors survive from one request to the next.
PROCESS_CURSOR_KEY = secrets.token_bytes(32)
MAX_CURSOR_LENGTH = 512
_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Cursors:
    """The cursors of one list: ``<key values>.<HMAC>``, both base64url.

    The HMAC-SHA256 (with a key derived from the server's secret) covers the
    list's ``tag`` (which field, sorted by which columns) and the values, so
    a cursor works only on the list that gave it out: another list's cursor,
    an edited one or one signed with another secret is ``InvalidCursor``.
    Equal for equal keys and tags, so page requests still batch in loaders.
    """

    key: bytes
    tag: str

    def _mac(self, payload: bytes) -> bytes:
        message = self.tag.encode() + b"\x00" + payload
        return hmac.new(self.key, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, values: Sequence[Any]) -> str:
        payload = orjson.dumps([_plain(v) for v in values])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str, order: Sequence[ColumnElement[Any]]) -> tuple[Any, ...]:
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise InvalidCursor("the cursor is not one this list gave out")
        body, mac = cursor.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise InvalidCursor("the cursor is not one this list gave out") from exc
        if _b64(payload) != body or _b64(given) != mac:
            raise InvalidCursor("the cursor is not one this list gave out")  # not as we wrote it
        if not hmac.compare_digest(given, self._mac(payload)):
            raise InvalidCursor("the cursor is not one this list gave out")
        return _decode_values(payload, order)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``size`` rows after ``after`` (forward: Relay's ``first``), or the
    ``size`` rows just before ``before`` (``backward``: Relay's ``last``).
    Both bounds may be given; each narrows the window. ``cursors`` makes
    the page's cursors."""

    cursors: Cursors
    size: int
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None
    backward: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row[Any]]
    cursors: Sequence[str]
    has_next: bool
    has_previous: bool


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _decode_values(payload: bytes, order: Sequence[ColumnElement[Any]]) -> tuple[Any, ...]:
    """The key values of a signed cursor, checked against the order's types."""
    try:
        values = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidCursor("the cursor is not one this list gave out") from exc
    if not isinstance(values, list) or len(values) != len(order):
        raise InvalidCursor("the cursor is not one this list gave out")
    decoded: list[Any] = []
    for value, column in zip(values, order, strict=True):
        python_type = _python_type(column)
        try:
            if value is None:
                decoded.append(None)
            elif python_type is dt.datetime:
                parsed = dt.datetime.fromisoformat(value)
                if parsed.tzinfo is None:  # this server's cursors carry UTC times
                    raise InvalidCursor("the cursor is not one this list gave out")
                decoded.append(parsed)
            elif python_type is dt.date:
                decoded.append(dt.date.fromisoformat(value))
            elif (
                python_type is int and isinstance(value, int) and not isinstance(value, bool)
            ) or (python_type in {str, object} and isinstance(value, str)):  # object: AutoString
                decoded.append(value)
            else:
                raise InvalidCursor("the cursor is not one this list gave out")
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("the cursor is not one this list gave out") from exc
    return tuple(decoded)


def _python_type(column: ColumnElement[Any]) -> type:
    try:
        python_type: type = column.type.python_type
    except NotImplementedError:
        return str
    return python_type


def _key(column: ColumnElement[Any]) -> str:
    """The name an order column is selected under (and read back by)."""
    if column.key is None:
        raise ValueError(f"order column {column!r} needs a name")
    return column.key


def _beyond(
    order: Sequence[ColumnElement[Any]], key: tuple[Any, ...], *, greater: bool
) -> ColumnElement[bool]:
    row = sa.tuple_(*order)
    bound = sa.tuple_(*[sa.literal(v, type_=c.type) for v, c in zip(key, order, strict=True)])
    return row > bound if greater else row < bound


def _window(
    query: sa.Select[Any],
    order: Sequence[ColumnElement[Any]],
    request: PageRequest,
    descending: bool,
) -> sa.Select[Any]:
    """``after`` and ``before`` as bounds in the list's own order."""
    if request.after is not None:
        query = query.where(_beyond(order, request.after, greater=not descending))
    if request.before is not None:
        query = query.where(_beyond(order, request.before, greater=descending))
    return query


def _scan(
    order: Sequence[ColumnElement[Any]], request: PageRequest, descending: bool
) -> list[ColumnElement[Any]]:
    """The ORDER BY that reads the page: the list's order, reversed for a
    backward page (the same index, read the other way)."""
    reverse = request.backward != descending
    return [c.desc() if reverse else c.asc() for c in order]


async def keyset_page(
    db: Db,
    query: sa.Select[Any],
    order: Sequence[ColumnElement[Any]],
    request: PageRequest,
    *,
    descending: bool = False,
) -> Page:
    """One page of ``query`` (already filtered by scope), ordered by ``order``
    (every column ascending, or with ``descending`` every one descending).

    The order columns must be selected by ``query`` under their own names.
    """
    query = _window(query, order, request, descending)
    rows = await db.all(query.order_by(*_scan(order, request, descending)).limit(request.size + 1))
    return _page(rows, order, request)


def _page(
    rows: Sequence[Row[Any]], order: Sequence[ColumnElement[Any]], request: PageRequest
) -> Page:
    """``size + 1`` rows as read (backward pages in reverse): the extra row
    says whether there is more in the reading direction."""
    more = len(rows) > request.size
    rows = rows[: request.size]
    if request.backward:
        rows = rows[::-1]
        has_next, has_previous = request.before is not None, more
    else:
        has_next, has_previous = more, request.after is not None
    keys = [_key(c) for c in order]
    cursors = [request.cursors.encode([row._mapping[k] for k in keys]) for row in rows]
    return Page(rows=rows, cursors=cursors, has_next=has_next, has_previous=has_previous)


async def keyset_pages_by_parent(
    db: Db,
    query: sa.Select[Any],
    parent: ColumnElement[Any],
    order: Sequence[ColumnElement[Any]],
    parents: Sequence[Any],
    request: PageRequest,
    *,
    descending: bool = False,
) -> list[Page]:
    """The same page of a nested list for many parents, in one statement."""
    query = _window(query, order, request, descending)
    ranked = query.add_columns(
        sa.func.row_number(type_=RANK_TYPE)
        .over(partition_by=parent, order_by=_scan(order, request, descending))
        .label("_rank")
    ).where(parent.in_(list(parents)))
    rank = _outer("_rank", RANK_TYPE)
    outer = _outer(_key(parent), parent.type)
    rows = await db.all(
        sa.select(
            *[_outer(name, c.type).label(name) for name, c in ranked.selected_columns.items()]
        )
        .select_from(ranked.subquery(RANKED))
        .where(rank <= request.size + 1)
        .order_by(outer, rank)
    )
    grouped: dict[Any, list[Row[Any]]] = {p: [] for p in parents}
    for row in rows:
        grouped[row._mapping[_key(parent)]].append(row)
    return [_page(grouped[p], order, request) for p in parents]


# The outer query names the subquery's columns by text (typed, so results are
# converted as usual) instead of through ``subquery.c``: SQLAlchemy builds a
# proxy of every column of the subquery for ``.c``, foreign keys and events
# included, about 1 ms for a grants row with its student and account, on
# every call (bench/RESULTS.md, W2).
RANKED = "ranked"
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


RANK_TYPE = sa.Integer()


@functools.lru_cache(maxsize=2048)
def _outer(name: str, type_: Any) -> ColumnElement[Any]:
    assert _NAME.fullmatch(name), name  # names of our own labels and columns
    return sa.literal_column(f"{RANKED}.{name}", type_=type_)


@functools.lru_cache(maxsize=2048)
def _labelled(name: str, type_: Any) -> ColumnElement[Any]:
    """Immutable, so shared by every statement (the types are the tables')."""
    return _outer(name, type_).label(name)


async def count(db: Db, query: sa.Select[Any]) -> int:
    """How many rows ``query`` has: the same scoped query, counted."""
    total = await db.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)


async def counts_by_parent(
    db: Db, query: sa.Select[Any], parent: ColumnElement[Any], parents: Sequence[Any]
) -> list[int]:
    inner = query.where(parent.in_(list(parents))).order_by(None).subquery(RANKED)
    key = _outer(_key(parent), parent.type)
    rows = await db.all(sa.select(key, sa.func.count()).select_from(inner).group_by(key))
    found = {parent_id: int(total) for parent_id, total in (tuple(row) for row in rows)}
    return [found.get(p, 0) for p in parents]
