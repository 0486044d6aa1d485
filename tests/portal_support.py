"""Helpers for the portal workflow tests: a runner whose clock, rate limiter
and client address persist across requests (as the app's do), and small
factories on top of tests/world.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.http.context import graphql_context
from gql.outbound.links import SignedLinks
from permissions.viewer import ANONYMOUS
from resolvers.auth.rate_limits import MemoryRateLimiter
from resolvers.db import Db
from resolvers.events import record_reads
from resolvers.tables import ACCESS_EVENTS, ACCOUNTS, CONTACTS, GUARDIANS, SESSIONS
from resolvers.viewers import load_viewer
from schema.graphql_context import Policy
from tests.client import SETTINGS, Result, served_schema
from tests.clock import NOW
from tests.snapshots import snapshot
from tests.world import World

CLIENT = "203.0.113.9"


@dataclass
class PortalRunner:
    """Runs GraphQL as a named viewer of ``world``, like one app process:
    one rate limiter for all requests, a clock tests move, a policy."""

    engine: AsyncEngine
    world: World
    now: dt.datetime = NOW
    policy: Policy = field(default_factory=Policy)
    rate_limiter: MemoryRateLimiter = field(default_factory=MemoryRateLimiter)

    async def run(
        self, who: str | None, query: str, *, client: str = CLIENT, **variables: Any
    ) -> Result:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            db = Db(session)
            viewer = ANONYMOUS
            if who is not None:
                loaded = await load_viewer(db, session_id=self.world.sessions[who], now=self.now)
                assert loaded is not None, f"{who}'s session is not live"
                viewer = loaded
            context = graphql_context(
                db,
                viewer,
                policy=self.policy,
                links=SignedLinks(SETTINGS.secret_key, SETTINGS.public_url),
                rate_limiter=self.rate_limiter,
                client_address=client,
                clock=lambda: self.now,
            )
            result = await served_schema().execute(
                query, variable_values=variables, context_value=context
            )
            await record_reads(db, viewer, context.reads, at=self.now)
            await db.commit()
        errors = [dict(e.formatted) for e in result.errors or []]
        for error in result.errors or []:
            original = error.original_error
            if original is not None and not hasattr(original, "extensions"):
                raise original  # an unexpected exception is a test failure, not data
        return Result(data=result.data, errors=errors)


async def add_account(
    engine: AsyncEngine,
    world: World,
    key: str,
    *,
    kind: str = "GUARDIAN",
    guardian: str | None = None,
    email: str | None = None,
    name: str | None = None,
    verified: bool = True,
) -> int:
    """An account with a live session, registered in ``world`` as ``key``;
    its email verified unless ``verified`` is false."""
    async with engine.begin() as c:
        account_id = (
            await c.execute(
                sa.insert(ACCOUNTS)
                .values(
                    kind=kind,
                    email=email or f"{key}@home.example.com",
                    email_verified_at=NOW if verified else None,
                    display_name=name or key.replace("_", " ").title(),
                    created_at=NOW,
                    guardian_id=world[guardian] if guardian else None,
                )
                .returning(ACCOUNTS.c.id)
            )
        ).scalar_one()
        await c.execute(
            sa.insert(SESSIONS).values(
                id=f"session-{key}",
                account_id=account_id,
                family_id=f"family-{key}",
                created_at=NOW,
                expires_at=NOW + dt.timedelta(days=3650),
            )
        )
    world.ids[key] = account_id
    world.sessions[key] = f"session-{key}"
    return int(account_id)


async def rows(engine: AsyncEngine, table: Any, *where: Any, order: Any = None) -> list[Any]:
    async with engine.connect() as c:
        query = sa.select(table.__table__).where(*where)
        query = query.order_by(order if order is not None else table.__table__.c.id)
        return list((await c.execute(query)).all())


async def actions(engine: AsyncEngine, *, student_id: int | None = None) -> list[tuple[Any, ...]]:
    """The audit trail of changes: (action, student id, actor name, detail),
    oldest first (reads, STUDENT_PROFILE, left out)."""
    query = sa.select(
        ACCESS_EVENTS.c.action,
        ACCESS_EVENTS.c.student_id,
        ACCESS_EVENTS.c.actor_name,
        ACCESS_EVENTS.c.detail,
    ).where(ACCESS_EVENTS.c.action != "STUDENT_PROFILE")
    if student_id is not None:
        query = query.where(ACCESS_EVENTS.c.student_id == student_id)
    async with engine.connect() as c:
        return [tuple(r) for r in (await c.execute(query.order_by(ACCESS_EVENTS.c.id))).all()]


async def matrix(
    engine: AsyncEngine,
    runner: PortalRunner,
    viewers: list[str | None],
    query: str,
    *,
    succeeded: Callable[[dict[str, Any]], bool],
    not_found: dict[str, Any],
    path: list[str],
    **variables: Any,
) -> dict[str | None, Any]:
    """Run one mutation as each viewer in turn and say what happened:
    "ok" (``succeeded`` holds), "NOT_FOUND" (exactly the ``not_found``
    payload), or (error code, message) of the one error at ``path``. A
    denial that changed the database, or anything else, is reported as is,
    so that comparing with the expected table shows it."""
    outcomes: dict[str | None, Any] = {}
    for who in viewers:
        before = await snapshot(engine)
        result = await runner.run(who, query, **variables)
        if result.errors == [] and result.data is not None and succeeded(result.data):
            outcomes[who] = "ok"
            continue
        if result.errors == [] and result.data == not_found:
            outcome: Any = "NOT_FOUND"
        elif result.data is None and len(result.errors) == 1 and result.errors[0]["path"] == path:
            error = result.errors[0]
            outcome = (error["extensions"]["code"], error["message"])
        else:
            outcome = ("unexpected", result.data, result.errors)
        if await snapshot(engine) != before:
            outcome = ("changed the database", outcome)
        outcomes[who] = outcome
    return outcomes


async def families_who_left(
    engine: AsyncEngine, world: World, count: int, *, prefix: str = "leaver"
) -> list[int]:
    """``count`` contacts of s4 (withdrawn) with accounts and live sessions:
    READY_TO_REVOKE, no current students."""
    async with engine.begin() as c:
        await c.execute(
            sa.insert(GUARDIANS),
            [
                {
                    "district_id": world["north"],
                    "sourced_id": f"{prefix}{i}",
                    "given_name": "Leaver",
                    "family_name": f"{i:03d}",
                    "email": f"{prefix}{i}@home.example.com",
                }
                for i in range(count)
            ],
        )
        guardian_ids = (
            (
                await c.execute(
                    sa.select(GUARDIANS.c.id)
                    .where(GUARDIANS.c.sourced_id.like(f"{prefix}%"))
                    .order_by(GUARDIANS.c.id)
                )
            )
            .scalars()
            .all()
        )
        await c.execute(
            sa.insert(CONTACTS),
            [
                {
                    "district_id": world["north"],
                    "student_id": world["s4"],
                    "guardian_id": g,
                    "contact_type": "Mother",
                    "portal_eligible": True,
                }
                for g in guardian_ids
            ],
        )
        await c.execute(
            sa.insert(ACCOUNTS),
            [
                {
                    "kind": "GUARDIAN",
                    "email": f"{prefix}{i}@home.example.com",
                    "display_name": f"Leaver {i:03d}",
                    "created_at": NOW,
                    "guardian_id": g,
                }
                for i, g in enumerate(guardian_ids)
            ],
        )
        account_ids = [
            int(a)
            for a in (
                await c.execute(
                    sa.select(ACCOUNTS.c.id)
                    .where(ACCOUNTS.c.guardian_id.in_(guardian_ids))
                    .order_by(ACCOUNTS.c.id)
                )
            ).scalars()
        ]
        await c.execute(
            sa.insert(SESSIONS),
            [
                {
                    "id": f"session-{prefix}{i}",
                    "account_id": a,
                    "family_id": f"family-{prefix}{i}",
                    "created_at": NOW,
                    "expires_at": NOW + dt.timedelta(days=30),
                }
                for i, a in enumerate(account_ids)
            ],
        )
    for i, a in enumerate(account_ids):
        world.ids[f"{prefix}{i}"] = a
        world.sessions[f"{prefix}{i}"] = f"session-{prefix}{i}"
    return account_ids
