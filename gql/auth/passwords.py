"""Password hashing: argon2id (argon2-cffi), off the event loop.

Hashing is deliberately slow (tens of milliseconds and 64 MiB by default),
so it runs in a worker thread: one sign-in must not stall every other
request of the process. A login for an email with no password still pays
for one verification against a fixed hash, so the response time does not
tell an attacker which emails have accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

# A password must be long enough to resist guessing once the rate limit is
# spread over many clients, and short enough that hashing stays cheap.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Argon2Cost:
    time_cost: int
    memory_kib: int
    parallelism: int


class Passwords:
    def __init__(self, cost: Argon2Cost) -> None:
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost,
            memory_cost=cost.memory_kib,
            parallelism=cost.parallelism,
            type=Type.ID,
        )
        # Verified against when the account does not exist (timing parity).
        self._decoy = self._hasher.hash("decoy password that matches nothing")

    async def hash(self, password: str) -> str:
        return await run_in_threadpool(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; a missing hash still costs one
        verification and answers False."""
        return await run_in_threadpool(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._decoy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """After the configured cost goes up, hashes are upgraded at sign-in."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    return None
