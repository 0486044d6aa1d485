"""Rate limits on guessable secrets: sign-in, code redemption, PIN entry.

A fixed number of attempts per window, per key (an account, a client
address). ``MemoryRateLimiter`` holds within one process; a limiter shared by
several workers (PostgreSQL or Redis) implements the same protocol.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    attempts: int
    window_seconds: float


# Defaults (DESIGN 7): per account and per client address.
SIGN_IN = Limit(attempts=10, window_seconds=300)
CODE_REDEMPTION = Limit(attempts=10, window_seconds=600)
PIN_ENTRY = Limit(attempts=10, window_seconds=600)


class RateLimiter(Protocol):
    def hit(self, bucket: str, key: str, limit: Limit) -> bool:
        """Count one attempt; False when the key is over its limit."""
        ...


@dataclass
class MemoryRateLimiter:
    clock: Callable[[], float] = time.monotonic
    _attempts: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def hit(self, bucket: str, key: str, limit: Limit) -> bool:
        now = self.clock()
        attempts = self._attempts.setdefault((bucket, key), deque())
        while attempts and attempts[0] <= now - limit.window_seconds:
            attempts.popleft()
        if len(attempts) >= limit.attempts:
            return False
        attempts.append(now)
        return True
