"""The request's database handle, engines, and URL handling.

Strawberry resolves sibling fields concurrently; one AsyncSession must never
be used by two coroutines at once, so every statement goes through ``Db``,
which holds a lock around the session. Data functions never commit: the
mutation that owns the transaction does (``Db.commit``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.sql import Executable


def async_url(url: str) -> str:
    """Accept the plain forms people write and pick the async driver.

    ``sqlite:///PATH`` becomes aiosqlite, ``postgresql://...`` (or
    ``postgres://``) becomes asyncpg; a URL that names a driver is kept.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if parsed.drivername == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in {"postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend not in {"sqlite", "postgresql"}:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def create_engine(
    url: str, *, statement_timeout_ms: int | None = None, echo: bool = False
) -> AsyncEngine:
    full = async_url(url)
    if full.startswith("sqlite"):
        engine = create_async_engine(full, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if statement_timeout_ms:
        connect_args["server_settings"] = {"statement_timeout": str(statement_timeout_ms)}
    return create_async_engine(
        full,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


class Db:
    """One request's session, guarded so that concurrent resolvers queue."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        bind = self.session.bind
        assert bind is not None, "the session is bound to the app's engine"
        return bind.dialect.name

    async def all(self, statement: Executable) -> Sequence[Row[Any]]:
        async with self._lock:
            result = await self.session.execute(statement)
            return result.all()

    async def first(self, statement: Executable) -> Row[Any] | None:
        async with self._lock:
            result = await self.session.execute(statement)
            return result.first()

    async def scalar(self, statement: Executable) -> Any:
        async with self._lock:
            result = await self.session.execute(statement)
            return result.scalar()

    async def execute(self, statement: Executable) -> sa.CursorResult[Any]:
        async with self._lock:
            result = await self.session.execute(statement)
            assert isinstance(result, sa.CursorResult)
            return result

    async def commit(self) -> None:
        async with self._lock:
            await self.session.commit()

    async def rollback(self) -> None:
        async with self._lock:
            await self.session.rollback()

    async def close(self) -> None:
        async with self._lock:
            await self.session.close()
