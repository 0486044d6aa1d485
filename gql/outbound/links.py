"""Short-lived signed links (login instructions PDFs, email links)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class SignedLinks:
    def __init__(self, secret_key: str, public_url: str, *, lifetime_seconds: int = 900) -> None:
        self._key = hashlib.sha256(b"accessgraph signed links\x00" + secret_key.encode()).digest()
        self.public_url = public_url.rstrip("/")
        self.lifetime_seconds = lifetime_seconds

    def _signature(self, path: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{path}\x00{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def sign(self, path: str, *, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.lifetime_seconds)
        return (
            f"{self.public_url}{path}?expires={expires}&signature={self._signature(path, expires)}"
        )

    def verify(self, path: str, expires: str, signature: str, *, now: float | None = None) -> bool:
        # ASCII only: "²".isdigit() holds but int() refuses it, and
        # compare_digest refuses non-ASCII text.
        if not (expires.isascii() and expires.isdigit() and signature.isascii()):
            return False
        if len(expires) > 18:  # int() refuses over 4300 digits; no link lasts that long
            return False
        if int(expires) < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._signature(path, int(expires)), signature)

    def login_instructions(self, access_code_id: int) -> str:
        return self.sign(f"/access-codes/{access_code_id}/login-instructions.pdf")
