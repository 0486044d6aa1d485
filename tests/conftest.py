"""Fixtures shared by the whole suite.

Every database test runs twice, on SQLite and on PostgreSQL (``backend``),
each time in a database of its own (``database_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.db import create_engine
from tests.client import GraphQLRunner
from tests.databases import Backend
from tests.world import World, build_world

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    prepared = Backend(name=request.param, workdir=Path(tmp_path_factory.mktemp(request.param)))
    await prepared.prepare()
    yield prepared
    await prepared.close()


@pytest.fixture
async def database_url(backend: Backend) -> AsyncIterator[str]:
    """A fresh, migrated, empty database of its own for one test."""
    url = await backend.fresh()
    yield url
    await backend.drop(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    yield made
    await made.dispose()


@pytest.fixture(scope="module")
async def world_engine(backend: Backend) -> AsyncIterator[tuple[AsyncEngine, World]]:
    """One database with the permission world, shared by a module's read tests."""
    url = await backend.fresh()
    made = create_engine(url)
    world = await build_world(made)
    yield made, world
    await made.dispose()
    await backend.drop(url)


@pytest.fixture(scope="module")
def world(world_engine: tuple[AsyncEngine, World]) -> World:
    return world_engine[1]


@pytest.fixture(scope="module")
def gql_runner(world_engine: tuple[AsyncEngine, World]) -> GraphQLRunner:
    engine, world = world_engine
    return GraphQLRunner(engine, world.sessions, audit_reads=False)


@pytest.fixture
async def fresh(database_url: str) -> AsyncIterator[tuple[GraphQLRunner, World, AsyncEngine]]:
    """The world in a database of its own, for tests whose mutations succeed
    (the module's shared world must stay as it was)."""
    made = create_engine(database_url)
    world = await build_world(made)
    yield GraphQLRunner(made, world.sessions), world, made
    await made.dispose()
