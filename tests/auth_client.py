"""Driving the real ASGI app for the sign-in tests: settings, a client, rows.

The app runs with its lifespan (engine, schema, the outbox mailer) and is
reached through httpx's ASGI transport; argon2 is set to its cheapest cost
so that hashing does not dominate the suite (the production cost is a
setting, checked in prod by ``Settings``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import create_app
from gql.settings import Settings
from resolvers import tables
from tests.lifespan import started

PUBLIC_URL = "http://test"


def auth_settings(engine: AsyncEngine, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": engine.url.render_as_string(hide_password=False),
        "public_url": PUBLIC_URL,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "argon2_parallelism": 1,
    }
    return Settings(**(values | overrides))


class AppClient(httpx.AsyncClient):
    """A client of the app whose source address can change between
    requests (the rate limits are per client address)."""

    def __init__(self, app: Any, address: str) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=(address, 40000))
        super().__init__(transport=self._asgi, base_url=PUBLIC_URL)

    def from_address(self, address: str) -> None:
        self._asgi.client = (address, 40000)


@asynccontextmanager
async def serving(
    settings: Settings,
    *,
    client_address: str = "192.0.2.10",
    clock: Callable[[], dt.datetime] | None = None,
) -> AsyncIterator[AppClient]:
    app = create_app(settings, clock=clock)
    async with started(app) as asgi, AppClient(asgi, client_address) as http:
        yield http


async def graphql(
    http: httpx.AsyncClient,
    query: str,
    *,
    bearer: str | None = None,
    csrf: str | None = None,
    **variables: Any,
) -> httpx.Response:
    headers = {}
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    if csrf is not None:
        headers["x-csrf-token"] = csrf
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def rows(engine: AsyncEngine, table: type[tables.TableModel], *order: str) -> list[Any]:
    columns = table.__table__.c
    async with engine.connect() as connection:
        result = await connection.execute(
            sa.select(table.__table__).order_by(*[columns[name] for name in order or ("id",)])
        )
        return list(result.all())


async def count(engine: AsyncEngine, table: type[tables.TableModel]) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(sa.select(sa.func.count()).select_from(table.__table__))
            ).scalar_one()
        )
