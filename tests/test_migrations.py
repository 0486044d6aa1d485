"""Migrations apply cleanly to empty SQLite and PostgreSQL databases and
match the tables the code declares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.tables import metadata


async def test_migrated_database_has_every_declared_table(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert set(metadata.tables) <= names
    assert "alembic_version" in names


async def test_migrations_match_the_declared_tables(engine: AsyncEngine) -> None:
    def diff(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        changes = await connection.run_sync(diff)
    assert changes == []
