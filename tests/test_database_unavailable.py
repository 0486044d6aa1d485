"""When the database is unreachable, requests fail fast with a clear error
(503 SERVICE_UNAVAILABLE, Retry-After), /readyz says so and /healthz does not
care. The full stop-and-restart run under load is loadtest/fault.py."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from gql.http.app import create_app, signer_for
from gql.settings import Settings
from resolvers.db import translate
from tests.lifespan import started

UNREACHABLE = {
    "sqlite": "sqlite:///{tmp}/no-such-directory/db.sqlite3",
    "postgres": "postgresql://postgres@127.0.0.1:1/nothing_listens_here",
}


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
async def test_an_unreachable_database_fails_fast_and_clearly(kind: str, tmp_path: Path) -> None:
    settings = Settings(env="dev", database_url=UNREACHABLE[kind].format(tmp=tmp_path))
    app = create_app(settings)
    token = signer_for(settings).issue(account_id=1, session_id="s", now=dt.datetime.now(dt.UTC))
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"status": "unavailable", "database": "unreachable"}
            began = time.monotonic()
            response = await client.post(
                "/graphql",
                json={"query": "{ viewer { isAuthenticated } }"},
                # A well-signed token: checking its session needs the database.
                headers={"authorization": f"Bearer {token}"},
            )
            elapsed = time.monotonic() - began
    assert elapsed < 5
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["errors"][0]["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
    assert (
        response.json()["errors"][0]["message"] == "The database is unavailable; try again shortly."
    )


@pytest.mark.parametrize(
    ("error", "translated"),
    [
        (
            asyncpg.exceptions.AdminShutdownError("the database system is shutting down"),
            "DatabaseUnavailable",
        ),
        (
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            "DatabaseUnavailable",
        ),
        (
            asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
            "DatabaseUnavailable",
        ),
        (
            asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
            "StatementTimedOut",
        ),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), None),
    ],
)
def test_database_errors_are_translated_by_their_sqlstate(
    error: Exception, translated: str | None
) -> None:
    class AdaptedError(Exception):
        """How SQLAlchemy's asyncpg adapter wraps the driver's error."""

    adapted = AdaptedError(str(error))
    adapted.__cause__ = error
    result = translate(sa.exc.DBAPIError("SELECT 1", {}, adapted))
    assert (type(result).__name__ if result is not None else None) == translated
