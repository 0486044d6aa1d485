"""Real test databases: SQLite files and PostgreSQL databases, made and dropped.

Migrations run once per backend into a template (a SQLite file, a PostgreSQL
template database); each test then gets its own copy, so tests are isolated
and cheap. PostgreSQL is found at ACCESSGRAPH_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres). In CI (CI=true) an unreachable
server fails the PostgreSQL tests; elsewhere they are skipped with a message.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine.url import make_url

from gql.migrations import upgrade_async

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_HINT = (
    "PostgreSQL is not reachable at {url} ({error}). Start a server there or point the "
    "tests at one with ACCESSGRAPH_TEST_POSTGRES_URL=postgresql://USER@HOST:PORT/DB."
)


def postgres_admin_url() -> str:
    return os.environ.get("ACCESSGRAPH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Backend:
    """Hands out fresh, migrated databases of one kind."""

    name: str
    workdir: Path
    template: str | None = None
    made: list[str] = field(default_factory=list)

    async def prepare(self) -> None:
        if self.name == "sqlite":
            path = self.workdir / "template.sqlite3"
            await upgrade_async(f"sqlite:///{path}")
            self.template = str(path)
            return
        admin = postgres_admin_url()
        try:
            connection = await asyncpg.connect(_asyncpg_dsn(admin), timeout=5)
        except (OSError, asyncpg.PostgresError) as error:
            message = POSTGRES_HINT.format(url=admin, error=error)
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
        template = f"ag_template_{uuid.uuid4().hex[:12]}"
        try:
            await connection.execute(f'CREATE DATABASE "{template}"')
        finally:
            await connection.close()
        self.template = template
        await upgrade_async(_with_database(admin, template))

    async def fresh(self) -> str:
        assert self.template is not None
        if self.name == "sqlite":
            path = self.workdir / f"{uuid.uuid4().hex}.sqlite3"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        name = f"ag_test_{uuid.uuid4().hex[:16]}"
        connection = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url()))
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await connection.close()
        self.made.append(name)
        return _with_database(postgres_admin_url(), name)

    async def drop(self, url: str) -> None:
        if self.name == "sqlite":
            Path(make_url(url).database or "").unlink(missing_ok=True)  # noqa: ASYNC240  a test file
            return
        name = make_url(url).database
        connection = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url()))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
        if name in self.made:
            self.made.remove(name)

    async def close(self) -> None:
        if self.name == "sqlite" or self.template is None:
            return
        connection = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url()))
        try:
            for name in [*self.made, self.template]:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
