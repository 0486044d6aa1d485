"""Passwords and addresses: set or reset by email, and signed-in changes
(docs/architecture.md section 5).

| route | does |
|---|---|
| ``GET /verify?token=`` | the sign-up's emailed link: a page asking for the password chosen at sign-up |
| ``POST /verify`` | that page's form (form-encoded): the address is verified |
| ``POST /auth/verify`` | ``{token, password}`` → 200: the same for JSON clients |
| ``POST /auth/password/forgot`` | ``{email}`` → 202 always; a reset link when the address has a live account |
| ``POST /auth/password/reset`` | ``{token, password}`` → 200; sets the password, ends every session |
| ``GET /reset-password?token=`` | the emailed link (reset or welcome): a page with the form |
| ``POST /reset-password`` | that page's form (form-encoded) |
| ``GET /forgot-password``, ``POST /forgot-password`` | a page asking for a new link, and its form |
| ``POST /auth/password/change`` | signed in: ``{currentPassword, newPassword}``; ends the other sessions |
| ``POST /auth/email/change`` | signed in: ``{newEmail, currentPassword}`` → 202; a link to the new address |
| ``GET /confirm-email?token=`` | that link, opened signed in to the account that asked: the new address takes effect |
| ``POST /auth/logout/everywhere`` | signed in: ends every session of the account |

No enumeration: ``/auth/password/forgot`` answers 202 with the same body
whether or not the address has an account, counts its rate limits by the
address typed (never by whether it exists), and looks the address up after
the answer is sent (a background task doing the same work either way: one
lookup, one token made), so its timing says nothing either.

The pages work without JavaScript or any external asset, under a strict
Content-Security-Policy (nothing loads; forms post only to this origin; no
framing) and ``Referrer-Policy: no-referrer`` (the token is in the URL).
Their forms post form-encoded. That is safe from cross-site forgery because
the secret is the token itself, in a hidden field: a forged form cannot
carry a token its author does not have, and one they do have only changes
their own account's password (which signs no one in). Browsers' ``Origin``
(or ``Sec-Fetch-Site``) must also say the post came from this site.

An emailed link proves the mailbox, never who chose the account's
password: a confirmation link verifies the address only with the password
chosen at sign-up, a new address only for the account signed in that
asked for it, and a reset or welcome link replaces whatever password (or
provider identity) someone put on an unverified account
(``resolvers.auth.sign_in.forget_unproven_credentials``).

Endpoints are module-level functions reading the app's lifespan state
(``gql.http.state``); errors have the one shape of ``gql.http.errors``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import logging
import re
import secrets
from base64 import b64encode
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gql.auth.authentication import AuthenticationFailed, authenticate
from gql.auth.cookies import CsrfRejected
from gql.auth.passwords import password_problem
from gql.auth.verification import TokenProblem
from gql.http.errors import JSONResponse, error_response
from gql.http.observability import note_error
from gql.http.state import AppState, app_state, client_address
from gql.http.text_inputs import json_has_control_characters
from gql.settings import Settings
from permissions.roles import AccountKind
from permissions.viewer import Viewer
from resolvers import outbox
from resolvers.auth import password_tokens as links
from resolvers.auth import sign_in as auth
from resolvers.auth.rate_limits import PASSWORD_ACCOUNT, PASSWORD_CLIENT, SIGN_IN
from resolvers.auth.sessions import normalise_email
from resolvers.db import Db

log = logging.getLogger("accessgraph.auth")

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_FORM_BYTES = 8 * 1024


# ---------------------------------------------------------------- plumbing


def _json(content: dict[str, Any], status: int = 200, **kwargs: Any) -> JSONResponse:
    return JSONResponse(
        content, status_code=status, headers={"cache-control": "no-store"}, **kwargs
    )


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"retry-after": str(int(PASSWORD_CLIENT.window_seconds))} if status == 429 else {}
    return error_response(status, code, message, headers)


class Refused(Exception):
    """An answer other than success: a code, a message and a status, shown
    as JSON on the API routes and as a page on the HTML ones."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def json(self) -> JSONResponse:
        return _error(self.status, self.code, self.message)


RATE_LIMITED = Refused(429, "RATE_LIMITED", "Too many attempts. Wait a few minutes and try again.")
INVALID_TOKEN = Refused(
    400,
    "INVALID_TOKEN",
    "This link is not valid: it was used already, has expired, or the account can no "
    "longer use it. Ask for a new one.",
)


async def _json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refused(
            415, "UNSUPPORTED_MEDIA_TYPE", "The body must be JSON (Content-Type: application/json)."
        )
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "BAD_REQUEST", "The body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise Refused(400, "BAD_REQUEST", "The body must be a JSON object.")
    if json_has_control_characters(payload):
        # Every field of these bodies is one line (gql.http.text_inputs).
        raise Refused(400, "BAD_USER_INPUT", "Text may not contain control characters.")
    return payload


def _string(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise Refused(400, "BAD_REQUEST", f"'{name}' must be a string.")
    return value


def _email(value: str) -> str:
    email = normalise_email(value)
    if len(email) > 320 or not EMAIL_PATTERN.match(email):
        raise Refused(400, "INVALID_EMAIL", "Give a valid email address.")
    return email


# ---------------------------------------------------------------- forgot


FORGOT_ANSWER = {
    "status": "RESET_SENT",
    "message": "If this address has an account, a link to set a new password is on its way.",
}


async def _forgot(request: Request, email: str) -> BackgroundTask:
    """Count the attempt (per address typed and per client, whether or not
    the address has an account) and hand the lookup to a background task."""
    state = app_state(request)
    limiter = state.rate_limiter
    address_ok = await limiter.hit("password-forgot:address", email, PASSWORD_ACCOUNT)
    client_ok = await limiter.hit(
        "client-address", client_address(request), state.policy.address_limit
    )
    if not (address_ok and client_ok):
        raise RATE_LIMITED
    return BackgroundTask(send_reset_link, state, email)


async def reset_email(
    db: Db, email: str, *, settings: Settings, now: dt.datetime, signing_up: bool = False
) -> outbox.Email | None:
    """A reset link for the account of ``email``, stored and ready to queue;
    None when there is no account that may get one (none, revoked, a
    student whose login is off). The same work either way: one lookup, one
    token made and hashed."""
    account = await links.account_for_links(db, email)
    if account is None:
        links.hash_token(secrets.token_urlsafe(32))  # what the other branch costs
        return None
    tokens = await links.issue(
        db,
        [account.id],
        purpose=links.PASSWORD,
        now=now,
        lifetime=dt.timedelta(minutes=settings.password_reset_minutes),
    )
    link = links.password_link(settings.public_url, tokens[account.id])
    return outbox.Email(
        to_address=account.email,
        subject="Set a new password",
        body=(
            f"Hello {account.display_name},\n\n"
            + (
                "Someone (we hope you) tried to sign up with this address, which has an "
                "account already: you do not need another. "
                if signing_up
                else "Someone (we hope you) asked to set a new password for the account with "
                "this address. "
            )
            + "Open this link to choose a password (it works once, for "
            f"{settings.password_reset_minutes} minutes):\n{link}\n\n"
            "Then sign in with this address and that password. If it was not you, ignore "
            "this email: nothing changes.\n"
        ),
        kind="PASSWORD_RESET",
    )


async def send_reset_link(state: AppState, email: str) -> None:
    """After the 202 of a forgot-password request (``reset_email``)."""
    now = state.clock()
    try:
        async with state.sessions() as session:
            db = Db(session)
            mail = await reset_email(db, email, settings=state.settings, now=now)
            if mail is None:
                await db.rollback()
                return
            await outbox.enqueue(db, [mail], now=now)
            await db.commit()
    except Exception:
        # The client has its answer already; the failure is ours to see.
        log.exception("the reset link was not sent")


async def forgot_password(request: Request) -> Response:
    """``POST /auth/password/forgot`` ``{email}`` → 202 whatever the address."""
    try:
        email = _email(_string(await _json_body(request), "email"))
        task = await _forgot(request, email)
    except Refused as refused:
        return refused.json()
    return _json(FORGOT_ANSWER, 202, background=task)


# ---------------------------------------------------------------- reset


async def _reset(request: Request, token: str, password: str) -> None:
    """Set the password a usable token's account chooses; Refused otherwise.

    The token is checked (read only) before anything is counted or hashed,
    and spent in the same transaction as the change, by a conditional
    UPDATE, so two uses racing cannot both win."""
    state = app_state(request)
    limiter = state.rate_limiter
    if not await limiter.hit("client-address", client_address(request), state.policy.address_limit):
        raise RATE_LIMITED
    now = state.clock()
    async with state.sessions() as session:
        account = await links.holder(Db(session), token, purpose=links.PASSWORD, now=now)
    if account is None:
        raise INVALID_TOKEN
    problem = password_problem(password, user_inputs=[account.email or "", account.display_name])
    if problem is not None:
        # Not counted per account: a person may try a few before one is strong.
        raise Refused(400, "WEAK_PASSWORD", problem)
    if not await limiter.hit("password-reset:account", str(account.id), PASSWORD_ACCOUNT):
        raise RATE_LIMITED
    password_hash = await state.passwords.hash(password)
    async with state.sessions() as session:
        db = Db(session)
        still = await links.holder(db, token, purpose=links.PASSWORD, now=now)
        if still is None or not await links.spend(db, token, purpose=links.PASSWORD, now=now):
            raise INVALID_TOKEN
        # The link proves the mailbox: a password or provider identity that
        # someone else may have put on the unverified account stops working.
        await auth.forget_unproven_credentials(db, still, now=now)
        await links.set_password(
            db,
            account_id=still.id,
            password_hash=password_hash,
            now=now,
            reason=links.PASSWORD_RESET,
        )
        verified = await auth.account_by_id(db, still.id)
        assert verified is not None
        await auth.link_by_verified_email(db, verified)
        await db.commit()


async def reset_password(request: Request) -> Response:
    """``POST /auth/password/reset`` ``{token, password}`` → 200."""
    try:
        payload = await _json_body(request)
        await _reset(request, _string(payload, "token"), _string(payload, "password"))
    except Refused as refused:
        return refused.json()
    return _json(
        {
            "status": "PASSWORD_SET",
            "message": "Your password is set. Sign in with your email address and this password.",
        }
    )


# ---------------------------------------------------------------- pages

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label,input,button{display:block;width:100%;box-sizing:border-box}"
    "input,button{font:inherit;padding:.5rem;margin:.25rem 0 1rem}"
    ".problem{color:#a00}"
)
# Only this inline style may apply; nothing loads, forms post here only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def _page(
    status: int, title: str, *parts: str, background: BackgroundTask | None = None
) -> HTMLResponse:
    """A small page of its own: no script, no external asset."""
    return HTMLResponse(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<h1>{html.escape(title)}</h1>{''.join(parts)}</html>",
        status_code=status,
        headers=PAGE_HEADERS,
        background=background,
    )


def _paragraph(text: str, *, problem: bool = False) -> str:
    role = " class=problem role=alert" if problem else ""
    return f"<p{role}>{html.escape(text)}</p>"


def _reset_form(token: str, email: str, problem: str | None = None) -> str:
    return (
        (_paragraph(problem, problem=True) if problem else "")
        + "<form method=post action=/reset-password>"
        f"<input type=hidden name=token value='{html.escape(token, quote=True)}'>"
        # For password managers: whose password this is.
        f"<input type=hidden name=username autocomplete=username "
        f"value='{html.escape(email, quote=True)}'>"
        f"<p>For <strong>{html.escape(email)}</strong>.</p>"
        "<label for=password>New password (at least 12 characters; a few uncommon words "
        "together are strong and easy to remember)</label>"
        "<input id=password name=password type=password autocomplete=new-password "
        "minlength=12 maxlength=1024 required autofocus>"
        "<button type=submit>Set my password</button></form>"
    )


def _forgot_form(problem: str | None = None) -> str:
    return (
        (_paragraph(problem, problem=True) if problem else "")
        + "<form method=post action=/forgot-password>"
        "<label for=email>Your email address</label>"
        "<input id=email name=email type=email autocomplete=email maxlength=320 required "
        "autofocus><button type=submit>Email me a link</button></form>"
    )


def _dead_link_page() -> HTMLResponse:
    note_error(INVALID_TOKEN.code)
    return _page(
        400,
        "This link does not work",
        _paragraph(INVALID_TOKEN.message),
        "<p><a href=/forgot-password>Ask for a new link</a></p>",
    )


def _cross_site(request: Request) -> bool:
    """Whether a browser says this form post came from another site."""
    state = app_state(request)
    public = urlsplit(state.settings.public_url)
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != f"{public.scheme}://{public.netloc}"
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in {"same-origin", "none"}
    return False  # not a browser (or a very old one): the token is the credential


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
        raise Refused(400, "BAD_REQUEST", "Send the form from the page.")
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError as exc:  # more fields than the form has
        raise Refused(400, "BAD_REQUEST", "Send the form from the page.") from exc
    if json_has_control_characters(fields):
        raise Refused(400, "BAD_USER_INPUT", "Text may not contain control characters.")
    return {name: values[0] for name, values in fields.items() if values}


async def reset_password_page(request: Request) -> Response:
    """``GET /reset-password?token=``: the form, if the link still works.
    Opening the page does not spend the link (mail scanners open links)."""
    state = app_state(request)
    token = request.query_params.get("token", "")
    async with state.sessions() as session:
        account = await links.holder(Db(session), token, purpose=links.PASSWORD, now=state.clock())
    if account is None:
        return _dead_link_page()
    return _page(200, "Choose your password", _reset_form(token, account.email or ""))


async def reset_password_form(request: Request) -> Response:
    """``POST /reset-password``: the page's form."""
    if _cross_site(request):
        note_error("CROSS_SITE_FORM")
        return _page(403, "Not sent from this site", _paragraph("Open the emailed link again."))
    try:
        fields = await _form(request)
    except Refused as refused:
        note_error(refused.code)
        return _page(refused.status, "Something went wrong", _paragraph(refused.message))
    token = fields.get("token", "")
    try:
        await _reset(request, token, fields.get("password", ""))
    except Refused as refused:
        if refused is INVALID_TOKEN:
            return _dead_link_page()
        note_error(refused.code)
        return _page(
            refused.status,
            "Choose your password",
            _reset_form(token, fields.get("username", ""), refused.message),
        )
    return _page(
        200,
        "Your password is set",
        _paragraph(
            "Sign in with your email address and this password. Every device that was "
            "signed in to this account has been signed out."
        ),
    )


async def forgot_password_page(request: Request) -> Response:
    """``GET /forgot-password``: ask for a link."""
    return _page(200, "Set or reset your password", _forgot_form())


async def forgot_password_form(request: Request) -> Response:
    """``POST /forgot-password``: the page's form; the same answer for every
    address."""
    if _cross_site(request):
        note_error("CROSS_SITE_FORM")
        return _page(403, "Not sent from this site", _paragraph("Use the form on this site."))
    try:
        fields = await _form(request)
        task = await _forgot(request, _email(fields.get("email", "")))
    except Refused as refused:
        note_error(refused.code)
        return _page(refused.status, "Set or reset your password", _forgot_form(refused.message))
    return _page(202, "Check your email", _paragraph(FORGOT_ANSWER["message"]), background=task)


# ---------------------------------------------------------------- signed in


async def _viewer(request: Request, db: Db, state: AppState) -> Viewer:
    """The signed-in account (bearer token, or cookies with the CSRF header)."""
    try:
        viewer = await authenticate(request, db, state.signer, state.clock(), state.cookies)
    except CsrfRejected as exc:
        raise Refused(403, "CSRF_FAILED", str(exc)) from exc
    except AuthenticationFailed as exc:
        raise Refused(401, "UNAUTHENTICATED", str(exc)) from exc
    if viewer.account_id is None or viewer.session_id is None:
        raise Refused(401, "UNAUTHENTICATED", "Sign in first.")
    return viewer


async def _check_current_password(
    request: Request, state: AppState, account: Any, password: str
) -> None:
    limiter = state.rate_limiter
    account_ok = await limiter.hit("password-change:account", str(account.id), PASSWORD_ACCOUNT)
    client_ok = await limiter.hit(
        "client-address", client_address(request), state.policy.address_limit
    )
    if not (account_ok and client_ok):
        raise RATE_LIMITED
    if account.password_hash is None:
        raise Refused(
            400,
            "NO_PASSWORD",
            "This account has no password yet: set one with 'Forgot your password?' "
            "(a link to your address).",
        )
    if not await state.passwords.verify(account.password_hash, password):
        raise Refused(400, "INVALID_CREDENTIALS", "The current password is not right.")


async def change_password(request: Request) -> Response:
    """``POST /auth/password/change`` ``{currentPassword, newPassword}``:
    every other session of the account ends; this one goes on."""
    try:
        return await _change_password(request)
    except Refused as refused:
        return refused.json()


async def _change_password(request: Request) -> Response:
    state = app_state(request)
    payload = await _json_body(request)
    current = _string(payload, "currentPassword")
    new = _string(payload, "newPassword")
    async with state.sessions() as session:
        db = Db(session)
        viewer = await _viewer(request, db, state)
        assert viewer.account_id is not None
        assert viewer.session_id is not None
        account = await auth.account_by_id(db, viewer.account_id)
        family = await auth.family_of_session(db, viewer.session_id)
    assert account is not None
    await _check_current_password(request, state, account, current)
    problem = password_problem(new, user_inputs=[account.email or "", account.display_name])
    if problem is not None:
        raise Refused(400, "WEAK_PASSWORD", problem)
    password_hash = await state.passwords.hash(new)
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        ended = await links.set_password(
            db,
            account_id=account.id,
            password_hash=password_hash,
            now=now,
            reason=links.PASSWORD_CHANGED,
            keep_family=family,
        )
        await db.commit()
    return _json({"status": "PASSWORD_CHANGED", "otherSessionsEnded": ended})


async def change_email(request: Request) -> Response:
    """``POST /auth/email/change`` ``{newEmail, currentPassword}`` → 202: a
    confirmation link to the new address and a notice to the old one. An
    address another account uses gets a notice instead of a link (the
    answer is the same)."""
    try:
        return await _change_email(request)
    except Refused as refused:
        return refused.json()


async def _change_email(request: Request) -> Response:
    state = app_state(request)
    settings = state.settings
    payload = await _json_body(request)
    new_email = _email(_string(payload, "newEmail"))
    async with state.sessions() as session:
        db = Db(session)
        viewer = await _viewer(request, db, state)
        assert viewer.account_id is not None
        account = await auth.account_by_id(db, viewer.account_id)
    assert account is not None
    if account.kind == AccountKind.STUDENT:
        raise Refused(
            403,
            "EMAIL_MANAGED_BY_SCHOOL",
            "A student's address comes from the school's records; ask the school to change it.",
        )
    if account.password_hash is not None:
        await _check_current_password(request, state, account, _string(payload, "currentPassword"))
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        mail: list[outbox.Email] = []
        if await links.email_taken(db, new_email, other_than=account.id):
            mail.append(
                outbox.Email(
                    to_address=new_email,
                    subject="This address already has an account",
                    body=(
                        "Someone signed in to another account asked to use this address "
                        "for it. This address already has an account of its own, so "
                        "nothing changed. If you want a new password for it, ask for one "
                        f"at {settings.public_url.rstrip('/')}/forgot-password.\n"
                    ),
                    kind="EMAIL_CHANGE_REFUSED",
                )
            )
        elif new_email != normalise_email(account.email or ""):
            tokens = await links.issue(
                db,
                [account.id],
                purpose=links.EMAIL,
                now=now,
                lifetime=dt.timedelta(hours=settings.email_change_hours),
                new_email=new_email,
            )
            link = links.email_link(settings.public_url, tokens[account.id])
            mail.append(
                outbox.Email(
                    to_address=new_email,
                    subject="Confirm your new email address",
                    body=(
                        f"Hello {account.display_name},\n\n"
                        "Open this link to sign in with this address from now on (it "
                        f"works once, for {settings.email_change_hours} hours):\n{link}\n\n"
                        "If you did not ask for this, ignore this email.\n"
                    ),
                    kind="EMAIL_CHANGE",
                )
            )
            if account.email:
                mail.append(
                    outbox.Email(
                        to_address=account.email,
                        subject="Your email address is being changed",
                        body=(
                            f"Hello {account.display_name},\n\n"
                            f"Someone signed in to your account asked to change its email "
                            f"address to {new_email}. It changes when the link sent there "
                            "is opened. If this was not you, change your password now and "
                            "sign out everywhere.\n"
                        ),
                        kind="EMAIL_CHANGE_NOTICE",
                    )
                )
        await outbox.enqueue(db, mail, now=now)
        await db.commit()
    return _json(
        {
            "status": "CONFIRMATION_SENT",
            "message": "Open the link sent to the new address to finish the change.",
        },
        202,
    )


async def confirm_email(request: Request) -> Response:
    """``GET /confirm-email?token=``: the new address takes effect (HTML,
    or JSON with ``Accept: application/json``). Single use."""
    state = app_state(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    token = request.query_params.get("token", "")
    now = state.clock()
    refused: Refused | None = None
    async with state.sessions() as session:
        db = Db(session)
        account = await links.holder(db, token, purpose=links.EMAIL, now=now)
        if account is None or account.new_email is None:
            refused = INVALID_TOKEN
        elif not await _signed_in_as(request, db, state, account.id):
            # The link proves the new mailbox, not who holds the account: the
            # mailbox owner opening someone else's link must not give that
            # account their address (and with it their staff record).
            refused = SIGN_IN_FIRST
        elif await links.email_taken(db, account.new_email, other_than=account.id):
            refused = Refused(
                409, "EMAIL_IN_USE", "Another account signs in with this address now."
            )
        elif await links.spend(db, token, purpose=links.EMAIL, now=now):
            await links.change_email(
                db, account_id=account.id, new_email=account.new_email, now=now
            )
            await db.commit()
        else:
            refused = INVALID_TOKEN
    if refused is not None:
        if wants_json:
            return refused.json()
        note_error(refused.code)
        return _page(refused.status, "This link does not work", _paragraph(refused.message))
    message = "Your new email address is confirmed. Sign in with it from now on."
    if wants_json:
        return _json({"status": "EMAIL_CHANGED", "message": message})
    return _page(200, "Email address changed", _paragraph(message))


SIGN_IN_FIRST = Refused(
    401,
    "UNAUTHENTICATED",
    "Sign in to the account that asked for this address, then open the link again.",
)


async def _signed_in_as(request: Request, db: Db, state: AppState, account_id: int) -> bool:
    """Whether the request is signed in (bearer, or the SPA's cookie: a
    top-level link carries no CSRF header, and needs none, since its token
    only acts on the account it is bound to) as ``account_id``."""
    try:
        viewer = await authenticate(
            request, db, state.signer, state.clock(), state.cookies, check_csrf=False
        )
    except (AuthenticationFailed, CsrfRejected):
        return False
    return viewer.account_id == account_id and viewer.session_id is not None


# ---------------------------------------------------------------- sign-up confirmation

VERIFY_MESSAGES = {
    None: "Your email address is confirmed. You can now sign in.",
    TokenProblem.INVALID_TOKEN: "This confirmation link is not valid.",
    TokenProblem.TOKEN_EXPIRED: "This confirmation link has expired. Sign up again.",
    TokenProblem.TOKEN_USED: "This confirmation link was used already. Sign in.",
}
WRONG_SIGN_UP_PASSWORD = Refused(
    400,
    "INVALID_CREDENTIALS",
    "That is not the password chosen when signing up with this address. If you did not "
    "sign up, or forgot the password, ask for a link to set one at /forgot-password.",
)


def _token_refused(problem: TokenProblem) -> Refused:
    return Refused(400, problem.value, VERIFY_MESSAGES[problem])


async def _pending_sign_up(db: Db, state: AppState, token: str) -> Any:
    """The account a live confirmation link names; Refused otherwise."""
    parsed = state.verification.parse(token)
    if parsed is None:
        raise _token_refused(TokenProblem.INVALID_TOKEN)
    account = await auth.account_by_id(db, parsed.account_id)
    problem = state.verification.problem(parsed, account, now=state.clock())
    if problem is not None:
        raise _token_refused(problem)
    return account


async def _verify(request: Request, token: str, password: str) -> None:
    """Verify the address of a sign-up: the link proves the mailbox, the
    password proves that whoever holds it chose the account's password.
    Both or nothing; Refused otherwise."""
    state = app_state(request)
    limiter = state.rate_limiter
    if not await limiter.hit("client-address", client_address(request), state.policy.address_limit):
        raise RATE_LIMITED
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        account = await _pending_sign_up(db, state, token)
        if not await limiter.hit("verify:account", str(account.id), SIGN_IN):
            raise RATE_LIMITED
        if not await state.passwords.verify(account.password_hash, password):
            raise WRONG_SIGN_UP_PASSWORD
        if not await auth.mark_email_verified(db, account_id=account.id, now=now):
            raise _token_refused(TokenProblem.TOKEN_USED)
        verified = await auth.account_by_id(db, account.id)
        assert verified is not None
        await auth.link_by_verified_email(db, verified)
        await db.commit()


def _verify_form(token: str, email: str, problem: str | None = None) -> str:
    return (
        (_paragraph(problem, problem=True) if problem else "") + "<form method=post action=/verify>"
        f"<input type=hidden name=token value='{html.escape(token, quote=True)}'>"
        f"<input type=hidden name=username autocomplete=username "
        f"value='{html.escape(email, quote=True)}'>"
        f"<p>To finish signing up as <strong>{html.escape(email)}</strong>, give the "
        "password you chose when you signed up. If you did not sign up, close this page: "
        "nothing changes.</p>"
        "<label for=password>Password</label>"
        "<input id=password name=password type=password autocomplete=current-password "
        "maxlength=1024 required autofocus>"
        "<button type=submit>Confirm my address</button></form>"
    )


async def verify_page(request: Request) -> Response:
    """``GET /verify?token=``: the form (or, with ``Accept:
    application/json``, ``{"status": "PASSWORD_NEEDED"}``). Opening the link
    confirms nothing: mail scanners open links, and the mailbox owner may
    not be who signed up."""
    state = app_state(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    token = request.query_params.get("token", "")
    try:
        async with state.sessions() as session:
            account = await _pending_sign_up(Db(session), state, token)
    except Refused as refused:
        if wants_json:
            return refused.json()
        note_error(refused.code)
        return _page(refused.status, "This link does not work", _paragraph(refused.message))
    if wants_json:
        return _json(
            {
                "status": "PASSWORD_NEEDED",
                "message": "Send the token with the password chosen at sign-up to /auth/verify.",
            }
        )
    return _page(200, "Confirm your email address", _verify_form(token, account.email or ""))


async def verify_form(request: Request) -> Response:
    """``POST /verify``: the page's form."""
    if _cross_site(request):
        note_error("CROSS_SITE_FORM")
        return _page(403, "Not sent from this site", _paragraph("Open the emailed link again."))
    try:
        fields = await _form(request)
    except Refused as refused:
        note_error(refused.code)
        return _page(refused.status, "Something went wrong", _paragraph(refused.message))
    token = fields.get("token", "")
    try:
        await _verify(request, token, fields.get("password", ""))
    except Refused as refused:
        note_error(refused.code)
        if refused is WRONG_SIGN_UP_PASSWORD:
            return _page(
                400,
                "Confirm your email address",
                _verify_form(token, fields.get("username", ""), refused.message),
            )
        return _page(refused.status, "This link does not work", _paragraph(refused.message))
    return _page(200, "Email address confirmed", _paragraph(VERIFY_MESSAGES[None]))


async def verify_json(request: Request) -> Response:
    """``POST /auth/verify`` ``{token, password}`` → 200."""
    try:
        payload = await _json_body(request)
        await _verify(request, _string(payload, "token"), _string(payload, "password"))
    except Refused as refused:
        return refused.json()
    return _json({"status": "EMAIL_VERIFIED", "message": VERIFY_MESSAGES[None]})


async def sign_out_everywhere(request: Request) -> Response:
    """``POST /auth/logout/everywhere``: every session of the account ends,
    this one too; the SPA's cookies are cleared."""
    state = app_state(request)
    try:
        async with state.sessions() as session:
            db = Db(session)
            viewer = await _viewer(request, db, state)
            assert viewer.account_id is not None
            ended = await links.end_sessions(
                db,
                account_id=viewer.account_id,
                now=state.clock(),
                reason=links.SIGNED_OUT_EVERYWHERE,
            )
            await db.commit()
    except Refused as refused:
        return refused.json()
    response = _json({"status": "SIGNED_OUT", "sessionsEnded": ended})
    state.cookies.clear(response)
    return response


ROUTES: list[BaseRoute] = [
    Route("/verify", verify_page, methods=["GET"]),
    Route("/verify", verify_form, methods=["POST"]),
    Route("/auth/verify", verify_json, methods=["POST"]),
    Route("/auth/password/forgot", forgot_password, methods=["POST"]),
    Route("/auth/password/reset", reset_password, methods=["POST"]),
    Route("/reset-password", reset_password_page, methods=["GET"]),
    Route("/reset-password", reset_password_form, methods=["POST"]),
    Route("/forgot-password", forgot_password_page, methods=["GET"]),
    Route("/forgot-password", forgot_password_form, methods=["POST"]),
    Route("/auth/password/change", change_password, methods=["POST"]),
    Route("/auth/email/change", change_email, methods=["POST"]),
    Route("/confirm-email", confirm_email, methods=["GET"]),
    Route("/auth/logout/everywhere", sign_out_everywhere, methods=["POST"]),
]
