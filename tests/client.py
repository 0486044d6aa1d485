"""Running GraphQL as a given viewer, through the real schema and database.

``GraphQLRunner.run`` builds the viewer the way a request does (session →
account → scope, from the database), then executes with the same context the
app builds. ``StatementCounter`` counts SQL statements an engine runs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.http.context import graphql_context
from gql.http.graphql_schema import build_schema
from gql.outbound.links import SignedLinks
from gql.settings import Settings
from permissions.viewer import ANONYMOUS, Viewer
from resolvers.auth.rate_limits import MemoryRateLimiter
from resolvers.db import Db
from resolvers.events import record_reads
from resolvers.viewers import load_viewer
from schema.graphql_context import Policy
from schema.node import to_global_id
from tests.clock import NOW

SETTINGS = Settings(env="dev")


@functools.cache
def served_schema() -> Any:
    return build_schema(SETTINGS)


@dataclass
class Result:
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]

    @property
    def error_codes(self) -> list[tuple[str, list[str | int]]]:
        return [(e.get("extensions", {}).get("code"), e.get("path")) for e in self.errors]

    def outcome(self, field: str) -> Any:
        """A mutation's answer in brief: an authorization error as (code,
        message); else its user errors as (code, last part of the field)."""
        if self.errors:
            assert self.data is None
            return (self.errors[0]["extensions"]["code"], self.errors[0]["message"])
        assert self.data is not None
        return [(e["code"], e["field"][-1]) for e in self.data[field]["userErrors"]]


def gid(type_name: str, pk: int) -> str:
    return str(to_global_id(type_name, pk))


class StatementCounter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self.active = False

        @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if self.active:
                self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


class GraphQLRunner:
    """``audit_reads=False`` is for the module-shared read-only world, whose
    tests must not see each other's reads in access logs; the read log itself
    is tested on databases of its own (tests/test_access_log.py)."""

    def __init__(
        self, engine: AsyncEngine, sessions: dict[str, str], *, audit_reads: bool = True
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.audit_reads = audit_reads

    async def viewer(self, db: Db, who: str | None) -> Viewer:
        if who is None:
            return ANONYMOUS
        viewer = await load_viewer(db, session_id=self.sessions[who], now=NOW)
        assert viewer is not None, f"{who}'s session is not live"
        return viewer

    async def run(self, who: str | None, query: str, **variables: Any) -> Result:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            db = Db(session)
            viewer = await self.viewer(db, who)
            # A fresh limiter per request: rate limits are tested through
            # tests/portal_support.py's runner and over HTTP.
            context = graphql_context(
                db,
                viewer,
                policy=Policy(),
                links=SignedLinks(SETTINGS.secret_key, SETTINGS.public_url),
                rate_limiter=MemoryRateLimiter(),
                clock=lambda: NOW,
            )
            result = await served_schema().execute(
                query, variable_values=variables, context_value=context
            )
            # As the app does: the request's read log, one INSERT, committed.
            if self.audit_reads:
                await record_reads(db, viewer, context.reads, at=NOW)
                await db.commit()
        errors = [dict(e.formatted) for e in result.errors or []]
        for _formatted, error in zip(errors, result.errors or [], strict=True):
            original = error.original_error
            if original is not None and not hasattr(original, "extensions"):
                raise original  # an unexpected exception is a test failure, not data
        return Result(data=result.data, errors=errors)
