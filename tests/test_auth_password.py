"""Password sign-up, email verification and sign-in, through the real app.

The tests share one database per module (the permission world, whose North
district owns the domain north.example.edu); each uses addresses of its own
and looks only at its own rows.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from resolvers.tables import ROLE_GRANTS, STAFF, STAFF_SCHOOLS
from tests.auth_client import auth_settings, error_code, graphql, rows, serving
from tests.client import gid
from tests.snapshots import snapshot
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def engine(world_engine: tuple[AsyncEngine, World]) -> AsyncEngine:
    return world_engine[0]


PASSWORD = "correct horse battery staple"
VIEWER = "{ viewer { isAuthenticated canRecordData account { displayName kind } actingAs { displayName } } }"


async def _new_staff_record(engine: AsyncEngine, world: World, email: str) -> int:
    """An active teacher at Northfield whom the SIS knows but who has no account."""
    async with engine.begin() as c:
        staff_id = int(
            (
                await c.execute(
                    sa.insert(STAFF)
                    .values(
                        district_id=world["north"],
                        sourced_id=f"staff-{email}",
                        given_name="Jane",
                        family_name="Smith",
                        email=email,
                    )
                    .returning(STAFF.c.id)
                )
            ).scalar_one()
        )
        await c.execute(
            sa.insert(STAFF_SCHOOLS).values(
                staff_member_id=staff_id, school_id=world["school_a"], district_id=world["north"]
            )
        )
        await c.execute(
            sa.insert(ROLE_GRANTS).values(
                district_id=world["north"],
                staff_member_id=staff_id,
                role="TEACHER",
                school_id=world["school_a"],
                source="SIS_SYNC",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return staff_id


async def _accounts(engine: AsyncEngine, email: str) -> list[Any]:
    return [a for a in await rows(engine, tables.Account) if a.email == email]


async def _emails(engine: AsyncEngine, email: str) -> list[Any]:
    return [e for e in await rows(engine, tables.OutboxEmail) if e.to_address == email]


async def _sessions(engine: AsyncEngine, account_id: int) -> list[Any]:
    return [r for r in await rows(engine, tables.Session) if r.account_id == account_id]


async def _sign_up(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(
        "/auth/signup", json={"email": email, "password": password, "displayName": "Pat Parent"}
    )


async def _verification_link(engine: AsyncEngine, email: str) -> str:
    emails = [e for e in await _emails(engine, email) if e.kind == "EMAIL_VERIFICATION"]
    match = re.search(r"http://test/verify\?token=\S+", emails[-1].body)
    assert match is not None
    return match.group(0)


async def _verify(http: httpx.AsyncClient, link: str, password: str = PASSWORD) -> httpx.Response:
    """Confirm the address as the JSON client does: the link's token and
    the password chosen at sign-up."""
    token = parse_qs(urlsplit(link).query)["token"][0]
    return await http.post("/auth/verify", json={"token": token, "password": password})


async def _login(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, mode: str = "bearer"
) -> httpx.Response:
    return await http.post("/auth/login", json={"email": email, "password": password, "mode": mode})


async def test_sign_up_verify_and_sign_in_as_a_guardian(engine: AsyncEngine) -> None:
    async with serving(auth_settings(engine)) as http:
        response = await _sign_up(http, "  Pat@Home.Example.com ")
        assert response.status_code == 202
        assert response.json()["status"] == "VERIFICATION_SENT"
        (account,) = await _accounts(engine, "pat@home.example.com")
        assert (account.kind, account.display_name, account.staff_member_id) == (
            "GUARDIAN",
            "Pat Parent",
            None,
        )
        assert account.email_verified_at is None
        assert account.password_hash.startswith("$argon2id$")
        (email,) = await _emails(engine, "pat@home.example.com")
        assert email.kind == "EMAIL_VERIFICATION"
        link = await _verification_link(engine, "pat@home.example.com")
        assert urlsplit(link)[:3] == ("http", "test", "/verify")

        # The right password is not enough before the address is confirmed.
        before = await _login(http, "pat@home.example.com")
        assert (before.status_code, error_code(before)) == (403, "EMAIL_NOT_VERIFIED")
        assert await _sessions(engine, account.id) == []

        # Opening the link confirms nothing: it asks for the password.
        opened = await http.get(link, headers={"accept": "application/json"})
        assert opened.status_code == 200
        assert opened.json()["status"] == "PASSWORD_NEEDED"
        wrong = await _verify(http, link, "not the password chosen at sign-up")
        assert (wrong.status_code, error_code(wrong)) == (400, "INVALID_CREDENTIALS")
        assert (await _accounts(engine, "pat@home.example.com"))[0].email_verified_at is None
        verified = await _verify(http, link)
        assert verified.status_code == 200
        assert verified.json()["status"] == "EMAIL_VERIFIED"
        again = await _verify(http, link)
        assert (again.status_code, error_code(again)) == (400, "TOKEN_USED")
        in_a_browser = await http.get(link)
        assert in_a_browser.status_code == 400
        assert in_a_browser.headers["content-type"].startswith("text/html")

        signed_in = await _login(http, "PAT@home.example.com")
        assert signed_in.status_code == 200
        body = signed_in.json()
        assert body["tokenType"] == "Bearer"
        assert body["account"] == {
            "id": gid("Account", account.id),
            "kind": "GUARDIAN",
            "displayName": "Pat Parent",
        }
        assert signed_in.headers["cache-control"] == "no-store"
        assert "set-cookie" not in signed_in.headers
        me = await graphql(http, VIEWER, bearer=body["accessToken"])
        assert me.json() == {
            "data": {
                "viewer": {
                    "isAuthenticated": True,
                    "canRecordData": False,
                    "account": {"displayName": "Pat Parent", "kind": "GUARDIAN"},
                    "actingAs": None,
                }
            }
        }
        (session,) = await _sessions(engine, account.id)
        # Only a hash of the refresh token is kept.
        assert session.refresh_token_hash is not None
        assert body["refreshToken"] not in session.refresh_token_hash
        (account,) = await _accounts(engine, "pat@home.example.com")
        assert account.last_login_at is not None


async def test_a_staff_email_signs_up_as_a_staff_account_linked_once_verified(
    engine: AsyncEngine, world: World
) -> None:
    address = "jane.smith@north.example.edu"
    staff_id = await _new_staff_record(engine, world, "Jane.Smith@north.example.edu")
    async with serving(auth_settings(engine)) as http:
        assert (await _sign_up(http, address)).status_code == 202
        (account,) = await _accounts(engine, address)
        # Not linked until the address is proven to be hers.
        assert (account.kind, account.staff_member_id) == ("STAFF", None)
        await _verify(http, await _verification_link(engine, address))
        (account,) = await _accounts(engine, address)
        assert account.staff_member_id == staff_id
        token = (await _login(http, address)).json()["accessToken"]
        me = await graphql(http, VIEWER, bearer=token)
        assert me.json()["data"]["viewer"] == {
            "isAuthenticated": True,
            "canRecordData": True,
            "account": {"displayName": "Pat Parent", "kind": "STAFF"},
            "actingAs": {"displayName": "Jane Smith"},
        }


async def test_an_address_at_a_district_domain_without_a_staff_record_can_look_not_touch(
    engine: AsyncEngine,
) -> None:
    address = "john.doe@north.example.edu"
    async with serving(auth_settings(engine)) as http:
        await _sign_up(http, address)
        await _verify(http, await _verification_link(engine, address))
        token = (await _login(http, address)).json()["accessToken"]
        me = await graphql(http, VIEWER, bearer=token)
        assert me.json()["data"]["viewer"] == {
            "isAuthenticated": True,
            "canRecordData": False,
            "account": {"displayName": "Pat Parent", "kind": "STAFF"},
            "actingAs": None,
        }


async def test_signing_up_with_a_taken_address_changes_nothing_and_tells_its_owner(
    engine: AsyncEngine,
) -> None:
    address = "taken@home.example.com"
    async with serving(auth_settings(engine)) as http:
        await _sign_up(http, address)
        await _verify(http, await _verification_link(engine, address))
        owner = await _accounts(engine, address)
        again = await _sign_up(http, address, "an attacker's own password")
        # The same answer as for a new address: nothing tells who has an account.
        assert again.status_code == 202
        assert again.json()["status"] == "VERIFICATION_SENT"
        assert await _accounts(engine, address) == owner
        kinds = [e.kind for e in await _emails(engine, address)]
        assert kinds == ["EMAIL_VERIFICATION", "PASSWORD_RESET"]
        assert (await _login(http, address)).status_code == 200
        wrong = await _login(http, address, "an attacker's own password")
        assert (wrong.status_code, error_code(wrong)) == (401, "INVALID_CREDENTIALS")
        # An account someone else made (here a world staff account) is never
        # given a password by a sign-up.
        await _sign_up(http, "t_maths@north.example.edu")
        (teacher,) = await _accounts(engine, "t_maths@north.example.edu")
        assert teacher.password_hash is None


async def test_a_second_sign_up_for_an_unverified_address_changes_nothing(
    engine: AsyncEngine,
) -> None:
    """A sign-up never replaces the password of the account that has the
    address, pending or not: the mailbox owner would otherwise confirm a
    password someone else chose (docs/adr/0010)."""
    address = "twice@home.example.com"
    async with serving(auth_settings(engine)) as http:
        await _sign_up(http, address)
        first_link = await _verification_link(engine, address)
        before = await _accounts(engine, address)
        again = await _sign_up(http, address, "someone else's password")
        assert (again.status_code, again.json()["status"]) == (202, "VERIFICATION_SENT")
        assert await _accounts(engine, address) == before
        kinds = [e.kind for e in await _emails(engine, address)]
        assert kinds == ["EMAIL_VERIFICATION", "PASSWORD_RESET"]
        other = await _verify(http, first_link, "someone else's password")
        assert (other.status_code, error_code(other)) == (400, "INVALID_CREDENTIALS")
        assert (await _verify(http, first_link)).status_code == 200
        assert (await _login(http, address)).status_code == 200
        old = await _login(http, address, "someone else's password")
        assert old.status_code == 401


async def test_verification_links_expire_and_cannot_be_forged(engine: AsyncEngine) -> None:
    address = "late@home.example.com"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=49)
    async with serving(auth_settings(engine)) as http:
        await _sign_up(http, address)
        link = await _verification_link(engine, address)
        token = parse_qs(urlsplit(link).query)["token"][0]
        account_id, expires, mac = token.split(".")
        for forged in [
            f"{account_id}.{int(expires) + 3600}.{mac}",
            f"{int(account_id) - 1}.{expires}.{mac}",
            "not-a-token",
        ]:
            response = await http.get(
                "/verify", params={"token": forged}, headers={"accept": "application/json"}
            )
            assert (response.status_code, error_code(response)) == (400, "INVALID_TOKEN")
    async with serving(auth_settings(engine), clock=lambda: later) as http:
        expired = await http.get(link, headers={"accept": "application/json"})
        assert (expired.status_code, error_code(expired)) == (400, "TOKEN_EXPIRED")
    (account,) = await _accounts(engine, address)
    assert account.email_verified_at is None


BAD_SIGN_UPS = [
    ({"email": "not-an-email", "password": PASSWORD, "displayName": "P"}, "INVALID_EMAIL"),
    ({"email": "p@home.example.com", "password": "short", "displayName": "P"}, "WEAK_PASSWORD"),
    (
        {"email": "p@home.example.com", "password": PASSWORD, "displayName": " "},
        "DISPLAY_NAME_REQUIRED",
    ),
    ({"email": "p@home.example.com", "password": 1234567890123, "displayName": "P"}, "BAD_REQUEST"),
]


async def test_bad_sign_up_input_is_refused_and_changes_nothing(engine: AsyncEngine) -> None:
    before = await snapshot(engine)
    async with serving(auth_settings(engine)) as http:
        for body, code in BAD_SIGN_UPS:
            response = await http.post("/auth/signup", json=body)
            assert (response.status_code, error_code(response)) == (400, code)
        form = await http.post("/auth/signup", data={"email": "p@home.example.com"})
        assert (form.status_code, error_code(form)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert await snapshot(engine) == before


async def test_sign_in_is_rate_limited_per_account_and_per_client_address(
    engine: AsyncEngine,
) -> None:
    address = "guarded@home.example.com"
    # The address budget is 200 by default (a school's NAT); 14 here, above
    # the account's 10, to see both.
    async with serving(auth_settings(engine, rate_limit_address_attempts=14)) as http:
        await _sign_up(http, address)
        await _verify(http, await _verification_link(engine, address))
        (account,) = await _accounts(engine, address)
        # Per account: ten guesses, each from another address, and then even
        # the right password is refused for a while.
        for attempt in range(10):
            http.from_address(f"198.51.100.{attempt}")
            wrong = await _login(http, address, "a wrong guess of a password")
            assert wrong.status_code == 401
        http.from_address("198.51.100.200")
        limited = await _login(http, address)
        assert (limited.status_code, error_code(limited)) == (429, "RATE_LIMITED")
        assert limited.headers["retry-after"] == "300"
        assert await _sessions(engine, account.id) == []
        # Per client address: one address trying many accounts is stopped at its budget.
        http.from_address("203.0.113.9")
        for n in range(14):
            assert (await _login(http, f"guess{n}@home.example.com")).status_code == 401
        limited = await _login(http, "someone.else@home.example.com")
        assert (limited.status_code, error_code(limited)) == (429, "RATE_LIMITED")
        # Another address is still answered.
        http.from_address("203.0.113.10")
        assert (await _login(http, "someone.else@home.example.com")).status_code == 401
