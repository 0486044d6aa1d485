"""Access tokens: short-lived JWTs signed by this server (joserfc).

The signing key is an Ed25519 key derived from ACCESSGRAPH_SECRET_KEY, so
every worker and every restart agrees on it without another secret to
distribute. Verification accepts exactly one algorithm and one key id, and
checks every claim explicitly: ``exp`` (required), issuer, audience, and the
session id that each request checks is still live. Anything else, including
``alg: none`` and HS256 signed with the public key, is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ALGORITHM = "Ed25519"


class InvalidToken(Exception):
    """The token is not one this server issued, or no longer valid."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    account_id: int
    session_id: str
    expires_at: dt.datetime


class TokenSigner:
    def __init__(
        self, secret_key: str, *, issuer: str, audience: str, lifetime: dt.timedelta
    ) -> None:
        seed = hashlib.sha256(
            b"accessgraph access-token signing key\x00" + secret_key.encode()
        ).digest()
        private = Ed25519PrivateKey.from_private_bytes(seed)
        self._key = OKPKey.import_key(private)
        self.key_id = self._key.thumbprint()
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime

    def issue(self, *, account_id: int, session_id: str, now: dt.datetime) -> str:
        expires = now + self.lifetime
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(account_id),
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            {"alg": ALGORITHM, "kid": self.key_id}, claims, self._key, algorithms=[ALGORITHM]
        )

    def verify(self, token: str, *, now: dt.datetime) -> TokenClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken("the token's signature or format is not valid") from exc
        header, claims = decoded.header, decoded.claims
        if header.get("alg") != ALGORITHM or header.get("kid") != self.key_id:
            raise InvalidToken("the token was not signed with this server's key")
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
            sid={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidToken(f"the token's claims are not valid ({exc.error})") from exc
        subject, session_id = claims["sub"], claims["sid"]
        if not (isinstance(subject, str) and subject.isdigit() and isinstance(session_id, str)):
            raise InvalidToken("the token's subject or session is malformed")
        return TokenClaims(
            account_id=int(subject),
            session_id=session_id,
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
        )
