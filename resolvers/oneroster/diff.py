"""Matching one table to the file set and writing only the difference, in bulk.

Every table of the import goes through ``sync_table``: one query loads the
rows in scope keyed by their natural key, the difference is computed in
Python, and inserts, updates and deletes go out as executemany batches. The
statements therefore depend on the number of tables, never on the number of
rows, and a file set that changes nothing writes nothing (the import is
idempotent and its second run is read-only).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

T = TypeVar("T")
Key = tuple[Any, ...]
Values = tuple[Any, ...]

# Rows per executemany call: large enough that round trips do not matter,
# small enough to bound the parameter lists held in memory at once.
BATCH_SIZE = 5000


class Absent(enum.Enum):
    """What happens to a row in scope that the file set no longer lists."""

    KEEP = "keep"
    REMOVE = "remove"


@dataclass(frozen=True)
class Changes:
    """What one import did to one kind of record."""

    added: int = 0
    changed: int = 0
    deactivated: int = 0
    removed: int = 0

    @property
    def total(self) -> int:
        return self.added + self.changed + self.deactivated + self.removed

    def __add__(self, other: Changes) -> Changes:
        return Changes(
            added=self.added + other.added,
            changed=self.changed + other.changed,
            deactivated=self.deactivated + other.deactivated,
            removed=self.removed + other.removed,
        )


@dataclass(frozen=True)
class TableSync:
    """How one table is matched to the file set.

    ``key`` is the natural key (``district_id, sourced_id`` or a link's two
    ids); ``values`` are the columns the SIS owns, compared and written.
    ``constants`` are written on insert only (defaults the SIS never sets).
    """

    table: sa.Table
    key: tuple[str, ...]
    values: tuple[str, ...]
    constants: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_id(self) -> bool:
        return "id" in self.table.c


# Given the row as stored (None when new), as the file set describes it, and
# its key, the row to store: this is where "when did it change" columns are kept.
Settle = Callable[[Values | None, Values, Key], Values]
# Given a row the file set no longer lists, keep it, remove it, or store it
# changed (deactivated).
OnAbsent = Callable[[Key, Values], Values | Absent]


@dataclass(frozen=True)
class Synced:
    changes: Changes
    # Every row in scope after the sync, by key (tables with an ``id``).
    ids: Mapping[Key, int]
    # With ``is_active``: by the key's first part (the district for people),
    # the rows active before the sync and those it deactivates.
    active_before: Mapping[Any, int] = field(default_factory=dict)
    deactivated_in: Mapping[Any, int] = field(default_factory=dict)


async def sync_table(
    connection: AsyncConnection,
    spec: TableSync,
    desired: Mapping[Key, Values],
    *,
    scope: ColumnElement[bool],
    settle: Settle | None = None,
    on_absent: OnAbsent | None = None,
    is_active: Callable[[Values], bool] | None = None,
) -> Synced:
    """Make the rows of ``spec.table`` within ``scope`` match ``desired``."""
    existing, duplicate_ids = await _load(connection, spec, scope)
    inserts: list[dict[str, Any]] = []
    updates: list[tuple[Key, int | None, Values]] = []
    removals: list[tuple[Key, int | None]] = [((), row_id) for row_id in duplicate_ids]
    added = changed = deactivated = 0
    names = spec.key + spec.values
    active_before: dict[Any, int] = {}
    deactivated_in: dict[Any, int] = {}
    if is_active is not None:
        for key, (_, current) in existing.items():
            if is_active(current):
                active_before[key[0]] = active_before.get(key[0], 0) + 1

    def count_update(key: Key, before: Values, after: Values) -> None:
        nonlocal changed, deactivated
        if is_active is not None and is_active(before) and not is_active(after):
            deactivated += 1
            deactivated_in[key[0]] = deactivated_in.get(key[0], 0) + 1
        else:
            changed += 1

    for key, wanted in desired.items():
        found = existing.get(key)
        if found is None:
            stored = settle(None, wanted, key) if settle else wanted
            inserts.append({**spec.constants, **dict(zip(names, key + stored, strict=True))})
            added += 1
            continue
        row_id, current = found
        stored = settle(current, wanted, key) if settle else wanted
        if stored != current:
            updates.append((key, row_id, stored))
            count_update(key, current, stored)
    if on_absent is not None:
        for key, (row_id, current) in existing.items():
            if key in desired:
                continue
            outcome = on_absent(key, current)
            if outcome is Absent.REMOVE:
                removals.append((key, row_id))
            elif outcome is not Absent.KEEP and outcome != current:
                updates.append((key, row_id, outcome))
                count_update(key, current, outcome)
    await _remove(connection, spec, removals)
    await _update(connection, spec, updates)
    await _insert(connection, spec, inserts)
    changes = Changes(added, changed, deactivated, len(removals))
    if not spec.has_id:
        return Synced(changes, {}, active_before, deactivated_in)
    if inserts or removals:
        ids = await _ids(connection, spec, scope)
    else:
        ids = {key: row_id for key, (row_id, _) in existing.items() if row_id is not None}
    return Synced(changes, ids, active_before, deactivated_in)


async def _load(
    connection: AsyncConnection, spec: TableSync, scope: ColumnElement[bool]
) -> tuple[dict[Key, tuple[int | None, Values]], list[int]]:
    """The stored rows in scope by key; ids of extra rows sharing a key.

    Only tables without a unique key can hold such duplicates (SIS role
    grants); the import removes them so that one key is one row again.
    """
    table = spec.table
    id_columns = [table.c.id] if spec.has_id else []
    columns = [*id_columns, *(table.c[name] for name in spec.key + spec.values)]
    # Oldest first, so that of rows sharing a key the oldest is kept.
    query = sa.select(*columns).where(scope).order_by(*id_columns)
    result = await connection.execute(query)
    offset, width = len(id_columns), len(spec.key)
    existing: dict[Key, tuple[int | None, Values]] = {}
    duplicates: list[int] = []
    for row in result:
        values = tuple(row)
        key = values[offset : offset + width]
        row_id = values[0] if offset else None
        if key in existing:
            if row_id is not None:
                duplicates.append(row_id)
            continue
        existing[key] = (row_id, values[offset + width :])
    return existing, duplicates


async def _ids(
    connection: AsyncConnection, spec: TableSync, scope: ColumnElement[bool]
) -> dict[Key, int]:
    table = spec.table
    keys = [table.c[name] for name in spec.key]
    result = await connection.execute(sa.select(table.c.id, *keys).where(scope))
    return {tuple(row[1:]): row[0] for row in result}


async def _insert(
    connection: AsyncConnection, spec: TableSync, rows: Sequence[dict[str, Any]]
) -> None:
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        await _copy(connection, spec.table, rows)
        return
    for batch in _batches(rows):
        await connection.execute(spec.table.insert(), batch)


async def _copy(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert with PostgreSQL's COPY, inside the import's transaction.

    A first import of a large district is mostly inserts, and COPY takes
    them several times faster than executemany INSERTs. Values go through
    the columns' bind processing first (aware datetimes become naive UTC),
    exactly as they would in an INSERT, and COPY is given the columns'
    Python-side defaults that an INSERT would have added.
    """
    defaults = _python_defaults(table, rows[0])
    names = [*rows[0], *defaults]
    processors = [table.c[name].type.bind_processor(connection.dialect) for name in names]
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    # SQLAlchemy's driver adapter opens the transaction lazily; the load
    # before every insert has opened it, and COPY must not run outside it.
    if driver is None or not driver.is_in_transaction():
        raise RuntimeError("COPY must run inside the import's transaction")
    for batch in _batches(rows):
        records = [
            tuple(
                value if process is None else process(value)
                for process, value in zip(
                    processors, [*row.values(), *defaults.values()], strict=True
                )
            )
            for row in batch
        ]
        await driver.copy_records_to_table(table.name, records=records, columns=names)


async def _update(
    connection: AsyncConnection, spec: TableSync, updates: Sequence[tuple[Key, int | None, Values]]
) -> None:
    if not updates:
        return
    table = spec.table
    statement = (
        table.update()
        .where(*_locator(spec))
        .values(
            {name: sa.bindparam(f"new_{name}", type_=table.c[name].type) for name in spec.values}
        )
    )
    parameters = [
        {
            **_located(spec, key, row_id),
            **{f"new_{n}": v for n, v in zip(spec.values, values, strict=True)},
        }
        for key, row_id, values in updates
    ]
    for batch in _batches(parameters):
        await connection.execute(statement, batch)


async def _remove(
    connection: AsyncConnection, spec: TableSync, removals: Sequence[tuple[Key, int | None]]
) -> None:
    if not removals:
        return
    table = spec.table
    if spec.has_id:
        for ids in _batches([row_id for _, row_id in removals]):
            await connection.execute(table.delete().where(table.c.id.in_(ids)))
        return
    statement = table.delete().where(*_locator(spec))
    parameters = [_located(spec, key, None) for key, _ in removals]
    for batch in _batches(parameters):
        await connection.execute(statement, batch)


def _python_defaults(table: sa.Table, given: Mapping[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for column in table.c:
        default = column.default
        if column.name in given or not isinstance(default, sa.ColumnDefault):
            continue
        # SQLAlchemy wraps a callable default to take the execution context.
        defaults[column.name] = default.arg(None) if default.is_callable else default.arg
    return defaults


def _locator(spec: TableSync) -> list[ColumnElement[bool]]:
    """WHERE clauses naming one row: its id, or its key for link tables."""
    table = spec.table
    names = ("id",) if spec.has_id else spec.key
    return [table.c[n] == sa.bindparam(f"match_{n}", type_=table.c[n].type) for n in names]


def _located(spec: TableSync, key: Key, row_id: int | None) -> dict[str, Any]:
    if spec.has_id:
        return {"match_id": row_id}
    return {f"match_{name}": value for name, value in zip(spec.key, key, strict=True)}


def _batches(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]
