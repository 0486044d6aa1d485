"""The portal workflows end to end through the ASGI app (httpx): the seeds'
scenarios as an SPA would send them.

- The revoke view (seed 000): a guardian paired with S1 (school A) and S2
  (school B) is seen by school A's enrolment manager with S1 only; revoking
  S1 leaves S2, resets S1's code, and the old code no longer pairs anyone,
  while a guardian who paired before keeps access.
- The PIN flow (seed 004): create, email, wrong PINs, lock, delete, expire
  after 30 days (the app's clock is injected), activate.
- Bulk revoke (seed 002): 150 ready-to-revoke accounts.
- The printable login instructions behind a signed, short-lived link.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pypdf
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import create_app, signer_for
from gql.outbound.links import SignedLinks
from gql.settings import Settings
from resolvers import tables
from resolvers.tables import SESSIONS
from tests.client import gid
from tests.clock import NOW
from tests.lifespan import started
from tests.portal_support import add_account, families_who_left, rows
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Portal:
    """The app over a fresh world, and a way to ask it as anyone."""

    http: httpx.AsyncClient
    settings: Settings
    world: World
    engine: AsyncEngine
    clock: Clock

    def token(self, who: str) -> str:
        return signer_for(self.settings).issue(
            account_id=self.world[who], session_id=self.world.sessions[who], now=self.clock()
        )

    async def ask(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token(who)}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return dict(body["data"])


async def open_portal(
    engine: AsyncEngine, database_url: str, clock: Clock
) -> AsyncIterator[Portal]:
    world = await build_world(engine)
    settings = Settings(env="dev", database_url=database_url)
    app = create_app(settings, clock=clock)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Portal(client, settings, world, engine, clock)


@pytest.fixture
async def portal(engine: AsyncEngine, database_url: str) -> AsyncIterator[Portal]:
    """The app with its clock at NOW, moved by tests."""
    async for made in open_portal(engine, database_url, Clock(NOW)):
        yield made


@pytest.fixture
async def live_portal(engine: AsyncEngine, database_url: str) -> AsyncIterator[Portal]:
    """The app on the real clock (signed links are signed with real time)."""
    async for made in open_portal(engine, database_url, Clock(dt.datetime.now(dt.UTC))):
        yield made


ENABLE = """
mutation($ids: [ID!]!) {
  enablePortalAccess(input: {studentIds: $ids}) { accessCodes { code } userErrors { code } }
}
"""
REDEEM = """
mutation($code: String!) {
  redeemAccessCode(input: {code: $code}) { grant { student { displayName } } userErrors { code } }
}
"""
ACCOUNT_GRANTS = """
query($id: ID!) {
  node(id: $id) { ... on Account { grants { totalCount edges { node { student { displayName } } } } } }
}
"""
GUARDIAN_STUDENTS = """
query($id: ID!) { node(id: $id) { ... on Guardian { students { displayName } } } }
"""
REVOKE = """
mutation($account: ID!, $students: [ID!]!) {
  revokeStudentAccess(input: {accountId: $account, studentIds: $students}) {
    revokedGrants { student { displayName } revokedBy { displayName } }
    resetAccessCodes { code }
    userErrors { code }
  }
}
"""
MY_STUDENTS = "{ viewer { students { edges { node { displayName } } } } }"
S1_CODE_QUERY = """
query($id: ID!) { node(id: $id) { ... on Student { portalAccess { accessCode { code } } } } }
"""


def student_names(data: dict[str, Any]) -> list[str]:
    return [e["node"]["displayName"] for e in data["viewer"]["students"]["edges"]]


def granted(data: dict[str, Any]) -> list[str]:
    return [e["node"]["student"]["displayName"] for e in data["node"]["grants"]["edges"]]


async def test_the_revoke_view_scenario(portal: Portal) -> None:
    w = portal.world
    for key in ("gina", "early", "late"):
        await add_account(portal.engine, w, key)
    s1, s2 = gid("Student", w["s1"]), gid("Student", w["s2"])
    enabled = await portal.ask("da_north", ENABLE, ids=[s1, s2])
    s1_code, s2_code = (c["code"] for c in enabled["enablePortalAccess"]["accessCodes"])
    for code in (s1_code, s2_code):
        assert (await portal.ask("gina", REDEEM, code=code))["redeemAccessCode"]["userErrors"] == []
    assert (await portal.ask("early", REDEEM, code=s1_code))["redeemAccessCode"]["userErrors"] == []

    # School A's enrolment manager sees S1 only; the district admin both.
    gina = gid("Account", w["gina"])
    assert granted(await portal.ask("enrol_a", ACCOUNT_GRANTS, id=gina)) == ["Ada Lovelace"]
    assert granted(await portal.ask("da_north", ACCOUNT_GRANTS, id=gina)) == [
        "Ada Lovelace",
        "Byron Lovelace",
    ]
    mother = gid("Guardian", w["g_mother"])
    assert (await portal.ask("enrol_a", GUARDIAN_STUDENTS, id=mother)) == {
        "node": {"students": [{"displayName": "Ada Lovelace"}]}
    }
    assert (await portal.ask("da_north", GUARDIAN_STUDENTS, id=mother)) == {
        "node": {"students": [{"displayName": "Ada Lovelace"}, {"displayName": "Byron Lovelace"}]}
    }

    # Naming S2 is NOT_FOUND for school A; revoking S1 works.
    refused = await portal.ask("enrol_a", REVOKE, account=gina, students=[s2])
    assert refused["revokeStudentAccess"]["userErrors"] == [{"code": "NOT_FOUND"}]
    revoked = (await portal.ask("enrol_a", REVOKE, account=gina, students=[s1]))[
        "revokeStudentAccess"
    ]
    assert revoked["revokedGrants"] == [
        {"student": {"displayName": "Ada Lovelace"}, "revokedBy": {"displayName": "Enid Manager"}}
    ]
    [new_code] = revoked["resetAccessCodes"]

    # The account keeps S2; S1's code changed; the old code fails for a new
    # guardian, the new one works; who paired before keeps access.
    assert student_names(await portal.ask("gina", MY_STUDENTS)) == ["Byron Lovelace"]
    shown = await portal.ask("enrol_a", S1_CODE_QUERY, id=s1)
    assert shown == {"node": {"portalAccess": {"accessCode": new_code}}}
    assert new_code["code"] != s1_code
    assert (await portal.ask("late", REDEEM, code=s1_code))["redeemAccessCode"] == {
        "grant": None,
        "userErrors": [{"code": "INVALID_CODE"}],
    }
    assert (await portal.ask("late", REDEEM, code=new_code["code"]))["redeemAccessCode"] == {
        "grant": {"student": {"displayName": "Ada Lovelace"}},
        "userErrors": [],
    }
    assert student_names(await portal.ask("early", MY_STUDENTS)) == ["Ada Lovelace"]


CREATE = """
mutation($student: ID!, $email: String!) {
  createConnectionRequest(input: {studentId: $student, forStudentSelf: false,
      relationship: "Grandmother", individualName: "Gina Guardian", email: $email}) {
    request { id status } pin userErrors { code }
  }
}
"""
ACTIVATE = """
mutation($token: String!, $pin: String!) {
  activateConnection(input: {token: $token, pin: $pin}) {
    grant { source relationship student { displayName } } userErrors { code }
  }
}
"""
DELETE = """
mutation($id: ID!) { deleteConnectionRequest(input: {requestId: $id}) { request { status } userErrors { code } } }
"""
REQUESTS = """
query($id: ID!) {
  node(id: $id) { ... on Student { portalAccess { connectionRequests { edges { node { status } } } } } }
}
"""


async def latest_token(engine: AsyncEngine) -> str:
    emails = await rows(engine, tables.OutboxEmail)
    found = re.search(r"/activate\?token=([A-Za-z0-9_-]+)", emails[-1].body)
    assert found is not None
    assert emails[-1].to_address == "gina@home.example.com"
    return found.group(1)


def errors(data: dict[str, Any], root: str) -> list[str]:
    return [e["code"] for e in data[root]["userErrors"]]


async def test_the_pin_flow_end_to_end(portal: Portal) -> None:
    w = portal.world
    await add_account(portal.engine, w, "gina")
    s1 = gid("Student", w["s1"])
    first = (await portal.ask("enrol_a", CREATE, student=s1, email="gina@home.example.com"))[
        "createConnectionRequest"
    ]
    token, pin = await latest_token(portal.engine), first["pin"]
    wrong = f"{(int(pin) + 5) % 10000:04d}"

    for attempt in range(1, 6):
        result = await portal.ask("gina", ACTIVATE, token=token, pin=wrong)
        assert errors(result, "activateConnection") == ["PIN_INCORRECT"]
        [stored] = await rows(portal.engine, tables.ConnectionRequest)
        assert stored.failed_pin_attempts == attempt
    assert stored.locked_at == NOW
    locked = await portal.ask("gina", ACTIVATE, token=token, pin=pin)
    assert errors(locked, "activateConnection") == ["REQUEST_LOCKED"]

    # Staff delete the locked request and make a new one for the same email.
    deleted = await portal.ask("enrol_a", DELETE, id=first["request"]["id"])
    assert deleted == {
        "deleteConnectionRequest": {"request": {"status": "DELETED"}, "userErrors": []}
    }
    second = (await portal.ask("enrol_a", CREATE, student=s1, email="gina@home.example.com"))[
        "createConnectionRequest"
    ]
    assert second["userErrors"] == []
    second_token = await latest_token(portal.engine)

    # Thirty days later it has expired.
    portal.clock.now = NOW + dt.timedelta(days=30)
    expired = await portal.ask("gina", ACTIVATE, token=second_token, pin=second["pin"])
    assert errors(expired, "activateConnection") == ["REQUEST_EXPIRED"]
    listed = await portal.ask("enrol_a", REQUESTS, id=s1)
    assert [
        e["node"]["status"] for e in listed["node"]["portalAccess"]["connectionRequests"]["edges"]
    ] == [
        "DELETED",
        "REQUEST_EXPIRED",
    ]

    # A new one, activated in time with the right PIN.
    third = (await portal.ask("enrol_a", CREATE, student=s1, email="gina@home.example.com"))[
        "createConnectionRequest"
    ]
    activated = await portal.ask(
        "gina", ACTIVATE, token=await latest_token(portal.engine), pin=third["pin"]
    )
    assert activated == {
        "activateConnection": {
            "grant": {
                "source": "CONNECTION_REQUEST",
                "relationship": "Grandmother",
                "student": {"displayName": "Ada Lovelace"},
            },
            "userErrors": [],
        }
    }
    assert student_names(await portal.ask("gina", MY_STUDENTS)) == ["Ada Lovelace"]


READY_TO_REVOKE = """
query($after: String) {
  accounts(first: 100, after: $after, filter: {kind: GUARDIAN, portalStatus: READY_TO_REVOKE}) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""
REVOKE_ACCOUNTS = """
mutation($ids: [ID!]!, $confirm: Boolean, $dryRun: Boolean) {
  revokeAccounts(input: {accountIds: $ids, confirmLargeBatch: $confirm, dryRun: $dryRun}) {
    revokedAccounts { portalStatus } wouldRevoke userErrors { code field }
  }
}
"""


async def test_bulk_revoke_of_150_accounts_needs_confirmation(portal: Portal) -> None:
    w = portal.world
    await families_who_left(portal.engine, w, 150)
    ids: list[str] = []
    after = None
    while True:
        page = (await portal.ask("admin_a", READY_TO_REVOKE, after=after))["accounts"]
        assert page["totalCount"] == 150
        ids += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(set(ids)) == 150
    leaver_token = portal.token("leaver7")

    before = await snapshot(portal.engine)
    refused = await portal.ask("admin_a", REVOKE_ACCOUNTS, ids=ids)
    assert refused == {
        "revokeAccounts": {
            "revokedAccounts": [],
            "wouldRevoke": 150,
            "userErrors": [
                {"code": "LARGE_BATCH_NOT_CONFIRMED", "field": ["input", "confirmLargeBatch"]}
            ],
        }
    }
    dry = await portal.ask("admin_a", REVOKE_ACCOUNTS, ids=ids, dryRun=True)
    assert dry == {"revokeAccounts": {"revokedAccounts": [], "wouldRevoke": 150, "userErrors": []}}
    assert await snapshot(portal.engine) == before

    done = await portal.ask("admin_a", REVOKE_ACCOUNTS, ids=ids, confirm=True)
    assert done["revokeAccounts"]["wouldRevoke"] == 150
    assert done["revokeAccounts"]["userErrors"] == []
    assert [a["portalStatus"] for a in done["revokeAccounts"]["revokedAccounts"]] == [
        "REVOKED"
    ] * 150

    # Their tokens stop working on the next request.
    response = await portal.http.post(
        "/graphql",
        json={"query": "{ viewer { isAuthenticated } }"},
        headers={"authorization": f"Bearer {leaver_token}"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    sessions = await rows(portal.engine, tables.Session, SESSIONS.c.id.like("session-leaver%"))
    assert {s.revoked_at for s in sessions} == {NOW}


INSTRUCTIONS_URL = """
query($id: ID!) { node(id: $id) { ... on Student { portalAccess { loginInstructionsUrl } } } }
"""


async def test_login_instructions_download_as_a_pdf_behind_a_signed_link(
    live_portal: Portal,
) -> None:
    w = live_portal.world
    s1 = gid("Student", w["s1"])
    url = (await live_portal.ask("enrol_a", INSTRUCTIONS_URL, id=s1))["node"]["portalAccess"][
        "loginInstructionsUrl"
    ]
    path = url.removeprefix(live_portal.settings.public_url)
    response = await live_portal.http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    text = " ".join(pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text().split())
    for expected in (
        "Northfield",
        "Access code for Ada Lovelace",
        "ACDE-FGHJ-KMNP",
        "http://127.0.0.1:8000/sign-up",
    ):
        assert expected in text

    # A tampered, expired or missing signature is refused.
    code_path = f"/access-codes/{w['code_s1']}/login-instructions.pdf"
    links = SignedLinks(live_portal.settings.secret_key, live_portal.settings.public_url)
    expired = links.sign(code_path, now=time.time() - 3600).removeprefix(
        live_portal.settings.public_url
    )
    other_code = path.replace(f"/access-codes/{w['code_s1']}/", "/access-codes/999/")
    for bad in (path[:-2] + "xx", expired, code_path, other_code):
        refused = await live_portal.http.get(bad)
        assert refused.status_code == 403, bad
        assert refused.json() == {
            "errors": [
                {
                    "message": "This link is not valid or has expired. Ask for a new one.",
                    "extensions": {"code": "INVALID_LINK"},
                }
            ]
        }

    # Once the code is reset, the old printout's link is gone.
    await live_portal.ask(
        "enrol_a",
        "mutation($ids: [ID!]!) { resetAccessCodes(input: {studentIds: $ids}) { userErrors { code } } }",
        ids=[s1],
    )
    gone = await live_portal.http.get(path)
    assert gone.status_code == 410
    assert gone.json() == {
        "errors": [
            {
                "message": "This access code was reset. Print the new one.",
                "extensions": {"code": "ACCESS_CODE_RESET"},
            }
        ]
    }
