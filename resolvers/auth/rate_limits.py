"""Rate limits on guessable secrets: sign-in, code redemption, PIN entry,
password links and changes.

A fixed number of attempts per window, per key (an account, a client
address). Three limiters implement one protocol:

- ``MemoryRateLimiter`` holds within one process (the default);
- ``DatabaseRateLimiter`` counts in the app's own database (PostgreSQL or
  SQLite), so every worker sharing that database shares the limit;
- ``RedisRateLimiter`` counts in Redis, for the same reason without
  writing to the database on every attempt.

The shared limiters count fixed windows (``window_start`` is the time
rounded down to a multiple of the window): one atomic increment per attempt,
every attempt counted, refused ones too. An attempt is counted in its own
short transaction or command, never in the request's, so rolling back a
refused mutation does not uncount it. A store that cannot be reached raises
``DatabaseUnavailable``, which the app answers with 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.db import DatabaseUnavailable, translate
from resolvers.tables import RATE_LIMIT_WINDOWS

log = logging.getLogger("accessgraph.ratelimit")


@dataclass(frozen=True, slots=True)
class Limit:
    attempts: int
    window_seconds: float


# Defaults (docs/architecture.md section 7): per account and per client address.
SIGN_IN = Limit(attempts=10, window_seconds=300)
CODE_REDEMPTION = Limit(attempts=10, window_seconds=600)
PIN_ENTRY = Limit(attempts=10, window_seconds=600)
# Set-or-reset and the signed-in password and email changes: per account
# (an address, or the account a link or session names) and per client.
PASSWORD_ACCOUNT = Limit(attempts=5, window_seconds=900)
PASSWORD_CLIENT = Limit(attempts=10, window_seconds=900)
# Every attempt from one client address, whatever it guesses: wide enough for
# a school network or a parents' evening behind one NAT address (settings:
# ACCESSGRAPH_RATE_LIMIT_ADDRESS_ATTEMPTS and _WINDOW_SECONDS).
CLIENT_ADDRESS = Limit(attempts=200, window_seconds=600)


class RateLimitStoreUnavailable(DatabaseUnavailable):
    """Redis (or the database) holding the shared counts cannot be reached:
    answered like the database being down, 503 with Retry-After."""


class RateLimiter(Protocol):
    async def hit(self, bucket: str, key: str, limit: Limit) -> bool:
        """Count one attempt; False when the key is over its limit.

        On SQLite, call it before the request's own session writes: the
        database limiter writes on another connection, which would wait for
        the request's write lock."""
        ...

    async def close(self) -> None:
        """Release connections (the app's lifespan ends)."""
        ...


@dataclass
class MemoryRateLimiter:
    """A sliding log of attempt times per key, in this process only."""

    clock: Callable[[], float] = time.monotonic
    _attempts: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    async def hit(self, bucket: str, key: str, limit: Limit) -> bool:
        now = self.clock()
        attempts = self._attempts.setdefault((bucket, key), deque())
        while attempts and attempts[0] <= now - limit.window_seconds:
            attempts.popleft()
        if len(attempts) >= limit.attempts:
            return False
        attempts.append(now)
        return True

    async def close(self) -> None:
        return None


def window_start(now: float, limit: Limit) -> int:
    """The start of the fixed window ``now`` falls in, in whole seconds."""
    width = max(int(limit.window_seconds), 1)
    return int(now) // width * width


# rate_limit_windows.key is VARCHAR(255); an email may be longer (320).
_MAX_KEY_LENGTH = 255


def stored_key(key: str) -> str:
    if len(key) <= _MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseRateLimiter:
    """Fixed-window counts in ``rate_limit_windows``, on the app's engine.

    Each attempt is one ``INSERT ... ON CONFLICT DO UPDATE SET attempts =
    attempts + 1 RETURNING attempts`` in a transaction of its own (on a
    connection of its own), atomic on PostgreSQL and SQLite alike. On its
    first attempt in a new window of a bucket, a worker deletes that bucket's
    windows before the previous one, in another short transaction; a failed
    prune is only logged.
    """

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._pruned: dict[str, int] = {}

    async def hit(self, bucket: str, key: str, limit: Limit) -> bool:
        # Shielded, like the request's statements (resolvers.db.Db): a
        # cancelled request leaves no connection half-used, and its attempt
        # still counts.
        return await asyncio.shield(self._hit(bucket, key, limit))

    async def _hit(self, bucket: str, key: str, limit: Limit) -> bool:
        start = window_start(self.clock(), limit)
        try:
            async with self.engine.begin() as connection:
                attempts = (await connection.execute(self._count(bucket, key, start))).scalar_one()
        except Exception as exc:
            translated = translate(exc)
            if translated is None or translated is exc:
                raise
            raise translated from exc
        if self._pruned.get(bucket) != start:
            self._pruned[bucket] = start
            await self._prune(bucket, start - max(int(limit.window_seconds), 1))
        return int(attempts) <= limit.attempts

    def _count(self, bucket: str, key: str, start: int) -> sa.Executable:
        row = {"bucket": bucket, "key": stored_key(key), "window_start": start, "attempts": 1}
        conflict: dict[str, Any] = {
            "index_elements": [
                RATE_LIMIT_WINDOWS.c.bucket,
                RATE_LIMIT_WINDOWS.c.key,
                RATE_LIMIT_WINDOWS.c.window_start,
            ],
            "set_": {"attempts": RATE_LIMIT_WINDOWS.c.attempts + 1},
        }
        # The same statement in each dialect's own INSERT (both have ON CONFLICT).
        if self.engine.dialect.name == "postgresql":
            upsert = (
                postgresql.insert(RATE_LIMIT_WINDOWS).values(row).on_conflict_do_update(**conflict)
            )
            return upsert.returning(RATE_LIMIT_WINDOWS.c.attempts)
        sqlite_upsert = (
            sqlite.insert(RATE_LIMIT_WINDOWS).values(row).on_conflict_do_update(**conflict)
        )
        return sqlite_upsert.returning(RATE_LIMIT_WINDOWS.c.attempts)

    async def _prune(self, bucket: str, before: int) -> None:
        """Delete the bucket's windows that started before ``before`` (the
        previous window is kept, for workers whose clocks lag a little)."""
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    sa.delete(RATE_LIMIT_WINDOWS).where(
                        RATE_LIMIT_WINDOWS.c.bucket == bucket,
                        RATE_LIMIT_WINDOWS.c.window_start < before,
                    )
                )
        except Exception as exc:  # the count is what matters; old rows wait for the next prune
            log.warning("pruning rate-limit windows of %s failed: %s", bucket, exc)

    async def close(self) -> None:
        return None  # the app disposes of its engine


class RedisRateLimiter:
    """Fixed-window counts in Redis: ``INCR`` and ``EXPIRE`` in one
    ``MULTI``/``EXEC``, the key naming its window, so a window's count
    disappears by itself once the window is over."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "accessgraph:rate-limit:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "accessgraph:rate-limit:",
        clock: Callable[[], float] = time.time,
    ) -> RedisRateLimiter:
        # Short timeouts: a Redis that is down fails the attempt fast (503)
        # rather than holding the request to its own time limit.
        client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return cls(client, prefix=prefix, clock=clock)

    def redis_key(self, bucket: str, key: str, start: int) -> str:
        return f"{self.prefix}{bucket}:{start}:{key}"

    async def hit(self, bucket: str, key: str, limit: Limit) -> bool:
        start = window_start(self.clock(), limit)
        name = self.redis_key(bucket, key, start)
        # Kept a little past the window's end, for clocks a little apart.
        expiry = max(int(limit.window_seconds), 1) + 60
        try:
            async with self.client.pipeline(transaction=True) as pipeline:
                pipeline.incr(name)
                pipeline.expire(name, expiry)
                attempts, _ = await pipeline.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise RateLimitStoreUnavailable(f"Redis is unavailable: {exc}") from exc
        return int(attempts) <= limit.attempts

    async def close(self) -> None:
        await self.client.aclose()
