"""The typed context every resolver receives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import strawberry

from permissions.viewer import Viewer
from resolvers.auth.rate_limits import CLIENT_ADDRESS, Limit, MemoryRateLimiter, RateLimiter
from resolvers.db import Db
from resolvers.events import ReadLog
from resolvers.loaders import Loaders
from resolvers.pagination import PROCESS_CURSOR_KEY
from resolvers.tables import utc_now


@dataclass(frozen=True, slots=True)
class Policy:
    """Configured numbers the schema needs (from gql's Settings)."""

    max_page_size: int = 100
    large_batch_threshold: int = 100
    public_url: str = "http://127.0.0.1:8000"
    # How long a welcome email's set-password link works.
    welcome_link_lifetime: dt.timedelta = dt.timedelta(days=7)
    # Signs page cursors (gql derives it from the server's secret).
    cursor_key: bytes = PROCESS_CURSOR_KEY
    # One client address's budget of guesses (a shared network's, wide).
    address_limit: Limit = CLIENT_ADDRESS


class Links(Protocol):
    """Signed, short-lived links the schema hands out (made in ``gql``)."""

    def login_instructions(self, access_code_id: int) -> str: ...


@dataclass
class Context:
    db: Db
    viewer: Viewer
    loaders: Loaders
    policy: Policy = field(default_factory=Policy)
    request_id: str = ""
    links: Links | None = None
    rate_limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    # Restricted student reads, written as access events when the request ends.
    reads: ReadLog = field(default_factory=ReadLog)
    # The caller's address, for per-client rate limits.
    client_address: str = "unknown"
    clock: Callable[[], dt.datetime] = utc_now
    # Anything the HTTP layer wants to hand through (the starlette request).
    request: Any = None
    response: Any = None


Info = strawberry.Info[Context, None]
