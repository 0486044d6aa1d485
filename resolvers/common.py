"""Small helpers shared by the domain modules of the data layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from resolvers.db import Db

K = TypeVar("K", bound=Hashable)
P = TypeVar("P", bound=Hashable)
R = TypeVar("R")


def in_key_order(
    keys: Sequence[K], rows: Sequence[Row[Any]], key: Callable[[Row[Any]], K]
) -> list[Row[Any] | None]:
    """One result per key, in key order (what a DataLoader must return)."""
    found = {key(row): row for row in rows}
    return [found.get(k) for k in keys]


def grouped_in_key_order(
    keys: Sequence[K], rows: Sequence[Row[Any]], key: Callable[[Row[Any]], K]
) -> list[list[Row[Any]]]:
    groups: dict[K, list[Row[Any]]] = {k: [] for k in keys}
    for row in rows:
        groups[key(row)].append(row)
    return [groups[k] for k in keys]


async def rows_by_id(
    db: Db, table: sa.Table, ids: Sequence[int], *where: ColumnElement[bool]
) -> list[Row[Any] | None]:
    """Rows of ``table`` for each id (None where missing or filtered out)."""
    rows = await db.all(sa.select(table).where(table.c.id.in_(list(ids)), *where))
    return in_key_order(ids, rows, lambda r: r.id)


def split_prefixed(row: Row[Any], prefix: str) -> SimpleNamespace:
    """The columns of a joined row selected under ``prefix``, as a row-like
    object (attribute access and ``_mapping``) to prime a loader with."""
    values = {k.removeprefix(prefix): v for k, v in row._mapping.items() if k.startswith(prefix)}
    return SimpleNamespace(**values, _mapping=values)


def name_search(
    search: str,
    *columns: ColumnElement[Any],
    restricted: Sequence[ColumnElement[Any]] = (),
    may_read_restricted: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """Case-insensitive match of every word of ``search`` against any column.

    ``restricted`` columns (a restricted field's, such as an email) are
    matched only where ``may_read_restricted`` holds: a search never matches
    on what the viewer may not read."""
    conditions = []
    for word in search.split():
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        matches: list[ColumnElement[bool]] = [
            sa.func.lower(c).like(pattern, escape="\\") for c in columns
        ]
        if restricted and may_read_restricted is not None:
            matches.append(
                sa.and_(
                    may_read_restricted,
                    sa.or_(*[sa.func.lower(c).like(pattern, escape="\\") for c in restricted]),
                )
            )
        conditions.append(sa.or_(*matches))
    return sa.and_(*conditions) if conditions else sa.true()


def grouped_by_parameters(
    fetch: Callable[[Sequence[int], P], Awaitable[list[R]]],
) -> Callable[[list[tuple[int, P]]], Awaitable[list[R]]]:
    """Batch keys (parent id, parameters): one fetch per distinct parameters."""

    async def load(keys: list[tuple[int, P]]) -> list[R]:
        by_parameters: dict[P, list[int]] = {}
        for parent, parameters in keys:
            by_parameters.setdefault(parameters, []).append(parent)
        results: dict[tuple[int, P], R] = {}
        for parameters, parents in by_parameters.items():
            unique = list(dict.fromkeys(parents))
            for parent, result in zip(unique, await fetch(unique, parameters), strict=True):
                results[(parent, parameters)] = result
        return [results[key] for key in keys]

    return load
