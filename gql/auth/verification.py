"""Email verification links: ``{PUBLIC_URL}/verify?token=…``, single use.

A token is ``account.expires.mac``; the MAC covers the account's current
email and password hash as well. So no table is needed, and a token dies
when it is used (the account is then verified and a second use is refused),
when it expires, or when a newer sign-up for the same address replaces the
password (only the newest link works).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import Row


class TokenProblem(enum.Enum):
    # Codes for clients, not secrets.
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105
    TOKEN_USED = "TOKEN_USED"  # noqa: S105


@dataclass(frozen=True, slots=True)
class ParsedToken:
    account_id: int
    expires: int
    mac: str


class VerificationTokens:
    def __init__(self, secret_key: str, public_url: str, *, lifetime: dt.timedelta) -> None:
        self._key = hashlib.sha256(
            b"accessgraph email verification\x00" + secret_key.encode()
        ).digest()
        self.public_url = public_url.rstrip("/")
        self.lifetime = lifetime

    def _mac(self, account_id: int, expires: int, email: str, password_hash: str) -> str:
        message = f"{account_id}\x00{expires}\x00{email.lower()}\x00{password_hash}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def link(self, *, account_id: int, email: str, password_hash: str, now: dt.datetime) -> str:
        expires = int((now + self.lifetime).timestamp())
        token = f"{account_id}.{expires}.{self._mac(account_id, expires, email, password_hash)}"
        return f"{self.public_url}/verify?{urlencode({'token': token})}"

    @staticmethod
    def parse(token: str) -> ParsedToken | None:
        account, _, rest = token.partition(".")
        expires, _, mac = rest.partition(".")
        if not (token.isascii() and account.isdigit() and expires.isdigit() and mac):
            return None  # ASCII only: "²".isdigit() holds but int() refuses it
        if len(account) > 18 or len(expires) > 18:
            return None
        return ParsedToken(int(account), int(expires), mac)

    def problem(
        self, parsed: ParsedToken, account: Row[Any] | None, *, now: dt.datetime
    ) -> TokenProblem | None:
        """Why the token does not verify ``account``; None when it does."""
        if account is None or account.email is None or account.password_hash is None:
            return TokenProblem.INVALID_TOKEN
        expected = self._mac(
            parsed.account_id, parsed.expires, account.email, account.password_hash
        )
        if not hmac.compare_digest(parsed.mac.encode(), expected.encode()):
            return TokenProblem.INVALID_TOKEN
        if account.email_verified_at is not None:
            return TokenProblem.TOKEN_USED
        if parsed.expires <= now.timestamp():
            return TokenProblem.TOKEN_EXPIRED
        return None
