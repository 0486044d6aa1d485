"""Password hashing: argon2id (argon2-cffi), off the event loop.

Hashing is deliberately slow (tens of milliseconds and 64 MiB by default),
so it runs in a worker thread: one sign-in must not stall every other
request of the process. A login for an email with no password still pays
for one verification against a fixed hash, so the response time does not
tell an attacker which emails have accounts.

A new password must be at least 12 characters and hard to guess by zxcvbn's
estimate (``password_problem``, docs/architecture.md section 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from zxcvbn import zxcvbn

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


# zxcvbn's score: 0 (guessable in under 10^3 tries) to 4 (over 10^10).
# 3 is "safely unguessable" against an online attack and a slow hash.
MIN_STRENGTH_SCORE = 3
# zxcvbn's matching grows fast with length; beyond this the estimate is
# made on the first characters (a longer password is only stronger).
ESTIMATED_PREFIX = 100


def password_problem(password: str, *, user_inputs: Sequence[str] = ()) -> str | None:
    """Why a new password is refused, in words a person can act on, or None.

    The strength is zxcvbn's estimate of the guesses needed, which counts
    common passwords, words, names, dates, keyboard patterns and repeats, and
    the person's own details (``user_inputs``: their email, its local part,
    their name) as easy to guess."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    inputs = [text for given in user_inputs if given for text in _words_of(given)]
    estimate = zxcvbn(password[:ESTIMATED_PREFIX], user_inputs=inputs)
    if estimate["score"] >= MIN_STRENGTH_SCORE:
        return None
    feedback = estimate["feedback"]
    advice = [str(feedback.get("warning") or "").strip()]
    advice += [str(s).strip() for s in feedback.get("suggestions") or []]
    said = " ".join(a if a.endswith((".", "!", "?")) else f"{a}." for a in advice if a)
    return (
        "This password is too easy to guess. "
        + (said + " " if said else "")
        + "A few uncommon words together make a strong password that is easy to remember."
    )


def _words_of(text: str) -> list[str]:
    """An email or name and its parts: "pat.smith@example.com" gives the
    whole, "pat.smith", "patsmith", "pat", "smith" and "example"."""
    lowered = text.lower()
    local, _, domain = lowered.partition("@")
    pieces = local.replace("_", ".").replace("-", ".").replace("+", ".").split(".")
    parts = {lowered, local, "".join(pieces), *pieces}
    parts |= set(domain.split(".")[:1]) | set(lowered.split())
    return sorted(p for p in parts if len(p) >= 3)
