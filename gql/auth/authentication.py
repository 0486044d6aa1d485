"""Who is asking, and the context every resolver receives.

A request carries at most one credential: a bearer token (mobile, scripts)
or the SPA's session cookie (``gql.auth.cookies``). A bearer header wins: it
cannot be attached by another site, so it needs no CSRF check. A cookie
must come with the matching ``x-csrf-token`` header, else ``CsrfRejected``
(403). A credential that is present but bad, expired, forged or whose
session has ended is UNAUTHENTICATED, never anonymous: a client must not
silently see the anonymous view.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request

from gql.auth.cookies import SessionCookies
from gql.auth.tokens import InvalidToken, TokenSigner
from permissions.viewer import ANONYMOUS, Viewer
from resolvers.db import Db
from resolvers.viewers import load_viewer


class AuthenticationFailed(Exception):
    """The request carried a credential that does not admit it."""


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


async def authenticate(
    request: Request,
    db: Db,
    signer: TokenSigner,
    now: dt.datetime,
    cookies: SessionCookies | None = None,
    *,
    check_csrf: bool = True,
) -> Viewer:
    """The viewer of the request's credential. Without ``cookies`` the
    session cookie is not a credential (bearer tokens only). ``check_csrf``
    is off only for a top-level link whose own token is the secret and is
    bound to the signed-in account (``/confirm-email``)."""
    token = bearer_token(request)
    from_cookie = False
    if token is None and cookies is not None:
        token = request.cookies.get(cookies.access_name) or None
        if token is not None:
            from_cookie = True
            if check_csrf:
                cookies.check_double_submit(request)
    if token is None:
        return ANONYMOUS
    try:
        claims = signer.verify(token, now=now)
    except InvalidToken as exc:
        raise AuthenticationFailed("The access token is not valid.") from exc
    if from_cookie and check_csrf:
        assert cookies is not None
        cookies.check_bound(request, claims.session_id)
    viewer = await load_viewer(db, session_id=claims.session_id, now=now)
    if viewer is None or viewer.account_id != claims.account_id:
        raise AuthenticationFailed("The session has ended. Sign in again.")
    return viewer
