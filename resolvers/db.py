"""The request's database handle, engines, and URL handling.

Strawberry resolves sibling fields concurrently; one AsyncSession must never
be used by two coroutines at once, so every statement goes through ``Db``,
which holds a lock around the session. Data functions never commit: the
mutation that owns the transaction does (``Db.commit``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.sql import Executable

T = TypeVar("T")


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
    # hide_parameters: a database error's message (logged in full when it is
    # unexpected) must not carry the statement's values: codes, hashes, PINs.
    full = async_url(url)
    if full.startswith("sqlite"):
        engine = create_async_engine(
            full, echo=echo, hide_parameters=True, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    # Fail fast when PostgreSQL is down or hung: a short connect timeout and
    # a short wait for a pooled connection (SQLAlchemy's default is 30 s).
    connect_args: dict[str, Any] = {"timeout": 3}
    if statement_timeout_ms:
        connect_args["server_settings"] = {"statement_timeout": str(statement_timeout_ms)}
    return create_async_engine(
        full,
        echo=echo,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=5,
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


class DatabaseUnavailable(Exception):
    """The database cannot be reached, or dropped the connection mid-request."""


class StatementTimedOut(Exception):
    """A statement ran past PostgreSQL's ``statement_timeout``."""


_QUERY_CANCELED = "57014"
# Connection exceptions (class 08) and the server shutting down, crashing or
# still starting (57P01-57P03): the database is not there, whatever the query.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def translate(exc: BaseException) -> Exception | None:
    """The one place database-library errors are translated: connectivity
    failures and statement timeouts get their own exceptions; anything else
    (a constraint, a bug) is left alone, to be masked as an internal error."""
    if isinstance(exc, DatabaseUnavailable | StatementTimedOut):
        return exc
    if isinstance(exc, sa.exc.DBAPIError):
        cause = exc.orig.__cause__ if exc.orig is not None else None
        sqlstate = getattr(cause, "sqlstate", None) or getattr(exc.orig, "sqlstate", None)
        if sqlstate == _QUERY_CANCELED:
            return StatementTimedOut("a statement ran past the statement timeout")
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_STATES):
            return DatabaseUnavailable(str(exc.orig))
        if exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            return DatabaseUnavailable(str(exc.orig))
        return None
    if isinstance(exc, OSError | sa.exc.TimeoutError | sa.exc.PendingRollbackError):
        return DatabaseUnavailable(str(exc))
    return None


class Db:
    """One request's session, guarded so that concurrent resolvers queue.

    Each statement runs shielded from cancellation: when graphql-core cancels
    sibling fields (an error propagated to a nullable parent), a statement in
    flight finishes instead of leaving the connection half-used; closing the
    session takes the same lock, so it waits for it.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        bind = self.session.bind
        assert bind is not None, "the session is bound to the app's engine"
        return bind.dialect.name

    async def _locked(self, work: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self._lock:
                try:
                    return await work()
                except Exception as exc:
                    translated = translate(exc)
                    if translated is None or translated is exc:
                        raise
                    raise translated from exc

        return await asyncio.shield(run())

    async def _execute(self, statement: Executable, parameters: Any = None) -> sa.CursorResult[Any]:
        # Core statements on the session's connection (same transaction):
        # the session's own execute goes through the ORM's execution path,
        # which costs more than the statement on SQLite (bench/RESULTS.md).
        connection = await self.session.connection()
        return await connection.execute(statement, parameters)

    async def all(self, statement: Executable, parameters: Any = None) -> Sequence[Row[Any]]:
        async def work() -> Sequence[Row[Any]]:
            return (await self._execute(statement, parameters)).all()

        return await self._locked(work)

    async def first(self, statement: Executable, parameters: Any = None) -> Row[Any] | None:
        async def work() -> Row[Any] | None:
            return (await self._execute(statement, parameters)).first()

        return await self._locked(work)

    async def scalar(self, statement: Executable) -> Any:
        async def work() -> Any:
            return (await self._execute(statement)).scalar()

        return await self._locked(work)

    async def execute(self, statement: Executable, parameters: Any = None) -> sa.CursorResult[Any]:
        async def work() -> sa.CursorResult[Any]:
            return await self._execute(statement, parameters)

        return await self._locked(work)

    async def commit(self) -> None:
        await self._locked(self.session.commit)

    async def rollback(self) -> None:
        await self._locked(self.session.rollback)

    async def close(self) -> None:
        await self._locked(self.session.close)
