"""'Nothing changed': every row of every table, before and after."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.tables import metadata


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as connection:
        for name, table in metadata.tables.items():
            order = list(table.primary_key.columns) or list(table.columns)
            result = await connection.execute(sa.select(table).order_by(*order))
            rows[name] = [tuple(r) for r in result.all()]
    return rows
