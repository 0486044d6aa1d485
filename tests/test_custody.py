"""Custody restrictions bind the person, not an account (docs/architecture.md
section 3, custody restrictions).

In the world, Frank (g_father, frank@home.example.com) is recorded against
Ada (s1) with a custody restriction. Whatever account he holds — provisioned
and linked, or one he made himself — he never gets access to Ada: not by her
access code, not by a connection request, not by provisioning, and a grant
he holds is taken back when the restriction arrives.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from tests.auth_client import auth_settings, graphql, serving
from tests.client import gid
from tests.portal_support import NOW, PortalRunner, add_account, rows
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "correct horse battery staple"
ADA_CODE = "ACDEF-GHJKM-NP"  # the world's code for s1, as printed
CONTACTS = tables.StudentContact.__table__
ACCOUNTS = tables.Account.__table__
GRANTS = tables.StudentAccessGrant.__table__

REDEEM = """
mutation($code: String!) {
  redeemAccessCode(input: {code: $code}) { grant { student { displayName } } userErrors { code } }
}
"""
MY_STUDENTS = "{ viewer { students { totalCount edges { node { displayName } } } } }"
CREATE = """
mutation($student: ID!, $email: String!) {
  createConnectionRequest(input: {studentId: $student, forStudentSelf: false,
      relationship: "Father", individualName: "Frank Lovelace", email: $email}) {
    request { id status } pin userErrors { code field }
  }
}
"""
ACTIVATE = """
mutation($token: String!, $pin: String!) {
  activateConnection(input: {token: $token, pin: $pin}) {
    grant { student { displayName } } userErrors { code }
  }
}
"""
PROVISION = """
mutation($ids: [ID!]!) {
  provisionAccounts(input: {guardianIds: $ids, sendWelcomeEmail: false}) {
    accounts { email } userErrors { code field }
  }
}
"""


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> PortalRunner:
    return PortalRunner(engine, world)


async def _restrict(engine: AsyncEngine, world: World, *, restricted: bool) -> None:
    async with engine.begin() as c:
        await c.execute(
            sa.update(CONTACTS)
            .where(CONTACTS.c.id == world["contact_g_father_s1"])
            .values(restricted=restricted)
        )


async def _franks_own_account(engine: AsyncEngine, world: World) -> int:
    """Frank's account made by himself before linking existed: verified
    email, no link to his contact record."""
    account_id = await add_account(engine, world, "frank", email="frank@home.example.com")
    async with engine.begin() as c:
        await c.execute(
            sa.update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(email_verified_at=NOW)
        )
    return account_id


async def test_a_restricted_contact_signing_up_himself_cannot_redeem_the_students_code(
    engine: AsyncEngine, world: World
) -> None:
    """Only HTTP and email, as Frank would: sign up (any case), open the
    emailed link, sign in, type Ada's code."""
    async with serving(auth_settings(engine)) as http:
        signed_up = await http.post(
            "/auth/signup",
            json={"email": "Frank@Home.Example.COM", "password": PASSWORD, "displayName": "F"},
        )
        assert signed_up.status_code == 202
        [mail] = [
            e
            for e in await rows(engine, tables.OutboxEmail)
            if e.to_address == "frank@home.example.com"
        ]
        link = re.search(r"http://test/verify\?token=\S+", mail.body)
        assert link is not None
        token = link.group(0).split("token=", 1)[1]
        verified = await http.post("/auth/verify", json={"token": token, "password": PASSWORD})
        assert verified.status_code == 200
        login = await http.post(
            "/auth/login",
            json={"email": "frank@home.example.com", "password": PASSWORD, "mode": "bearer"},
        )
        assert login.status_code == 200
        token = login.json()["accessToken"]
        before_grants = await rows(engine, tables.StudentAccessGrant)

        redeemed = await graphql(http, REDEEM, bearer=token, code=ADA_CODE)
        assert redeemed.json() == {
            "data": {"redeemAccessCode": {"grant": None, "userErrors": [{"code": "INVALID_CODE"}]}}
        }
        mine = await graphql(http, MY_STUDENTS, bearer=token)
        assert mine.json() == {"data": {"viewer": {"students": {"totalCount": 0, "edges": []}}}}
    assert await rows(engine, tables.StudentAccessGrant) == before_grants
    # Verification linked the account to his contact record, as staff
    # accounts are linked to staff records.
    [frank] = await rows(engine, tables.Account, ACCOUNTS.c.email == "frank@home.example.com")
    assert frank.guardian_id == world["g_father"]


async def test_an_unlinked_account_with_the_restricted_contacts_email_cannot_redeem(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await _franks_own_account(engine, world)
    before = await snapshot(engine)
    result = await runner.run("frank", REDEEM, code=ADA_CODE)
    assert result.data == {
        "redeemAccessCode": {"grant": None, "userErrors": [{"code": "INVALID_CODE"}]}
    }
    assert await snapshot(engine) == before


async def test_a_grant_held_by_the_restricted_contacts_own_account_reaches_nothing(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """A grant made around the restriction (before this check existed) does
    not count while it waits for the next sync to revoke it."""
    account_id = await _franks_own_account(engine, world)
    async with engine.begin() as c:
        await c.execute(
            sa.insert(GRANTS).values(
                district_id=world["north"],
                account_id=account_id,
                student_id=world["s1"],
                source="ACCESS_CODE",
                granted_at=NOW,
            )
        )
    result = await runner.run("frank", MY_STUDENTS)
    assert result.data == {"viewer": {"students": {"totalCount": 0, "edges": []}}}


async def test_a_connection_request_for_the_student_to_a_restricted_contacts_email_is_refused(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    before = await snapshot(engine)
    result = await runner.run(
        "enrol_a", CREATE, student=gid("Student", world["s1"]), email=" FRANK@home.example.com"
    )
    assert result.errors == []
    assert result.data == {
        "createConnectionRequest": {
            "request": None,
            "pin": None,
            "userErrors": [{"code": "CONTACT_RESTRICTED", "field": ["input", "email"]}],
        }
    }
    assert await snapshot(engine) == before
    # For another student (Byron, no restriction) the same address is fine.
    other = await runner.run(
        "da_north", CREATE, student=gid("Student", world["s2"]), email="frank@home.example.com"
    )
    assert other.data is not None
    assert other.data["createConnectionRequest"]["userErrors"] == []


async def test_a_restricted_contact_cannot_activate_a_request_made_before_the_restriction(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await _restrict(engine, world, restricted=False)
    created = await runner.run(
        "enrol_a", CREATE, student=gid("Student", world["s1"]), email="frank@home.example.com"
    )
    assert created.data is not None
    pin = created.data["createConnectionRequest"]["pin"]
    [mail] = await rows(engine, tables.OutboxEmail)
    token = re.search(r"/activate\?token=([A-Za-z0-9_-]+)", mail.body)
    assert token is not None
    await _restrict(engine, world, restricted=True)
    await _franks_own_account(engine, world)
    before = await snapshot(engine)

    result = await runner.run("frank", ACTIVATE, token=token.group(1), pin=pin)
    assert result.data == {
        "activateConnection": {"grant": None, "userErrors": [{"code": "INVALID_TOKEN"}]}
    }
    assert await snapshot(engine) == before


async def test_a_second_contact_record_of_the_restricted_person_is_not_provisioned_for_the_student(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """The SIS holds Frank twice: the restricted record, and a duplicate
    (another case of the same email) marked eligible for Ada."""
    async with engine.begin() as c:
        duplicate: Any = (
            await c.execute(
                sa.insert(tables.Guardian.__table__)
                .values(
                    district_id=world["north"],
                    sourced_id="g_father_again",
                    given_name="Frank",
                    family_name="Lovelace",
                    email="Frank@Home.Example.com ",
                )
                .returning(tables.Guardian.__table__.c.id)
            )
        ).scalar_one()
        await c.execute(
            sa.insert(CONTACTS).values(
                district_id=world["north"],
                student_id=world["s1"],
                guardian_id=duplicate,
                contact_type="Father",
                portal_eligible=True,
                restricted=False,
            )
        )
    before = await snapshot(engine)
    result = await runner.run("admin_a", PROVISION, ids=[gid("Guardian", duplicate)])
    assert result.data == {
        "provisionAccounts": {
            "accounts": [],
            "userErrors": [{"code": "NOT_ELIGIBLE", "field": ["input", "guardianIds", "0"]}],
        }
    }
    assert await snapshot(engine) == before
