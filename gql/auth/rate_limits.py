"""Which rate limiter the app counts attempts with (``rate_limit_backend``).

``memory`` holds within one process; with several workers the limit must be
shared, in the app's database (``database``) or in Redis (``redis``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from gql.settings import Settings
from resolvers.auth.rate_limits import (
    DatabaseRateLimiter,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)

MEMORY_WITH_WORKERS = (
    "ACCESSGRAPH_RATE_LIMIT_BACKEND is memory, so each of the {workers} workers would "
    "count attempts on its own and a guesser would get {workers} times the limit. Set "
    "ACCESSGRAPH_RATE_LIMIT_BACKEND=database (or redis, with ACCESSGRAPH_REDIS_URL)."
)


def rate_limiter_for(
    settings: Settings, engine: AsyncEngine, *, clock: Callable[[], dt.datetime]
) -> RateLimiter:
    """The configured limiter. The shared ones count windows of the app's
    clock (wall time, the same in every worker; tests fix it)."""

    def seconds() -> float:
        return clock().timestamp()

    if settings.rate_limit_backend == "database":
        return DatabaseRateLimiter(engine, clock=seconds)
    if settings.rate_limit_backend == "redis":
        assert settings.redis_url is not None, "Settings requires it with the redis backend"
        return RedisRateLimiter.from_url(
            settings.redis_url, prefix=settings.redis_key_prefix, clock=seconds
        )
    return MemoryRateLimiter()
