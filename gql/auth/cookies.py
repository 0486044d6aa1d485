"""The SPA's cookie session and its CSRF protection.

Three cookies, set together at sign-in and at every refresh:
- the access token (HttpOnly; sent with every request, so JavaScript never
  holds a credential an XSS could carry away);
- the refresh token (HttpOnly; ``Path=/auth``, so only the auth routes see it);
- the CSRF token (readable by the SPA's JavaScript, which echoes it in the
  ``x-csrf-token`` header of every POST).

A cookie rides along with cross-site requests; a header cannot be set by
another site. So when a cookie is the credential, the header must equal the
CSRF cookie (double submit), and the value must be the HMAC of the session
id under the server's key (signed double submit): a sibling subdomain that
can plant cookies still cannot forge a value for someone else's session.
Cookies are SameSite=Lax and, outside dev, Secure with the ``__Host-`` /
``__Secure-`` prefixes, which browsers refuse to accept from subdomains or
over plain HTTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from gql.settings import Settings

CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/auth"


class CsrfRejected(Exception):
    """A cookie-authenticated POST without the matching CSRF header."""


class SessionCookies:
    def __init__(self, secret_key: str, *, secure: bool) -> None:
        self._key = hashlib.sha256(b"accessgraph csrf tokens\x00" + secret_key.encode()).digest()
        self.secure = secure
        host, secure_prefix = ("__Host-", "__Secure-") if secure else ("", "")
        self.access_name = f"{host}ag_session"
        self.csrf_name = f"{host}ag_csrf"
        self.refresh_name = f"{secure_prefix}ag_refresh"
        self.oidc_name = f"{host}ag_oidc"

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionCookies:
        return cls(settings.secret_key, secure=settings.cookies_are_secure)

    # ------------------------------------------------------------ CSRF

    def csrf_token(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check_double_submit(self, request: Request) -> None:
        """The header equals the CSRF cookie. Checked before the credential
        is even looked at, so a forged request learns nothing."""
        header = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(self.csrf_name, "")
        if not header or not cookie:
            raise CsrfRejected(
                f"This request is signed in by cookie and needs the {CSRF_HEADER} header "
                f"carrying the value of the {self.csrf_name} cookie."
            )
        if not hmac.compare_digest(header.encode(), cookie.encode()):
            raise CsrfRejected(f"The {CSRF_HEADER} header does not match the CSRF cookie.")

    def check_bound(self, request: Request, session_id: str) -> None:
        """The CSRF value belongs to the session the cookie signs in."""
        header = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(header.encode(), self.csrf_token(session_id).encode()):
            raise CsrfRejected("The CSRF token belongs to another session. Reload and try again.")

    # ------------------------------------------------------------ set and clear

    def set_session(
        self,
        response: Response,
        *,
        access_token: str,
        refresh_token: str,
        session_id: str,
        expires_at: dt.datetime,
        now: dt.datetime,
    ) -> None:
        """Set the three cookies, the CSRF one bound to ``session_id``."""
        # The access cookie lives as long as the session, not the token: an
        # expired token keeps being sent and answered 401, the SPA's cue to
        # refresh, instead of silently turning the user anonymous.
        max_age = max(int((expires_at - now).total_seconds()), 0)
        csrf = self.csrf_token(session_id)
        self._set(response, self.access_name, access_token, path="/", max_age=max_age)
        self._set(response, self.refresh_name, refresh_token, path=REFRESH_PATH, max_age=max_age)
        self._set(response, self.csrf_name, csrf, path="/", max_age=max_age, readable=True)

    def _set(
        self,
        response: Response,
        name: str,
        value: str,
        *,
        path: str,
        max_age: int,
        readable: bool = False,
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=self.secure,
            httponly=not readable,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        for name, path in (
            (self.access_name, "/"),
            (self.refresh_name, REFRESH_PATH),
            (self.csrf_name, "/"),
        ):
            response.delete_cookie(name, path=path, secure=self.secure, samesite="lax")
