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
from tests.databases import Backend

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
