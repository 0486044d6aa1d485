"""Who is asking, and the context every resolver receives.

A request carries at most one credential: a bearer token (mobile, scripts)
or, later, the SPA's session cookie. A credential that is present but bad,
expired, forged or whose session has ended is UNAUTHENTICATED, never
anonymous: a client must not silently see the anonymous view.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request

from gql.tokens import InvalidToken, TokenSigner
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


async def authenticate(request: Request, db: Db, signer: TokenSigner, now: dt.datetime) -> Viewer:
    token = bearer_token(request)
    if token is None:
        return ANONYMOUS
    try:
        claims = signer.verify(token, now=now)
    except InvalidToken as exc:
        raise AuthenticationFailed("The access token is not valid.") from exc
    viewer = await load_viewer(db, session_id=claims.session_id, now=now)
    if viewer is None or viewer.account_id != claims.account_id:
        raise AuthenticationFailed("The session has ended. Sign in again.")
    return viewer
