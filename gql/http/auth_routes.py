"""REST routes beside ``/graphql``: sign-up, sign-in, refresh, sign-out (docs/architecture.md section 5).

| route | does |
|---|---|
| ``POST /auth/signup`` | password sign-up; emails a single-use ``/verify`` link, or, for an address that has an account (pending or not), a set-password link to its holder |
| ``GET /verify?token=`` | the emailed link: a page asking for the sign-up's password (``gql.http.password_routes``) |
| ``POST /auth/login`` | email + password; rate-limited per account and per client |
| ``POST /auth/refresh`` | rotates the refresh token; a reused one ends its family |
| ``POST /auth/logout`` | ends the session family of this device, clears cookies |
| ``GET /auth/providers`` | the configured OIDC providers, for sign-in buttons |
| ``GET /auth/oidc/{provider}/login`` | redirects to the provider |
| ``GET /auth/oidc/{provider}/callback`` | the provider's redirect back: signs in by cookie, or hands a native app a one-time code |
| ``POST /auth/token`` | a native app's one-time code + PKCE verifier → bearer tokens |

Two ways to hold a session, chosen per sign-in with ``"mode"``:
``"bearer"`` (mobile: tokens in the JSON body, sent back as
``Authorization: Bearer`` and ``{"refreshToken": …}``) or ``"cookie"`` (the
SPA: HttpOnly cookies plus a CSRF token, see ``gql.auth.cookies``). OIDC sign-in
is a browser redirect and ends in a cookie session, except for a native app
(RFC 8252): it opens the login URL with ``appRedirect`` (registered),
``codeChallenge`` (PKCE S256) and its own ``state`` in the system browser,
gets back ``appRedirect?code=…&state=…`` and exchanges the code, once and
within a minute, with its verifier at ``/auth/token`` for bearer tokens.

Endpoints are module-level functions reading the app's lifespan state
(``gql.http.state``). Errors have the shape of GraphQL errors so clients
parse one format (``gql.http.errors``):
``{"errors": [{"message": …, "extensions": {"code": …}}]}``. POST bodies
must be JSON: a cross-site HTML form cannot send ``application/json``
without a CORS preflight, which is what protects sign-up and sign-in (where
no cookie is the credential) from cross-site submission.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gql.auth.cookies import CsrfRejected, SessionCookies
from gql.auth.oidc import PENDING_SECONDS, AppReturn, OidcRefused
from gql.auth.passwords import password_problem
from gql.auth.tokens import InvalidToken
from gql.http.errors import JSONResponse, error_response
from gql.http.password_routes import reset_email
from gql.http.state import AppState, app_state, client_address
from gql.http.text_inputs import json_has_control_characters
from resolvers import outbox
from resolvers.auth import sign_in as auth
from resolvers.auth.rate_limits import SIGN_IN
from resolvers.auth.sessions import normalise_email
from resolvers.db import Db
from schema.node import to_global_id

log = logging.getLogger("accessgraph.auth")

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MODES = ("bearer", "cookie")


class BadRequest(Exception):
    """A body the route cannot read; the endpoint answers ``response``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, str(self))


async def _json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    body = await request.body()
    if optional and not body:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(
            415, "UNSUPPORTED_MEDIA_TYPE", "The body must be JSON (Content-Type: application/json)."
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "BAD_REQUEST", "The body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise BadRequest(400, "BAD_REQUEST", "The body must be a JSON object.")
    if json_has_control_characters(payload):
        # Every field of these bodies is one line (gql.http.text_inputs).
        raise BadRequest(400, "BAD_USER_INPUT", "Text may not contain control characters.")
    return payload


def _string(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(400, "BAD_REQUEST", f"'{name}' must be a string.")
    return value


def _mode(payload: dict[str, Any]) -> str:
    mode = payload.get("mode", "bearer")
    if mode not in MODES:
        raise BadRequest(400, "BAD_REQUEST", "'mode' is 'bearer' (mobile) or 'cookie' (SPA).")
    return str(mode)


def _device(request: Request) -> str:
    return request.headers.get("user-agent", "")[:255] or "unknown client"


def _signed_in(
    state: AppState,
    issued: auth.IssuedSession,
    account: Any,
    *,
    mode: str,
    now: dt.datetime,
) -> JSONResponse:
    """The response of a sign-in or refresh: tokens in the body (bearer)
    or in cookies (cookie). Never cached (RFC 6749 5.1)."""
    access_token = state.signer.issue(
        account_id=issued.account_id, session_id=issued.session_id, now=now
    )
    body: dict[str, Any] = {
        "account": {
            "id": str(to_global_id("Account", account.id)),
            "kind": account.kind,
            "displayName": account.display_name,
        },
        "expiresIn": int(state.signer.lifetime.total_seconds()),
        "sessionExpiresAt": issued.expires_at.isoformat(),
    }
    if mode == "bearer":
        body |= {
            "tokenType": "Bearer",
            "accessToken": access_token,
            "refreshToken": issued.refresh_token,
        }
        return JSONResponse(body, headers={"cache-control": "no-store"})
    # Also in the body, for SPAs that keep it in memory rather than
    # reading the cookie.
    cookies = state.cookies
    body["csrfToken"] = cookies.csrf_token(issued.session_id)
    response = JSONResponse(body, headers={"cache-control": "no-store"})
    cookies.set_session(
        response,
        access_token=access_token,
        refresh_token=issued.refresh_token,
        session_id=issued.session_id,
        expires_at=issued.expires_at,
        now=now,
    )
    return response


# ------------------------------------------------------------ password sign-up


async def sign_up(request: Request) -> Response:
    state = app_state(request)
    try:
        payload = await _json_body(request)
        email = normalise_email(_string(payload, "email") or "")
        password = _string(payload, "password") or ""
        display_name = (_string(payload, "displayName") or "").strip()
    except BadRequest as exc:
        return exc.response
    if len(email) > 320 or not EMAIL_PATTERN.match(email):
        return error_response(400, "INVALID_EMAIL", "Give a valid email address.")
    problem = password_problem(password, user_inputs=[email, display_name])
    if problem is not None:
        return error_response(400, "WEAK_PASSWORD", problem)
    if not display_name or len(display_name) > 255:
        return error_response(
            400, "DISPLAY_NAME_REQUIRED", "Give your name (at most 255 characters)."
        )
    if not await state.rate_limiter.hit(
        "client-address", client_address(request), state.policy.address_limit
    ):
        return _rate_limited()
    password_hash = await state.passwords.hash(password)
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        outcome = await auth.sign_up(
            db, email=email, display_name=display_name, password_hash=password_hash, now=now
        )
        mail: outbox.Email | None
        if outcome.result is auth.SignUp.EXISTING:
            # One account per person: its holder gets a link to set or reset
            # its password (nothing, if it may get none). A pending sign-up
            # keeps its password: the mailbox owner must never confirm one
            # that someone else chose (docs/adr/0006).
            mail = await reset_email(db, email, settings=state.settings, now=now, signing_up=True)
        else:
            link = state.verification.link(
                account_id=outcome.account_id,
                email=email,
                password_hash=password_hash,
                now=now,
            )
            mail = outbox.Email(
                to_address=email,
                subject="Confirm your email address",
                body=(
                    f"Open this link to confirm your email address and finish signing up:\n"
                    f"{link}\n\nIf you did not sign up, ignore this email."
                ),
                kind="EMAIL_VERIFICATION",
            )
        await outbox.enqueue(db, [mail] if mail is not None else [], now=now)
        await db.commit()
    # The same answer whether or not the address has an account.
    return JSONResponse(
        {
            "status": "VERIFICATION_SENT",
            "message": "If this address can be used, a confirmation link is on its way.",
        },
        status_code=202,
    )


# ------------------------------------------------------------ password sign-in


async def login(request: Request) -> Response:
    state = app_state(request)
    try:
        payload = await _json_body(request)
        email = normalise_email(_string(payload, "email") or "")
        password = _string(payload, "password") or ""
        mode = _mode(payload)
    except BadRequest as exc:
        return exc.response
    limiter = state.rate_limiter
    # Both counted on every attempt: a guesser is slowed per account
    # whatever its addresses, and per address whatever the accounts.
    account_ok = await limiter.hit("sign-in:account", email, SIGN_IN)
    client_ok = await limiter.hit(
        "client-address", client_address(request), state.policy.address_limit
    )
    if not (account_ok and client_ok):
        return _rate_limited()
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        account = await auth.password_account_by_email(db, email) if email else None
        matches = await state.passwords.verify(
            account.password_hash if account is not None else None, password
        )
        if account is None or not matches:
            return error_response(401, "INVALID_CREDENTIALS", "The email or password is not right.")
        if account.email_verified_at is None:
            return error_response(
                403,
                "EMAIL_NOT_VERIFIED",
                "Confirm your email address first: open the link we emailed you.",
            )
        if state.passwords.needs_rehash(account.password_hash):
            await auth.set_password_hash(
                db,
                account_id=account.id,
                password_hash=await state.passwords.hash(password),
            )
        await auth.link_by_verified_email(db, account)
        issued = await auth.start_session(
            db,
            account_id=account.id,
            now=now,
            lifetime=state.session_lifetime,
            client=_device(request),
        )
        await db.commit()
    return _signed_in(state, issued, account, mode=mode, now=now)


# ------------------------------------------------------------ refresh and sign-out


async def refresh(request: Request) -> Response:
    state = app_state(request)
    cookies = state.cookies
    try:
        payload = await _json_body(request, optional=True)
        presented = _string(payload, "refreshToken", required=False)
    except BadRequest as exc:
        return exc.response
    mode = "bearer"
    if presented is None:
        presented = request.cookies.get(cookies.refresh_name) or None
        mode = "cookie"
    if presented is None:
        return error_response(401, "INVALID_REFRESH_TOKEN", "No refresh token was sent.")
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        row = await auth.session_by_refresh_token(db, presented)
        if mode == "cookie":
            try:
                cookies.check_double_submit(request)
                if row is not None:
                    cookies.check_bound(request, row.id)
            except CsrfRejected as exc:
                return error_response(403, "CSRF_FAILED", str(exc))
        if row is None:
            return _ended(
                cookies, mode, "INVALID_REFRESH_TOKEN", "This refresh token is not valid."
            )
        outcome = await auth.rotate(
            db,
            row,
            now=now,
            client=_device(request),
            grace=dt.timedelta(seconds=state.settings.refresh_grace_seconds),
        )
        await db.commit()
        if outcome is auth.RefreshRefusal.REFRESH_RACED:
            # Cookies untouched: the other tab's response set the new ones.
            return error_response(
                409,
                outcome.value,
                "This session was refreshed a moment ago by another request. "
                "Retry with the newer refresh token.",
            )
        if isinstance(outcome, auth.RefreshRefusal):
            if outcome is auth.RefreshRefusal.REFRESH_TOKEN_REUSED:
                log.warning("refresh token reused; session family %s ended", row.family_id)
                message = "This refresh token was used before; every session of this device has ended. Sign in again."
            else:
                message = "This session has ended. Sign in again."
            return _ended(cookies, mode, outcome.value, message)
        account = await auth.account_by_id(db, outcome.account_id)
    return _signed_in(state, outcome, account, mode=mode, now=now)


async def logout(request: Request) -> Response:
    state = app_state(request)
    cookies = state.cookies
    try:
        payload = await _json_body(request, optional=True)
        presented = _string(payload, "refreshToken", required=False)
    except BadRequest as exc:
        return exc.response
    now = state.clock()
    family: str | None = None
    async with state.sessions() as session:
        db = Db(session)
        header = request.headers.get("authorization")
        if presented is not None:
            row = await auth.session_by_refresh_token(db, presented)
            family = row.family_id if row is not None else None
        elif header is not None:
            scheme, _, token = header.partition(" ")
            try:
                claims = state.signer.verify(
                    token.strip() if scheme.lower() == "bearer" else "", now=now
                )
            except InvalidToken:
                return error_response(401, "UNAUTHENTICATED", "The access token is not valid.")
            family = await auth.family_of_session(db, claims.session_id)
        elif request.cookies.get(cookies.refresh_name) or request.cookies.get(cookies.access_name):
            found = await _cookie_family(request, db, state, cookies, now)
            if isinstance(found, Response):
                return found
            family = found
        if family is not None:
            await auth.end_family(db, family_id=family, now=now, reason=auth.LOGGED_OUT)
            await db.commit()
    response = JSONResponse({"status": "SIGNED_OUT"}, headers={"cache-control": "no-store"})
    cookies.clear(response)
    return response


# ------------------------------------------------------------ OIDC


async def providers(request: Request) -> Response:
    state = app_state(request)
    return JSONResponse(
        {
            "providers": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "loginUrl": f"/auth/oidc/{p.name}/login",
                }
                for p in state.oidc.providers
            ]
        }
    )


async def oidc_login(request: Request) -> Response:
    state = app_state(request)
    try:
        app = _app_return(request, state.settings.app_redirect_uris)
        url, pending = await state.oidc.begin(
            request.path_params["provider"],
            return_to=request.query_params.get("returnTo"),
            app=app,
        )
    except OidcRefused as exc:
        return error_response(exc.status, exc.code, exc.message)
    response = RedirectResponse(url, status_code=302, headers={"cache-control": "no-store"})
    # Lax: the provider's redirect back is a top-level GET, which Lax
    # cookies accompany; a cross-site subrequest does not get it.
    response.set_cookie(
        state.cookies.oidc_name,
        pending,
        max_age=PENDING_SECONDS,
        path="/",
        secure=state.cookies.secure,
        httponly=True,
        samesite="lax",
    )
    return response


async def oidc_callback(request: Request) -> Response:
    state = app_state(request)
    cookies = state.cookies
    name = request.path_params["provider"]
    pending_cookie = request.cookies.get(cookies.oidc_name)
    try:
        identity, pending = await state.oidc.complete(
            name, params=dict(request.query_params), pending_cookie=pending_cookie
        )
    except OidcRefused as exc:
        log.info("OIDC sign-in refused provider=%s code=%s", name, exc.code)
        app = state.oidc.app_return(pending_cookie)
        refused = (
            _to_app(app, error=exc.code)
            if app
            else error_response(exc.status, exc.code, exc.message)
        )
        _forget_pending(refused, cookies)
        return refused
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        try:
            outcome = await auth.sign_in_with_identity(db, identity, now=now)
        except IntegrityError:
            # Two first sign-ins of one identity raced (issuer and subject
            # are unique): the other one made the account; use it.
            await db.rollback()
            outcome = await auth.sign_in_with_identity(db, identity, now=now)
        if isinstance(outcome, auth.IdentityRefusal):
            refused = (
                _to_app(pending.app, error=outcome.value)
                if pending.app
                else error_response(
                    403, outcome.value, "This account's access was revoked. Ask the school."
                )
            )
            _forget_pending(refused, cookies)
            return refused
        if pending.app is not None:
            # A native app: no cookie session in the system browser; a
            # one-time code for the app to exchange with its verifier.
            code = await auth.create_handoff(
                db,
                account_id=outcome.account_id,
                code_challenge=pending.app.code_challenge,
                now=now,
                client=_device(request),
            )
            await db.commit()
            handed = _to_app(pending.app, code=code)
            _forget_pending(handed, cookies)
            return handed
        issued = await auth.start_session(
            db,
            account_id=outcome.account_id,
            now=now,
            lifetime=state.session_lifetime,
            client=_device(request),
        )
        await db.commit()
    access_token = state.signer.issue(
        account_id=issued.account_id, session_id=issued.session_id, now=now
    )
    response = RedirectResponse(
        pending.return_to, status_code=303, headers={"cache-control": "no-store"}
    )
    cookies.set_session(
        response,
        access_token=access_token,
        refresh_token=issued.refresh_token,
        session_id=issued.session_id,
        expires_at=issued.expires_at,
        now=now,
    )
    _forget_pending(response, cookies)
    return response


async def app_token(request: Request) -> Response:
    """A native app exchanges its one-time code and PKCE verifier for
    bearer tokens (the end of an OIDC sign-in it started with
    ``appRedirect``)."""
    state = app_state(request)
    try:
        payload = await _json_body(request)
        code = _string(payload, "code") or ""
        verifier = _string(payload, "codeVerifier") or ""
    except BadRequest as exc:
        return exc.response
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        account_id = (
            await auth.redeem_handoff(db, code=code, verifier=verifier, now=now)
            if code and VERIFIER.fullmatch(verifier)
            else None
        )
        if account_id is None:
            await db.commit()  # the code is spent, right verifier or not
            return error_response(
                400,
                "INVALID_GRANT",
                "This sign-in code is not valid, was used already, or expired. Sign in again.",
            )
        issued = await auth.start_session(
            db,
            account_id=account_id,
            now=now,
            lifetime=state.session_lifetime,
            client=_device(request),
        )
        await db.commit()
        account = await auth.account_by_id(db, account_id)
    return _signed_in(state, issued, account, mode="bearer", now=now)


ROUTES: list[BaseRoute] = [
    Route("/auth/signup", sign_up, methods=["POST"]),
    Route("/auth/token", app_token, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/providers", providers, methods=["GET"]),
    Route("/auth/oidc/{provider}/login", oidc_login, methods=["GET"]),
    Route("/auth/oidc/{provider}/callback", oidc_callback, methods=["GET"]),
]


async def _cookie_family(
    request: Request, db: Db, state: AppState, cookies: SessionCookies, now: dt.datetime
) -> str | Response | None:
    """The session family the SPA's cookies sign in, after the CSRF check;
    an error response when the check fails."""
    try:
        cookies.check_double_submit(request)
        refresh_token = request.cookies.get(cookies.refresh_name)
        if refresh_token:
            row = await auth.session_by_refresh_token(db, refresh_token)
            if row is None:
                return None
            cookies.check_bound(request, row.id)
            return str(row.family_id)
        try:
            claims = state.signer.verify(request.cookies.get(cookies.access_name, ""), now=now)
        except InvalidToken:
            return None
        cookies.check_bound(request, claims.session_id)
        return await auth.family_of_session(db, claims.session_id)
    except CsrfRejected as exc:
        return error_response(403, "CSRF_FAILED", str(exc))


def _ended(cookies: SessionCookies, mode: str, code: str, message: str) -> JSONResponse:
    response = error_response(401, code, message)
    if mode == "cookie":
        cookies.clear(response)
    return response


# RFC 7636: a verifier is 43-128 unreserved characters; an S256 challenge is
# 43 base64url characters.
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
APP_STATE = re.compile(r"[\x21-\x7e]{0,200}")


def _app_return(request: Request, registered: Sequence[str]) -> AppReturn | None:
    """A native app's sign-in parameters, checked; None for a browser."""
    params = request.query_params
    redirect = params.get("appRedirect")
    if redirect is None:
        return None
    if redirect not in registered:
        raise OidcRefused(
            400, "INVALID_APP_REDIRECT", "This app's return address is not registered."
        )
    challenge = params.get("codeChallenge", "")
    if params.get("codeChallengeMethod", "S256") != "S256" or not CHALLENGE.fullmatch(challenge):
        raise OidcRefused(
            400,
            "INVALID_CODE_CHALLENGE",
            "A native app must send codeChallenge, the S256 PKCE challenge (RFC 7636).",
        )
    state = params.get("state", "")
    if not APP_STATE.fullmatch(state):
        raise OidcRefused(400, "INVALID_STATE", "state must be at most 200 printable characters.")
    return AppReturn(redirect_uri=redirect, code_challenge=challenge, state=state)


def _to_app(app: AppReturn, **result: str) -> Response:
    """Back to the native app: its redirect with ``code`` or ``error``, and
    its ``state``."""
    query = urlencode(result | ({"state": app.state} if app.state else {}))
    separator = "&" if "?" in app.redirect_uri else "?"
    return RedirectResponse(
        f"{app.redirect_uri}{separator}{query}",
        status_code=303,
        headers={"cache-control": "no-store"},
    )


def _forget_pending(response: Response, cookies: SessionCookies) -> None:
    """The pending sign-in is single use, refused or not."""
    response.delete_cookie(
        cookies.oidc_name, path="/", secure=cookies.secure, httponly=True, samesite="lax"
    )


def _rate_limited() -> JSONResponse:
    return error_response(
        429,
        "RATE_LIMITED",
        "Too many attempts. Wait a few minutes and try again.",
        {"retry-after": str(int(SIGN_IN.window_seconds))},
    )


def _page(status: int, message: str) -> HTMLResponse:
    """The emailed link is opened in a browser: a one-line page."""
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Access Graph</title>"
        f"<p>{html.escape(message)}</p>",
        status_code=status,
        headers={"cache-control": "no-store"},
    )
