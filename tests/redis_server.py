"""A real Redis for the Redis rate limiter's tests.

Found at ACCESSGRAPH_TEST_REDIS_URL (default redis://127.0.0.1:6379/0). Each
test writes under a key prefix of its own and deletes its keys afterwards. In
CI (CI=true) an unreachable server fails the Redis tests; elsewhere they are
skipped with a message, as the PostgreSQL tests are (tests/databases.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.databases import in_ci

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_HINT = (
    "Redis is not reachable at {url} ({error}). Start a server there or point the tests "
    "at one with ACCESSGRAPH_TEST_REDIS_URL=redis://HOST:PORT/DB."
)


def redis_url() -> str:
    return os.environ.get("ACCESSGRAPH_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """A client of the test server and a key prefix no other test uses;
    the prefix's keys are deleted at the end."""
    url = redis_url()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        try:
            await client.ping()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            message = REDIS_HINT.format(url=url, error=error)
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
        prefix = f"accessgraph-test:{uuid.uuid4().hex}:"
        try:
            yield client, prefix
        finally:
            names = [name async for name in client.scan_iter(match=f"{prefix}*")]
            if names:
                await client.delete(*names)
    finally:
        await client.aclose()
