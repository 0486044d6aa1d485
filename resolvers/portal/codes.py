"""Access code format (docs/architecture.md section 3): read aloud, typed by hand, matched loosely.

Codes draw from an alphabet without look-alike characters (no 0/O, 1/I/L,
2/Z, 5/S, 8/B), 12 characters of 26 symbols: 56 bits from ``secrets``. They
are stored normalised (upper case, no separators) and shown in groups of
four.
"""

from __future__ import annotations

import secrets

ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
LENGTH = 12
GROUP = 4


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_code(typed: str) -> str:
    """What a person typed, as stored: case and separators do not matter."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def display_code(stored: str) -> str:
    return "-".join(stored[i : i + GROUP] for i in range(0, len(stored), GROUP))
