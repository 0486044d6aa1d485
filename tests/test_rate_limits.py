"""Rate limits that hold across workers (docs/architecture.md section 7, issue 6): the database
limiter on SQLite and PostgreSQL, the Redis limiter on a real Redis, two apps
over one database sharing a limit as two workers do, concurrent attempts,
every aliased attempt in one document counted, and a store that is down
answered with 503."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.cli.main import main
from gql.cli.server import proxy_options
from gql.http.app import create_app, signer_for
from gql.settings import Settings
from resolvers.auth.rate_limits import (
    DatabaseRateLimiter,
    Limit,
    RateLimitStoreUnavailable,
    RedisRateLimiter,
    stored_key,
)
from resolvers.db import DatabaseUnavailable, Db, create_engine
from resolvers.tables import ACCESS_CODES, RATE_LIMIT_WINDOWS
from tests.auth_client import auth_settings, error_code, serving
from tests.clock import NOW
from tests.lifespan import started
from tests.redis_server import redis_prefix, redis_url
from tests.snapshots import snapshot
from tests.world import World, build_world

THREE_PER_MINUTE = Limit(attempts=3, window_seconds=60)
# A window boundary: 2026-11-03 09:00 UTC is a multiple of 60 and of 600 s.
START = NOW.timestamp()


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def windows(engine: AsyncEngine) -> list[tuple[str, str, int, int]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            sa.select(
                RATE_LIMIT_WINDOWS.c.bucket,
                RATE_LIMIT_WINDOWS.c.key,
                RATE_LIMIT_WINDOWS.c.window_start,
                RATE_LIMIT_WINDOWS.c.attempts,
            ).order_by(
                RATE_LIMIT_WINDOWS.c.bucket,
                RATE_LIMIT_WINDOWS.c.key,
                RATE_LIMIT_WINDOWS.c.window_start,
            )
        )
        return [(r.bucket, r.key, r.window_start, r.attempts) for r in result.all()]


# ---------------------------------------------------------------- database


async def test_database_limiter_allows_the_limit_then_refuses_counting_every_attempt(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    limiter = DatabaseRateLimiter(engine, clock=clock)
    outcomes = [await limiter.hit("pin-entry", "account:7", THREE_PER_MINUTE) for _ in range(5)]
    assert outcomes == [True, True, True, False, False]
    # Refused attempts are counted too; other keys and buckets are untouched.
    assert await limiter.hit("pin-entry", "account:8", THREE_PER_MINUTE) is True
    assert await limiter.hit("sign-in:client", "account:7", THREE_PER_MINUTE) is True
    start = int(START)
    assert await windows(engine) == [
        ("pin-entry", "account:7", start, 5),
        ("pin-entry", "account:8", start, 1),
        ("sign-in:client", "account:7", start, 1),
    ]
    # The next window starts afresh.
    clock.now = START + 60
    assert await limiter.hit("pin-entry", "account:7", THREE_PER_MINUTE) is True
    assert ("pin-entry", "account:7", start + 60, 1) in await windows(engine)


async def test_database_limiter_prunes_windows_before_the_previous_one(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    limiter = DatabaseRateLimiter(engine, clock=clock)
    start = int(START)
    for minute in range(3):
        clock.now = START + 60 * minute
        assert await limiter.hit("pin-entry", "account:7", THREE_PER_MINUTE) is True
    # Entering the third window deleted the first; the previous one stays
    # (for workers whose clocks lag a little). Other buckets are left alone.
    assert await windows(engine) == [
        ("pin-entry", "account:7", start + 60, 1),
        ("pin-entry", "account:7", start + 120, 1),
    ]


async def test_database_limiter_stores_keys_longer_than_the_column_by_their_hash(
    engine: AsyncEngine,
) -> None:
    long_email = "a" * 300 + "@home.example.com"
    limiter = DatabaseRateLimiter(engine, clock=Clock())
    assert [
        await limiter.hit("sign-in:account", long_email, THREE_PER_MINUTE) for _ in range(4)
    ] == [
        True,
        True,
        True,
        False,
    ]
    assert stored_key(long_email).startswith("sha256:")
    assert await windows(engine) == [("sign-in:account", stored_key(long_email), int(START), 4)]


async def test_concurrent_hits_from_two_workers_allow_exactly_the_limit(
    engine: AsyncEngine, database_url: str
) -> None:
    # Two engines on one database, as two worker processes have.
    other_engine = create_engine(database_url)
    try:
        clock = Clock()
        first = DatabaseRateLimiter(engine, clock=clock)
        second = DatabaseRateLimiter(other_engine, clock=clock)
        limit = Limit(attempts=10, window_seconds=600)
        outcomes = await asyncio.gather(
            *[
                (first if n % 2 else second).hit("code-redemption", "client:192.0.2.1", limit)
                for n in range(40)
            ]
        )
    finally:
        await other_engine.dispose()
    assert outcomes.count(True) == 10
    assert await windows(engine) == [("code-redemption", "client:192.0.2.1", int(START), 40)]


async def test_a_hit_is_kept_when_the_request_transaction_rolls_back(engine: AsyncEngine) -> None:
    limiter = DatabaseRateLimiter(engine, clock=Clock())
    async with AsyncSession(engine) as session:
        db = Db(session)
        # The request has read (as authentication does) when the limit is
        # counted on another connection; on SQLite that must not wait.
        assert await db.scalar(sa.select(sa.func.count()).select_from(RATE_LIMIT_WINDOWS)) == 0
        async with asyncio.timeout(5):
            assert await limiter.hit("code-redemption", "account:7", THREE_PER_MINUTE) is True
        await db.execute(sa.delete(ACCESS_CODES))
        await db.rollback()
    assert await windows(engine) == [("code-redemption", "account:7", int(START), 1)]


async def test_an_unreachable_database_limiter_raises_database_unavailable(
    tmp_path: Path,
) -> None:
    unreachable = create_engine(f"sqlite:///{tmp_path}/no-such-directory/db.sqlite3")
    try:
        with pytest.raises(DatabaseUnavailable):
            await DatabaseRateLimiter(unreachable).hit("pin-entry", "account:7", THREE_PER_MINUTE)
    finally:
        await unreachable.dispose()


# ---------------------------------------------------------------- two workers over HTTP


async def _login(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.post(
        "/auth/login", json={"email": email, "password": "a wrong guess of a password"}
    )


@asynccontextmanager
async def limiter_settings(limiter: str) -> AsyncIterator[dict[str, Any]]:
    if limiter != "redis":
        yield {"rate_limit_backend": limiter}
        return
    async with redis_prefix() as (_, prefix):
        yield {"rate_limit_backend": "redis", "redis_url": redis_url(), "redis_key_prefix": prefix}


@asynccontextmanager
async def two_workers(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """Two apps built from the same settings, as ``serve --workers 2`` builds them."""
    async with serving(settings) as first, serving(settings) as second:
        yield first, second


@pytest.mark.parametrize("limiter", ["database", "redis"])
async def test_two_apps_sharing_a_store_share_the_sign_in_limit(
    engine: AsyncEngine, limiter: str
) -> None:
    async with limiter_settings(limiter) as overrides:
        # An address budget of ten, to see it shared (the default is 200).
        settings = auth_settings(engine, rate_limit_address_attempts=10, **overrides)
        async with two_workers(settings) as (first, second):
            # One address guessing ten accounts, alternating between the workers...
            for n in range(10):
                worker = first if n % 2 else second
                assert (await _login(worker, f"guess{n}@home.example.com")).status_code == 401
            # ...is refused by either.
            for worker in (first, second):
                limited = await _login(worker, "someone.else@home.example.com")
                assert (limited.status_code, error_code(limited)) == (429, "RATE_LIMITED")
    counted = {(bucket, key): attempts for bucket, key, _, attempts in await windows(engine)}
    if limiter == "database":
        assert counted[("client-address", "192.0.2.10")] == 12
    else:
        assert counted == {}


async def test_two_apps_with_the_memory_backend_each_count_alone(engine: AsyncEngine) -> None:
    # Why several workers need the database or Redis: in memory, each worker
    # grants the full limit.
    settings = auth_settings(engine, rate_limit_address_attempts=10)
    async with two_workers(settings) as (first, second):
        for n in range(10):
            assert (await _login(first, f"guess{n}@home.example.com")).status_code == 401
        assert (await _login(first, "x@home.example.com")).status_code == 429
        assert (await _login(second, "x@home.example.com")).status_code == 401
    assert await windows(engine) == []


# ---------------------------------------------------------------- aliases over HTTP

ALIASED_REDEMPTIONS = 20
S1_CODE = "ACDE-FGHJ-KMNP"  # tests/world.py: student s1's live code


def _aliased_redemptions() -> str:
    # Nineteen wrong codes, then the right one last: it comes after the
    # tenth attempt, so it is refused too.
    codes = [f"ACDE-FGHJ-KM{n:02d}" for n in range(ALIASED_REDEMPTIONS - 1)] + [S1_CODE]
    fields = " ".join(
        f'r{n}: redeemAccessCode(input: {{code: "{code}"}}) '
        "{ grant { id } userErrors { code } }"
        for n, code in enumerate(codes)
    )
    return f"mutation {{ {fields} }}"


async def redeem_as_lonely_parent(
    engine: AsyncEngine, world: World, query: str, **overrides: Any
) -> httpx.Response:
    """One request to a fresh app over ``engine``, from 192.0.2.20."""
    settings = Settings(
        env="dev", database_url=engine.url.render_as_string(hide_password=False), **overrides
    )
    token = signer_for(settings).issue(
        account_id=world["lonely_parent"], session_id=world.sessions["lonely_parent"], now=NOW
    )
    app = create_app(settings, clock=lambda: NOW)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi, client=("192.0.2.20", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.post(
                "/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"}
            )


@pytest.mark.parametrize("limiter", ["memory", "database", "redis"])
async def test_each_aliased_redemption_in_one_document_counts_as_an_attempt(
    engine: AsyncEngine, limiter: str
) -> None:
    world = await build_world(engine)
    before = await snapshot(engine)
    async with limiter_settings(limiter) as overrides:
        response = await redeem_as_lonely_parent(engine, world, _aliased_redemptions(), **overrides)
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    outcomes = [body["data"][f"r{n}"] for n in range(ALIASED_REDEMPTIONS)]
    assert (
        outcomes
        == [{"grant": None, "userErrors": [{"code": "INVALID_CODE"}]}] * 10
        + [{"grant": None, "userErrors": [{"code": "RATE_LIMITED"}]}] * 10
    )
    # The right code, refused, paired nobody: nothing changed but the counts.
    after = await snapshot(engine)
    counted = after.pop("rate_limit_windows")
    before.pop("rate_limit_windows")
    assert after == before
    if limiter == "database":
        assert sorted((bucket, key, attempts) for bucket, key, _, attempts in counted) == [
            ("client-address", "192.0.2.20", ALIASED_REDEMPTIONS),
            ("code-redemption", f"account:{world['lonely_parent']}", ALIASED_REDEMPTIONS),
        ]
    else:
        assert counted == []


# ---------------------------------------------------------------- redis


async def test_redis_limiter_allows_the_limit_then_refuses_and_expires_with_its_window() -> None:
    async with redis_prefix() as (client, prefix):
        clock = Clock()
        limiter = RedisRateLimiter(client, prefix=prefix, clock=clock)
        outcomes = [await limiter.hit("pin-entry", "account:7", THREE_PER_MINUTE) for _ in range(5)]
        assert outcomes == [True, True, True, False, False]
        name = limiter.redis_key("pin-entry", "account:7", int(START))
        assert int(await client.get(name)) == 5
        # Gone a minute after its window ends, by itself.
        assert 60 < await client.ttl(name) <= 120
        assert await limiter.hit("pin-entry", "account:8", THREE_PER_MINUTE) is True
        clock.now = START + 60
        assert await limiter.hit("pin-entry", "account:7", THREE_PER_MINUTE) is True


async def test_redis_limiters_of_two_workers_share_the_limit_under_concurrency() -> None:
    async with redis_prefix() as (client, prefix):
        clock = Clock()
        first = RedisRateLimiter(client, prefix=prefix, clock=clock)
        second = RedisRateLimiter.from_url(redis_url(), prefix=prefix, clock=clock)
        limit = Limit(attempts=10, window_seconds=600)
        try:
            outcomes = await asyncio.gather(
                *[
                    (first if n % 2 else second).hit("code-redemption", "client:192.0.2.1", limit)
                    for n in range(40)
                ]
            )
        finally:
            await second.close()
        assert outcomes.count(True) == 10
        name = first.redis_key("code-redemption", "client:192.0.2.1", int(START))
        assert int(await client.get(name)) == 40


async def test_an_unreachable_redis_raises_store_unavailable() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(RateLimitStoreUnavailable):
            await limiter.hit("pin-entry", "account:7", THREE_PER_MINUTE)
    finally:
        await limiter.close()


async def test_redemption_answers_503_and_changes_nothing_when_redis_is_down(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    before = await snapshot(engine)
    response = await redeem_as_lonely_parent(
        engine,
        world,
        f'mutation {{ redeemAccessCode(input: {{code: "{S1_CODE}"}}) {{ grant {{ id }} }} }}',
        rate_limit_backend="redis",
        redis_url="redis://127.0.0.1:1/0",
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["errors"] == [
        {
            "message": "The database is unavailable; try again shortly.",
            "extensions": {"code": "SERVICE_UNAVAILABLE"},
        }
    ]
    assert await snapshot(engine) == before


async def test_sign_in_answers_503_when_redis_is_down(engine: AsyncEngine) -> None:
    settings = auth_settings(engine, rate_limit_backend="redis", redis_url="redis://127.0.0.1:1/0")
    async with serving(settings) as http:
        response = await _login(http, "pat@home.example.com")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert error_code(response) == "SERVICE_UNAVAILABLE"


# ---------------------------------------------------------------- configuration


def test_the_redis_backend_needs_a_url() -> None:
    with pytest.raises(ValidationError, match="ACCESSGRAPH_REDIS_URL"):
        Settings(rate_limit_backend="redis")


def test_serve_refuses_several_workers_with_memory_limits_in_prod(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCESSGRAPH_ENV", "prod")
    monkeypatch.setenv("ACCESSGRAPH_SECRET_KEY", uuid.uuid4().hex * 2)
    monkeypatch.setenv("ACCESSGRAPH_RATE_LIMIT_BACKEND", "memory")
    assert main(["serve", "--workers", "2"]) == 2
    assert "ACCESSGRAPH_RATE_LIMIT_BACKEND=database" in capsys.readouterr().err


async def test_a_shared_school_network_is_not_locked_out_while_each_account_keeps_its_limit(
    engine: AsyncEngine,
) -> None:
    async with serving(auth_settings(engine)) as http:
        # Thirty parents behind one NAT address each mistype a password twice:
        # sixty attempts from the address, none refused...
        for parent in range(30):
            for _ in range(2):
                response = await _login(http, f"parent{parent}@home.example.com")
                assert (response.status_code, error_code(response)) == (401, "INVALID_CREDENTIALS")
        # ...while one account guessed at is stopped after its ten.
        for _ in range(10):
            assert (await _login(http, "target@home.example.com")).status_code == 401
        limited = await _login(http, "target@home.example.com")
        assert (limited.status_code, error_code(limited)) == (429, "RATE_LIMITED")


async def test_one_address_has_a_budget_of_its_own_set_in_the_settings(
    engine: AsyncEngine,
) -> None:
    async with serving(auth_settings(engine, rate_limit_address_attempts=12)) as http:
        for guess in range(12):
            assert (await _login(http, f"guess{guess}@home.example.com")).status_code == 401
        limited = await _login(http, "anyone@home.example.com")
        assert (limited.status_code, error_code(limited)) == (429, "RATE_LIMITED")


def test_the_address_budget_defaults_to_two_hundred_attempts_in_ten_minutes() -> None:
    assert Settings().address_limit() == Limit(attempts=200, window_seconds=600)


def test_serve_trusts_x_forwarded_for_only_from_the_proxies_named() -> None:
    # uvicorn's own default trusts 127.0.0.1; here nothing is trusted unless named.
    assert proxy_options(Settings()) == {"proxy_headers": False}
    assert proxy_options(Settings(forwarded_allow_ips="10.0.0.5, 10.0.1.0/24")) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.5, 10.0.1.0/24",
    }
