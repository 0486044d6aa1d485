"""Sessions: refresh rotation and reuse detection, sign-out, the SPA's cookie
session with its CSRF check, and ``terminateSessions``.

Every check is through the real app (or, for the permission matrix, the real
schema) against a real database; an ended session is shown to end by the
next request of its access token failing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.auth.passwords import Argon2Cost, Passwords
from gql.cli.commands import mint_token
from gql.cli.errors import CliError
from gql.http.app import signer_for
from gql.settings import Settings
from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.auth import sign_in as auth
from resolvers.db import Db, create_engine
from resolvers.tables import ACCOUNTS
from tests.auth_client import AppClient, auth_settings, error_code, graphql, rows, serving
from tests.client import GraphQLRunner, gid
from tests.clock import NOW
from tests.snapshots import snapshot
from tests.world import VIEWERS, World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "a long and private passphrase"
ME = "{ viewer { isAuthenticated account { displayName } } }"
TERMINATE = """
mutation($input: TerminateSessionsInput!) {
  terminateSessions(input: $input) { terminatedSessions userErrors { code field } }
}
"""
NOT_ALLOWED = "Your role does not allow this."


@pytest.fixture(scope="module")
def engine(world_engine: tuple[AsyncEngine, World]) -> AsyncEngine:
    return world_engine[0]


@pytest.fixture(scope="module")
def settings(engine: AsyncEngine) -> Settings:
    return auth_settings(engine)


@pytest.fixture(scope="module")
async def http(settings: Settings) -> AsyncIterator[AppClient]:
    async with serving(settings) as client:
        yield client


async def _person(engine: AsyncEngine, email: str) -> int:
    """A verified guardian account that signs in with ``PASSWORD``."""
    hashed = await Passwords(Argon2Cost(1, 64, 1)).hash(PASSWORD)
    async with engine.begin() as c:
        result = await c.execute(
            sa.insert(ACCOUNTS)
            .values(
                kind="GUARDIAN",
                email=email,
                email_verified_at=NOW,
                display_name=email.split("@")[0],
                password_hash=hashed,
                created_at=NOW,
            )
            .returning(ACCOUNTS.c.id)
        )
        return int(result.scalar_one())


async def _login(http: AppClient, email: str, mode: str = "bearer") -> httpx.Response:
    http.cookies.clear()
    response = await http.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "mode": mode}
    )
    assert response.status_code == 200, response.text
    return response


async def _refresh(http: AppClient, refresh_token: str) -> httpx.Response:
    return await http.post("/auth/refresh", json={"refreshToken": refresh_token})


async def _sessions_of(engine: AsyncEngine, account_id: int) -> list[Any]:
    return [
        s
        for s in await rows(engine, tables.Session, "created_at", "id")
        if s.account_id == account_id
    ]


async def _works(http: AppClient, access_token: str) -> int:
    return (await graphql(http, ME, bearer=access_token)).status_code


# ---------------------------------------------------------------- refresh


async def test_refresh_rotates_the_token_and_keeps_a_row_per_rotation(
    http: AppClient, engine: AsyncEngine
) -> None:
    account_id = await _person(engine, "rotate@home.example.com")
    first = (await _login(http, "rotate@home.example.com")).json()
    second_response = await _refresh(http, first["refreshToken"])
    assert second_response.status_code == 200
    second = second_response.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert second["account"]["id"] == gid("Account", account_id)
    old, new = await _sessions_of(engine, account_id)
    assert (old.revoked_reason, new.revoked_reason, new.revoked_at) == ("rotated", None, None)
    assert old.revoked_at is not None
    assert old.family_id == new.family_id
    # Rotation proves possession; it does not extend the sign-in.
    assert new.expires_at == old.expires_at
    assert await _works(http, second["accessToken"]) == 200
    # The rotated session is over: its access token fails on the next request.
    assert await _works(http, first["accessToken"]) == 401


async def test_a_reused_refresh_token_ends_the_whole_family_and_nothing_else(
    settings: Settings, engine: AsyncEngine
) -> None:
    clock = _Clock()
    async with serving(settings, clock=clock) as http:
        await _reuse_ends_the_family(http, engine, clock)


class _Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


async def _reuse_ends_the_family(http: AppClient, engine: AsyncEngine, clock: _Clock) -> None:
    account_id = await _person(engine, "stolen@home.example.com")
    phone = (await _login(http, "stolen@home.example.com")).json()
    clock.advance(1)
    laptop = (await _login(http, "stolen@home.example.com")).json()
    clock.advance(1)
    rotated = (await _refresh(http, phone["refreshToken"])).json()

    # The thief (or the owner) presents the old token again, after the grace
    # window in which it would count as the client racing itself.
    clock.advance(21)
    reused = await _refresh(http, phone["refreshToken"])
    assert (reused.status_code, error_code(reused)) == (401, "REFRESH_TOKEN_REUSED")
    reasons = [(s.family_id, s.revoked_reason) for s in await _sessions_of(engine, account_id)]
    phone_family = reasons[0][0]
    assert reasons == [
        (phone_family, "rotated"),
        (reasons[1][0], None),
        (phone_family, "refresh token reused"),
    ]
    after = await _refresh(http, rotated["refreshToken"])
    assert (after.status_code, error_code(after)) == (401, "SESSION_ENDED")
    assert await _works(http, rotated["accessToken"]) == 401
    # The other device's family is untouched.
    assert await _works(http, laptop["accessToken"]) == 200
    assert (await _refresh(http, laptop["refreshToken"])).status_code == 200

    unknown = await _refresh(http, "not-a-token-this-server-made")
    assert (unknown.status_code, error_code(unknown)) == (401, "INVALID_REFRESH_TOKEN")


async def test_two_tabs_refreshing_at_once_race_without_ending_the_session(
    settings: Settings, engine: AsyncEngine
) -> None:
    clock = _Clock()
    async with serving(settings, clock=clock) as http:
        account_id = await _person(engine, "tabs@home.example.com")
        await _login(http, "tabs@home.example.com", mode="cookie")
        csrf = http.cookies["ag_csrf"]
        old_refresh = http.cookies["ag_refresh"]
        # Tab 1 refreshes; tab 2 sent the same cookie a moment later.
        first = await http.post("/auth/refresh", headers={"x-csrf-token": csrf})
        assert first.status_code == 200
        new_csrf = http.cookies["ag_csrf"]
        clock.advance(20)
        before = await snapshot(engine)
        second = await http.post(
            "/auth/refresh",
            headers={"x-csrf-token": csrf, "cookie": f"ag_refresh={old_refresh}; ag_csrf={csrf}"},
        )
        assert (second.status_code, error_code(second)) == (409, "REFRESH_RACED")
        # No token, no cookie cleared (tab 1's new cookies stand), nothing ended.
        assert "accessToken" not in second.json()
        assert second.headers.get_list("set-cookie") == []
        assert await snapshot(engine) == before
        # Tab 2 retries with the cookies the browser now holds.
        assert (await graphql(http, ME, csrf=new_csrf)).status_code == 200
        retried = await http.post("/auth/refresh", headers={"x-csrf-token": new_csrf})
        assert retried.status_code == 200
        reasons = [s.revoked_reason for s in await _sessions_of(engine, account_id)]
        assert reasons == ["rotated", "rotated", None]


async def test_concurrent_refreshes_with_one_token_issue_exactly_one_new_token(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with serving(settings) as http:
        account_id = await _person(engine, "threads@home.example.com")
        token = (await _login(http, "threads@home.example.com")).json()["refreshToken"]
        responses = await asyncio.gather(*[_refresh(http, token) for _ in range(4)])
        outcomes = sorted(
            (r.status_code, error_code(r) if r.status_code != 200 else None) for r in responses
        )
        assert outcomes == [
            (200, None),
            (409, "REFRESH_RACED"),
            (409, "REFRESH_RACED"),
            (409, "REFRESH_RACED"),
        ]
        winner = next(r.json() for r in responses if r.status_code == 200)
        assert await _works(http, winner["accessToken"]) == 200
        reasons = [s.revoked_reason for s in await _sessions_of(engine, account_id)]
        assert reasons == ["rotated", None]


async def test_without_a_grace_window_a_second_refresh_is_a_reuse(engine: AsyncEngine) -> None:
    async with serving(auth_settings(engine, refresh_grace_seconds=0)) as http:
        account_id = await _person(engine, "strict@home.example.com")
        token = (await _login(http, "strict@home.example.com")).json()["refreshToken"]
        assert (await _refresh(http, token)).status_code == 200
        again = await _refresh(http, token)
        assert (again.status_code, error_code(again)) == (401, "REFRESH_TOKEN_REUSED")
        reasons = [s.revoked_reason for s in await _sessions_of(engine, account_id)]
        assert reasons == ["rotated", "refresh token reused"]


async def test_refresh_is_refused_once_the_account_is_revoked(
    http: AppClient, engine: AsyncEngine
) -> None:
    account_id = await _person(engine, "revoked@home.example.com")
    tokens = (await _login(http, "revoked@home.example.com")).json()
    async with engine.begin() as c:
        await c.execute(
            sa.update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(revoked_at=NOW)
        )
    refused = await _refresh(http, tokens["refreshToken"])
    assert (refused.status_code, error_code(refused)) == (401, "SESSION_ENDED")
    assert await _works(http, tokens["accessToken"]) == 401


async def test_logout_ends_this_device_only(http: AppClient, engine: AsyncEngine) -> None:
    account_id = await _person(engine, "leaving@home.example.com")
    phone = (await _login(http, "leaving@home.example.com")).json()
    tablet = (await _login(http, "leaving@home.example.com")).json()
    laptop = (await _login(http, "leaving@home.example.com")).json()

    out = await http.post(
        "/auth/logout", headers={"authorization": f"Bearer {phone['accessToken']}"}
    )
    assert (out.status_code, out.json()) == (200, {"status": "SIGNED_OUT"})
    assert await _works(http, phone["accessToken"]) == 401
    refused = await _refresh(http, phone["refreshToken"])
    assert (refused.status_code, error_code(refused)) == (401, "SESSION_ENDED")

    # A mobile app whose access token expired signs out with its refresh token.
    out = await http.post("/auth/logout", json={"refreshToken": tablet["refreshToken"]})
    assert out.status_code == 200
    assert await _works(http, tablet["accessToken"]) == 401

    assert await _works(http, laptop["accessToken"]) == 200
    reasons = sorted(str(s.revoked_reason) for s in await _sessions_of(engine, account_id))
    assert reasons == ["None", "logout", "logout"]

    forged = await http.post("/auth/logout", headers={"authorization": "Bearer forged"})
    assert (forged.status_code, error_code(forged)) == (401, "UNAUTHENTICATED")


async def test_the_dev_token_command_still_signs_people_in(
    http: AppClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await mint_token(settings, "t_art@north.example.edu") == 0
    token = capsys.readouterr().out.strip()
    response = await graphql(http, ME, bearer=token)
    assert response.json() == {
        "data": {"viewer": {"isAuthenticated": True, "account": {"displayName": "Art Teacher"}}}
    }
    prod = settings.model_copy(update={"env": "prod"})
    with pytest.raises(CliError) as refused:
        await mint_token(prod, "t_art@north.example.edu")
    assert refused.value.exit_code == 2


# ---------------------------------------------------------------- the SPA's cookies


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name, lower-cased for attribute checks."""
    return {
        header.split("=", 1)[0]: header.lower()
        for header in response.headers.get_list("set-cookie")
    }


async def test_a_cookie_session_is_httponly_samesite_and_needs_the_csrf_header(
    http: AppClient, engine: AsyncEngine
) -> None:
    account_id = await _person(engine, "spa@home.example.com")
    login = await _login(http, "spa@home.example.com", mode="cookie")
    body = login.json()
    assert "accessToken" not in body
    assert "refreshToken" not in body
    set_cookies = _set_cookies(login)
    assert set(set_cookies) == {"ag_session", "ag_refresh", "ag_csrf"}
    assert "httponly" in set_cookies["ag_session"]
    assert "path=/;" in set_cookies["ag_session"]
    assert "httponly" in set_cookies["ag_refresh"]
    assert "path=/auth" in set_cookies["ag_refresh"]
    assert "httponly" not in set_cookies["ag_csrf"]
    assert all("samesite=lax" in c for c in set_cookies.values())
    assert all("secure" not in c for c in set_cookies.values())  # dev over http
    csrf = http.cookies["ag_csrf"]
    assert body["csrfToken"] == csrf

    signed_in = await graphql(http, ME, csrf=csrf)
    assert signed_in.json() == {
        "data": {"viewer": {"isAuthenticated": True, "account": {"displayName": "spa"}}}
    }
    for bad_header in [None, "wrong", csrf[:-1]]:
        refused = await graphql(http, ME, csrf=bad_header)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"] == {"code": "CSRF_FAILED"}
        assert "data" not in refused.json()
    # A site that can plant cookies sets its own CSRF cookie and header: the
    # value must still be this session's.
    saved = list(http.cookies.jar)
    for cookie in saved:
        if cookie.name == "ag_csrf":
            http.cookies.set("ag_csrf", "planted", domain=cookie.domain, path=cookie.path)
    planted = await graphql(http, ME, csrf="planted")
    assert (planted.status_code, error_code(planted)) == (403, "CSRF_FAILED")
    http.cookies.clear()
    for cookie in saved:
        http.cookies.jar.set_cookie(cookie)

    # Refresh by cookie is a POST like any other: no header, no refresh.
    before = await snapshot(engine)
    refused = await http.post("/auth/refresh")
    assert (refused.status_code, error_code(refused)) == (403, "CSRF_FAILED")
    assert await snapshot(engine) == before
    refreshed = await http.post("/auth/refresh", headers={"x-csrf-token": csrf})
    assert refreshed.status_code == 200
    new_csrf = http.cookies["ag_csrf"]
    assert refreshed.json()["csrfToken"] == new_csrf != csrf
    assert (await graphql(http, ME, csrf=new_csrf)).status_code == 200
    assert (await graphql(http, ME, csrf=csrf)).status_code == 403

    out = await http.post("/auth/logout", headers={"x-csrf-token": new_csrf})
    assert out.status_code == 200
    cleared = _set_cookies(out)
    assert set(cleared) == {"ag_session", "ag_refresh", "ag_csrf"}
    assert all("max-age=0" in c for c in cleared.values())
    assert "ag_session" not in http.cookies
    reasons = [s.revoked_reason for s in await _sessions_of(engine, account_id)]
    assert reasons == ["rotated", "logout"]


async def test_a_bearer_token_needs_no_csrf_header_even_beside_cookies(
    http: AppClient, engine: AsyncEngine
) -> None:
    await _person(engine, "both@home.example.com")
    await _login(http, "both@home.example.com", mode="cookie")
    bearer = (
        await http.post(
            "/auth/login", json={"email": "both@home.example.com", "password": PASSWORD}
        )
    ).json()["accessToken"]
    # Another site cannot set an Authorization header, so the bearer token
    # is the credential and the cookie is ignored.
    response = await graphql(http, ME, bearer=bearer)
    assert response.status_code == 200


async def test_outside_dev_the_cookies_are_secure_and_prefixed(engine: AsyncEngine) -> None:
    await _person(engine, "prod@home.example.com")
    async with serving(auth_settings(engine, cookie_secure=True)) as secure_http:
        response = await secure_http.post(
            "/auth/login",
            json={"email": "prod@home.example.com", "password": PASSWORD, "mode": "cookie"},
        )
    set_cookies = _set_cookies(response)
    assert set(set_cookies) == {"__Host-ag_session", "__Secure-ag_refresh", "__Host-ag_csrf"}
    assert all("; secure" in c for c in set_cookies.values())
    with pytest.raises(ValueError, match="COOKIE_SECURE"):
        Settings(env="prod", secret_key="x" * 40, cookie_secure=False)


# ---------------------------------------------------------------- terminateSessions


async def test_only_a_security_contact_may_terminate_sessions(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    """Everyone but the security contact (whose success is the test below,
    on a database of its own) is refused, and nothing changes."""
    before = await snapshot(engine)
    variables = {"accountId": gid("Account", world["parent"]), "reason": "Phone stolen"}
    outcomes = {}
    for who in [None, *VIEWERS]:
        if who == "security_a":
            continue
        result = await gql_runner.run(who, TERMINATE, input=variables)
        assert result.data is None
        outcomes[who] = (result.errors[0]["extensions"]["code"], result.errors[0]["message"])
    assert outcomes == {
        None: ("UNAUTHENTICATED", "Sign in to see this."),
        **{who: ("FORBIDDEN", NOT_ALLOWED) for who in VIEWERS if who != "security_a"},
        "unlinked": ("FORBIDDEN", NOT_LINKED_MESSAGE),
        "deactivated": ("FORBIDDEN", NOT_LINKED_MESSAGE),
    }
    assert await snapshot(engine) == before


async def test_a_security_contact_reaches_only_accounts_in_scope_and_must_give_a_reason(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    cases = [
        (
            gid("Account", world["admin_c"]),
            "Other district",
            [("NOT_FOUND", ["input", "accountId"])],
        ),
        (gid("Account", world["t_sci"]), "Other school", [("NOT_FOUND", ["input", "accountId"])]),
        (gid("Student", world["s1"]), "Wrong type", [("NOT_FOUND", ["input", "accountId"])]),
        ("bm90IGFuIGlk", "Malformed", [("NOT_FOUND", ["input", "accountId"])]),
        (gid("Account", world["parent"]), "   ", [("REASON_REQUIRED", ["input", "reason"])]),
        (gid("Account", world["parent"]), "r" * 501, [("REASON_TOO_LONG", ["input", "reason"])]),
        (
            gid("Account", world["admin_c"]),
            "",
            [("REASON_REQUIRED", ["input", "reason"]), ("NOT_FOUND", ["input", "accountId"])],
        ),
    ]
    for account_gid, reason, expected in cases:
        result = await gql_runner.run(
            "security_a", TERMINATE, input={"accountId": account_gid, "reason": reason}
        )
        payload = result.data["terminateSessions"] if result.data else None
        assert payload is not None, result.errors
        assert payload["terminatedSessions"] == 0
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == expected
    assert await snapshot(engine) == before


@pytest.fixture
async def fresh_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A database of its own, for a test whose mutations succeed."""
    made = create_engine(database_url)
    yield made
    await made.dispose()


async def test_termination_ends_every_session_now_and_is_audited_per_student(
    fresh_engine: AsyncEngine,
) -> None:
    engine = fresh_engine
    world = await build_world(engine)
    settings = auth_settings(engine)
    now = dt.datetime.now(dt.UTC)
    # The parent signed in on a second device too, with a refresh token.
    async with AsyncSession(engine) as session:
        db = Db(session)
        device = await auth.start_session(
            db,
            account_id=world["parent"],
            now=now,
            lifetime=dt.timedelta(days=30),
            client="phone",
        )
        await db.commit()
    signer = signer_for(settings)
    parent_token = signer.issue(
        account_id=world["parent"], session_id=world.sessions["parent"], now=now
    )
    security_token = signer.issue(
        account_id=world["security_a"], session_id=world.sessions["security_a"], now=now
    )
    async with serving(settings) as http:
        assert await _works(http, parent_token) == 200
        response = await graphql(
            http,
            TERMINATE,
            bearer=security_token,
            input={
                "accountId": gid("Account", world["parent"]),
                "reason": "  Phone reported stolen  ",
            },
        )
        assert response.json() == {
            "data": {"terminateSessions": {"terminatedSessions": 2, "userErrors": []}}
        }
        # The old access token fails on its next request; refresh is refused.
        assert await _works(http, parent_token) == 401
        refused = await _refresh(http, device.refresh_token)
        assert (refused.status_code, error_code(refused)) == (401, "SESSION_ENDED")
        ended = await _sessions_of(engine, world["parent"])
        assert [s.revoked_reason for s in ended] == [
            "terminated: Phone reported stolen",
            "terminated: Phone reported stolen",
        ]
        assert len({s.revoked_at for s in ended}) == 1
        # The parent holds S1 (Northfield, the contact's school) and S2
        # (Southfield): one event, for the student in the contact's scope.
        events = [
            (e.district_id, e.student_id, e.actor_account_id, e.actor_staff_id, e.action, e.detail)
            for e in await rows(engine, tables.AccessEvent)
        ]
        assert events == [
            (
                world["north"],
                world["s1"],
                world["security_a"],
                world["security_a_staff"],
                "SESSIONS_TERMINATED",
                "2 session(s) ended. Reason: Phone reported stolen",
            )
        ]

        # A staff account has no students: one district-level event.
        staff = await graphql(
            http,
            TERMINATE,
            bearer=security_token,
            input={"accountId": gid("Account", world["t_maths"]), "reason": "Left the school"},
        )
        assert staff.json()["data"]["terminateSessions"]["terminatedSessions"] == 1
        last = (await rows(engine, tables.AccessEvent))[-1]
        assert (last.district_id, last.student_id, last.action, last.detail) == (
            world["north"],
            None,
            "SESSIONS_TERMINATED",
            "1 session(s) ended. Reason: Left the school",
        )
