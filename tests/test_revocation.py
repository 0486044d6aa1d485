"""The revoke view's write: revokeStudentAccess (docs/architecture.md section 2, "The revoke view").

Revoking acts only on students in the actor's scope; any other student, or
an account out of scope, is NOT_FOUND and nothing changes. The account keeps
its other students, and the code it had paired with is reset.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.tables import ACCESS_CODES, GRANTS
from tests.client import gid
from tests.clock import NOW
from tests.portal_support import PortalRunner, actions, add_account, matrix, rows
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

REVOKE = """
mutation($account: ID!, $students: [ID!]!) {
  revokeStudentAccess(input: {accountId: $account, studentIds: $students}) {
    revokedGrants { id revokedAt revokedBy { displayName } student { displayName } }
    resetAccessCodes { code status student { displayName } }
    userErrors { code message field }
  }
}
"""
REDEEM = """
mutation($code: String!) {
  redeemAccessCode(input: {code: $code}) { grant { id } userErrors { code } }
}
"""
ENABLE = """
mutation($ids: [ID!]!) {
  enablePortalAccess(input: {studentIds: $ids}) { accessCodes { code } userErrors { code } }
}
"""
MY_STUDENTS = "{ viewer { students { edges { node { displayName } } } } }"


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> PortalRunner:
    return PortalRunner(engine, world)


def student_not_found(index: int) -> dict[str, object]:
    return {
        "code": "NOT_FOUND",
        "message": "No student with this id.",
        "field": ["input", "studentIds", str(index)],
    }


ACCOUNT_NOT_FOUND = {
    "code": "NOT_FOUND",
    "message": "No account with this id.",
    "field": ["input", "accountId"],
}


async def paired_with_codes(runner: PortalRunner, world: World, who: str) -> tuple[str, str]:
    """``who`` pairs with s1 and s2 by their codes; returns the two codes."""
    enabled = await runner.run(
        "da_north", ENABLE, ids=[gid("Student", world["s1"]), gid("Student", world["s2"])]
    )
    assert enabled.data is not None
    s1_code, s2_code = (c["code"] for c in enabled.data["enablePortalAccess"]["accessCodes"])
    for code in (s1_code, s2_code):
        redeemed = await runner.run(who, REDEEM, code=code)
        assert redeemed.data is not None
        assert redeemed.data["redeemAccessCode"]["userErrors"] == []
    return s1_code, s2_code


async def test_revoking_ends_the_grant_resets_the_code_used_and_keeps_other_students(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_account(engine, world, "gina", name="Gina Guardian")
    await add_account(engine, world, "early", name="Early Bird")
    s1_code, _ = await paired_with_codes(runner, world, "gina")
    early = await runner.run("early", REDEEM, code=s1_code)
    assert early.data is not None
    trail_before = await actions(engine)

    result = await runner.run(
        "enrol_a",
        REVOKE,
        account=gid("Account", world["gina"]),
        students=[gid("Student", world["s1"])],
    )
    assert result.errors == []
    assert result.data is not None
    payload = result.data["revokeStudentAccess"]
    [grant] = await rows(
        engine,
        tables.StudentAccessGrant,
        GRANTS.c.account_id == world["gina"],
        GRANTS.c.student_id == world["s1"],
    )
    [new_code] = await rows(
        engine,
        tables.AccessCode,
        ACCESS_CODES.c.student_id == world["s1"],
        ACCESS_CODES.c.status == "ACTIVE",
    )
    shown = "-".join(new_code.code[i : i + 4] for i in (0, 4, 8))
    assert payload == {
        "revokedGrants": [
            {
                "id": gid("StudentAccessGrant", grant.id),
                "revokedAt": NOW.isoformat(),
                "revokedBy": {"displayName": "Enid Manager"},
                "student": {"displayName": "Ada Lovelace"},
            }
        ],
        "resetAccessCodes": [
            {"code": shown, "status": "ACTIVE", "student": {"displayName": "Ada Lovelace"}}
        ],
        "userErrors": [],
    }
    assert shown != s1_code
    assert (grant.revoked_at, grant.revoked_by_staff_id, grant.revoke_reason) == (
        NOW,
        world["enrol_a_staff"],
        "Revoked by staff",
    )
    old_code = await rows(
        engine, tables.AccessCode, ACCESS_CODES.c.code == s1_code.replace("-", "")
    )
    assert [(c.status, c.reset_at) for c in old_code] == [("RESET", NOW)]
    assert (await actions(engine))[len(trail_before) :] == [
        (
            "GRANT_REVOKED",
            world["s1"],
            "Enid Manager",
            f"grant {grant.id} of account {world['gina']}",
        ),
        ("ACCESS_CODE_RESET", world["s1"], "Enid Manager", f"access code {old_code[0].id}"),
        ("ACCESS_CODE_ISSUED", world["s1"], "Enid Manager", f"access code {new_code.id}"),
    ]

    # Gina keeps s2; the guardian who paired before keeps s1.
    assert (await runner.run("gina", MY_STUDENTS)).data == {
        "viewer": {"students": {"edges": [{"node": {"displayName": "Byron Lovelace"}}]}}
    }
    assert (await runner.run("early", MY_STUDENTS)).data == {
        "viewer": {"students": {"edges": [{"node": {"displayName": "Ada Lovelace"}}]}}
    }
    # The old code pairs no one any more.
    await add_account(engine, world, "late")
    late = await runner.run("late", REDEEM, code=s1_code)
    assert late.data == {
        "redeemAccessCode": {"grant": None, "userErrors": [{"code": "INVALID_CODE"}]}
    }


async def test_a_code_already_reset_is_not_reset_again(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_account(engine, world, "gina")
    await paired_with_codes(runner, world, "gina")
    reset = await runner.run(
        "enrol_a",
        "mutation($ids: [ID!]!) { resetAccessCodes(input: {studentIds: $ids}) { userErrors { code } } }",
        ids=[gid("Student", world["s1"])],
    )
    assert reset.data == {"resetAccessCodes": {"userErrors": []}}
    codes_before = await rows(engine, tables.AccessCode)
    result = await runner.run(
        "enrol_a",
        REVOKE,
        account=gid("Account", world["gina"]),
        students=[gid("Student", world["s1"])],
    )
    assert result.data is not None
    assert result.data["revokeStudentAccess"]["resetAccessCodes"] == []
    assert await rows(engine, tables.AccessCode) == codes_before


async def test_naming_a_student_out_of_scope_is_not_found_and_nothing_changes(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    # parent holds s1 (school A) and s2 (school B): enrol_a may revoke s1 only.
    before = await snapshot(engine)
    result = await runner.run(
        "enrol_a",
        REVOKE,
        account=gid("Account", world["parent"]),
        students=[gid("Student", world["s1"]), gid("Student", world["s2"])],
    )
    assert result.data == {
        "revokeStudentAccess": {
            "revokedGrants": [],
            "resetAccessCodes": [],
            "userErrors": [student_not_found(1)],
        }
    }
    assert await snapshot(engine) == before


async def test_a_student_in_scope_without_an_active_grant_is_refused_and_nothing_changes(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    before = await snapshot(engine)
    result = await runner.run(
        "admin_a",
        REVOKE,
        account=gid("Account", world["parent"]),
        students=[gid("Student", world["s1"]), gid("Student", world["s3"])],
    )
    assert result.data == {
        "revokeStudentAccess": {
            "revokedGrants": [],
            "resetAccessCodes": [],
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": "This account has no active access to this student.",
                    "field": ["input", "studentIds", "1"],
                }
            ],
        }
    }
    assert await snapshot(engine) == before


async def test_a_district_admin_revokes_across_schools(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    result = await runner.run(
        "da_north",
        REVOKE,
        account=gid("Account", world["parent"]),
        students=[gid("Student", world["s1"]), gid("Student", world["s2"])],
    )
    assert result.data is not None
    assert [g["student"] for g in result.data["revokeStudentAccess"]["revokedGrants"]] == [
        {"displayName": "Ada Lovelace"},
        {"displayName": "Byron Lovelace"},
    ]
    # The world's grants carry no code, so no code is reset.
    assert result.data["revokeStudentAccess"]["resetAccessCodes"] == []
    assert (await runner.run("parent", MY_STUDENTS)).data == {"viewer": {"students": {"edges": []}}}


ROLE = ("FORBIDDEN", "Your role does not allow this.")
NOT_LINKED = ("FORBIDDEN", NOT_LINKED_MESSAGE)
# revokeStudentAccess(parent, [s1]): REVOKE_GRANT on s1, account in scope.
REVOKE_MATRIX: dict[str | None, object] = {
    None: ("UNAUTHENTICATED", "Sign in to see this."),
    "t_maths": "ok",  # teaches s1
    "admin_a": "ok",
    "enrol_a": "ok",
    "da_north": "ok",
    "t_art": "account and student NOT_FOUND",
    "t_sci": "student NOT_FOUND",  # sees the account through s2, not s1
    "admin_b": "student NOT_FOUND",
    "admin_c": "account and student NOT_FOUND",
    "da_other": "account and student NOT_FOUND",
    "support_a": ROLE,
    "security_a": ROLE,  # sees the revoke view, may not revoke
    "parent": ROLE,
    "lonely_parent": ROLE,
    "student_s1": ROLE,
    "deactivated": NOT_LINKED,
    "unlinked": NOT_LINKED,
}


async def test_revoke_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """Each viewer on its own fresh copy of the grant: the grant is restored
    after every success so the next viewer meets the same world."""
    outcomes: dict[str | None, object] = {}
    for who in REVOKE_MATRIX:
        before = await snapshot(engine)
        outcome = await matrix(
            engine,
            runner,
            [who],
            REVOKE,
            account=gid("Account", world["parent"]),
            students=[gid("Student", world["s1"])],
            succeeded=lambda data: (
                [g["student"] for g in data["revokeStudentAccess"]["revokedGrants"]]
                == [{"displayName": "Ada Lovelace"}]
            ),
            not_found={},
            path=["revokeStudentAccess"],
        )
        value = outcome[who]
        if isinstance(value, tuple) and value[0] == "unexpected" and value[2] == []:
            errors = value[1]["revokeStudentAccess"]["userErrors"]
            if errors == [student_not_found(0)]:
                value = "student NOT_FOUND"
            elif errors == [ACCOUNT_NOT_FOUND, student_not_found(0)]:
                value = "account and student NOT_FOUND"
            if await snapshot(engine) != before:
                value = ("changed the database", value)
        outcomes[who] = value
        if value == "ok":
            await restore_grant(engine, world)
    assert outcomes == REVOKE_MATRIX


async def restore_grant(engine: AsyncEngine, world: World) -> None:
    async with engine.begin() as c:
        await c.execute(
            sa.update(GRANTS)
            .where(GRANTS.c.id == world["grant_parent_s1"])
            .values(revoked_at=None, revoked_by_staff_id=None, revoke_reason=None)
        )


ACCOUNT_BY_ID = """
query($id: ID!) { node(id: $id) { ... on Account { displayName email } } }
"""
ACCOUNTS_SEARCH = """
query($search: String) { accounts(first: 10, filter: {search: $search}) { totalCount } }
"""


async def test_a_revoked_grant_no_longer_ties_the_account_to_the_students_staff(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """Art's teacher reaches Pat's account through Pat's grant to Charles
    (s3); once that grant is revoked, the account (and its email) is out of
    her reach: not by id, not by search."""
    await add_account(engine, world, "pat", email="pat@home.example.com")
    async with engine.begin() as c:
        await c.execute(
            sa.insert(GRANTS).values(
                district_id=world["north"],
                account_id=world["pat"],
                student_id=world["s3"],
                source="ACCESS_CODE",
                granted_at=NOW,
            )
        )
    pat = gid("Account", world["pat"])
    seen = await runner.run("t_art", ACCOUNT_BY_ID, id=pat)
    assert seen.data == {"node": {"displayName": "Pat", "email": "pat@home.example.com"}}
    revoked = await runner.run("t_art", REVOKE, account=pat, students=[gid("Student", world["s3"])])
    assert revoked.data is not None
    assert revoked.data["revokeStudentAccess"]["userErrors"] == []

    for who in ("t_art", "admin_a"):
        assert (await runner.run(who, ACCOUNT_BY_ID, id=pat)).data == {"node": None}, who
        searched = await runner.run(who, ACCOUNTS_SEARCH, search="pat@home")
        assert searched.data == {"accounts": {"totalCount": 0}}, who
