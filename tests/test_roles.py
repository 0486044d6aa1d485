"""``grantRole`` and ``revokeRole``: the permission matrix, the escalation
attempts that must fail, and what a successful grant or revocation writes.

Refusals run on the module's shared world (and must leave it exactly as it
was); successes run on a database of their own.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from tests.auth_client import rows
from tests.client import GraphQLRunner, gid
from tests.snapshots import snapshot
from tests.world import VIEWERS, World

pytestmark = pytest.mark.asyncio(loop_scope="session")

GRANT = """
mutation($input: GrantRoleInput!) {
  grantRole(input: $input) {
    account { displayName roles { role school { name } district { name } } }
    userErrors { code field }
  }
}
"""
REVOKE = GRANT.replace("GrantRole", "RevokeRole").replace("grantRole", "revokeRole")
NOT_ALLOWED = "Your role does not allow this."
ADMINS_HERE = {"admin_a", "da_north"}
ADMINS_ELSEWHERE = {"admin_b", "admin_c", "da_other"}


@pytest.fixture(scope="module")
def engine(world_engine: tuple[AsyncEngine, World]) -> AsyncEngine:
    return world_engine[0]


def _denials() -> dict[str | None, Any]:
    """What everyone but the administrators of the school gets."""
    expected: dict[str | None, Any] = {None: ("UNAUTHENTICATED", "Sign in to see this.")}
    for who in VIEWERS:
        if who in ADMINS_HERE:
            continue
        if who in ADMINS_ELSEWHERE:
            expected[who] = [("NOT_FOUND", "accountId"), ("NOT_FOUND", "schoolId")]
        elif who in {"unlinked", "deactivated"}:
            expected[who] = ("FORBIDDEN", NOT_LINKED_MESSAGE)
        else:
            expected[who] = ("FORBIDDEN", NOT_ALLOWED)
    return expected


async def test_only_administrators_of_the_school_may_grant_a_role_there(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    variables = {
        "accountId": gid("Account", world["t_art"]),
        "role": "SUPPORT_STAFF",
        "schoolId": gid("School", world["school_a"]),
    }
    outcomes = {}
    for who in [None, *VIEWERS]:
        if who not in ADMINS_HERE:
            result = await gql_runner.run(who, GRANT, input=variables)
            outcomes[who] = result.outcome("grantRole")
    assert outcomes == _denials()
    assert await snapshot(engine) == before


async def test_only_administrators_of_the_school_may_revoke_a_role_there(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    variables = {
        "accountId": gid("Account", world["unlinked"]),
        "role": "SCHOOL_ADMIN",
        "schoolId": gid("School", world["school_a"]),
    }
    outcomes = {}
    for who in [None, *VIEWERS]:
        if who not in ADMINS_HERE:
            result = await gql_runner.run(who, REVOKE, input=variables)
            outcomes[who] = result.outcome("revokeRole")
    expected = _denials()
    # Revoking one's own manual role needs no standing; but "unlinked" may
    # not write at all.
    assert outcomes == expected
    assert await snapshot(engine) == before


def _place(world: World, school: str | None = None, district: str | None = None) -> dict[str, str]:
    place = {}
    if school is not None:
        place["schoolId"] = gid("School", world[school])
    if district is not None:
        place["districtId"] = gid("District", world[district])
    return place


ESCALATIONS = [
    # who, account, role, place (school, district), expected outcome
    (
        "da_north",
        "da_north",
        "SCHOOL_ADMIN",
        ("school_a", None),
        ("FORBIDDEN", "You cannot grant yourself a role you do not already hold."),
    ),
    (
        "admin_a",
        "admin_a",
        "SECURITY_CONTACT",
        ("school_a", None),
        (
            "FORBIDDEN",
            "You cannot grant SECURITY_CONTACT: it allows more than you hold at Northfield.",
        ),
    ),
    ("admin_a", "t_art", "TEACHER", ("school_b", None), [("NOT_FOUND", "schoolId")]),
    ("admin_a", "t_sci", "SUPPORT_STAFF", ("school_a", None), [("NOT_FOUND", "accountId")]),
    (
        "admin_a",
        "t_art",
        "TEACHER",
        (None, "north"),
        ("FORBIDDEN", "Only a district administrator grants district roles."),
    ),
    (
        "da_north",
        "t_art",
        "SECURITY_CONTACT",
        ("school_a", None),
        (
            "FORBIDDEN",
            "You cannot grant SECURITY_CONTACT: it allows more than you hold at Northfield.",
        ),
    ),
    ("da_north", "t_art", "DISTRICT_ADMIN", (None, "other"), [("NOT_FOUND", "districtId")]),
    ("admin_a", "t_art", "DISTRICT_ADMIN", ("school_a", None), [("INVALID_PLACE", "schoolId")]),
    ("admin_a", "t_art", "TEACHER", ("school_a", "north"), [("INVALID_PLACE", "schoolId")]),
    ("admin_a", "t_art", "TEACHER", (None, None), [("INVALID_PLACE", "schoolId")]),
    ("admin_a", "parent", "TEACHER", ("school_a", None), [("NOT_A_STAFF_ACCOUNT", "accountId")]),
    (
        "admin_b",
        "t_sci",
        "DISTRICT_ADMIN",
        (None, "north"),
        ("FORBIDDEN", "Only a district administrator grants district roles."),
    ),
]


@pytest.mark.parametrize(("who", "account", "role", "place", "expected"), ESCALATIONS)
async def test_privilege_escalation_is_refused_and_changes_nothing(
    gql_runner: GraphQLRunner,
    world: World,
    engine: AsyncEngine,
    who: str,
    account: str,
    role: str,
    place: tuple[str | None, str | None],
    expected: Any,
) -> None:
    before = await snapshot(engine)
    variables = {"accountId": gid("Account", world[account]), "role": role} | _place(world, *place)
    result = await gql_runner.run(who, GRANT, input=variables)
    assert result.outcome("grantRole") == expected
    assert await snapshot(engine) == before


async def test_a_role_already_held_is_granted_to_oneself_without_a_change(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    result = await gql_runner.run(
        "admin_a",
        GRANT,
        input={
            "accountId": gid("Account", world["admin_a"]),
            "role": "SCHOOL_ADMIN",
            "schoolId": gid("School", world["school_a"]),
        },
    )
    assert result.data == {
        "grantRole": {
            "account": {
                "displayName": "Anna Head",
                "roles": [
                    {"role": "SCHOOL_ADMIN", "school": {"name": "Northfield"}, "district": None}
                ],
            },
            "userErrors": [],
        }
    }
    # No MANUAL copy: it would outlive the SIS taking the role away.
    assert await snapshot(engine) == before


async def test_revoking_refuses_sis_roles_and_roles_not_held(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    sis = await gql_runner.run(
        "admin_a",
        REVOKE,
        input={
            "accountId": gid("Account", world["t_maths"]),
            "role": "TEACHER",
        }
        | _place(world, "school_a"),
    )
    assert sis.outcome("revokeRole") == [("SIS_MANAGED", "role")]
    not_held = await gql_runner.run(
        "admin_a",
        REVOKE,
        input={"accountId": gid("Account", world["t_art"]), "role": "SUPPORT_STAFF"}
        | _place(world, "school_a"),
    )
    assert not_held.outcome("revokeRole") == [("ROLE_NOT_HELD", "role")]
    district = await gql_runner.run(
        "admin_a",
        REVOKE,
        input={"accountId": gid("Account", world["da_north"]), "role": "DISTRICT_ADMIN"}
        | _place(world, None, "north"),
    )
    assert district.outcome("revokeRole") == (
        "FORBIDDEN",
        "Only a district administrator revokes district roles.",
    )
    assert await snapshot(engine) == before


async def test_a_grant_and_a_revocation_write_manual_rows_and_access_events(
    fresh: tuple[GraphQLRunner, World, AsyncEngine],
) -> None:
    runner, world, engine = fresh
    grant = {
        "accountId": gid("Account", world["t_art"]),
        "role": "SUPPORT_STAFF",
        "schoolId": gid("School", world["school_a"]),
    }
    result = await runner.run("admin_a", GRANT, input=grant)
    assert result.data == {
        "grantRole": {
            "account": {
                "displayName": "Art Teacher",
                "roles": [
                    {"role": "SUPPORT_STAFF", "school": {"name": "Northfield"}, "district": None},
                    {"role": "TEACHER", "school": {"name": "Northfield"}, "district": None},
                ],
            },
            "userErrors": [],
        }
    }
    manual = [
        (g.account_id, g.staff_member_id, g.role, g.school_id, g.district_id)
        for g in await rows(engine, tables.RoleGrant)
        if g.source == "MANUAL" and g.account_id == world["t_art"]
    ]
    assert manual == [(world["t_art"], None, "SUPPORT_STAFF", world["school_a"], world["north"])]
    # Granting it again changes nothing.
    again = await runner.run("da_north", GRANT, input=grant)
    assert again.data is not None
    assert again.data["grantRole"]["userErrors"] == []

    district = await runner.run(
        "da_north",
        GRANT,
        input={"accountId": gid("Account", world["admin_b"]), "role": "DISTRICT_ADMIN"}
        | _place(world, None, "north"),
    )
    assert district.data is not None
    assert {"role": "DISTRICT_ADMIN", "school": None, "district": {"name": "North District"}} in (
        district.data["grantRole"]["account"]["roles"]
    )

    revoked = await runner.run("admin_a", REVOKE, input=grant)
    assert revoked.data is not None
    assert revoked.data["revokeRole"]["account"]["roles"] == [
        {"role": "TEACHER", "school": {"name": "Northfield"}, "district": None}
    ]
    revoke_unlinked = await runner.run(
        "da_north",
        REVOKE,
        input={"accountId": gid("Account", world["unlinked"]), "role": "SCHOOL_ADMIN"}
        | _place(world, "school_a"),
    )
    assert revoke_unlinked.data is not None
    assert revoke_unlinked.data["revokeRole"]["account"]["roles"] == []

    events = [
        (e.district_id, e.student_id, e.actor_account_id, e.actor_staff_id, e.action, e.detail)
        for e in await rows(engine, tables.AccessEvent)
    ]
    assert events == [
        (
            world["north"],
            None,
            world["admin_a"],
            world["admin_a_staff"],
            "ROLE_GRANTED",
            f"SUPPORT_STAFF at Northfield for account {world['t_art']} (Art Teacher).",
        ),
        (
            world["north"],
            None,
            world["da_north"],
            world["da_north_staff"],
            "ROLE_GRANTED",
            f"DISTRICT_ADMIN at North District for account {world['admin_b']} (Ben Head).",
        ),
        (
            world["north"],
            None,
            world["admin_a"],
            world["admin_a_staff"],
            "ROLE_REVOKED",
            f"SUPPORT_STAFF at Northfield for account {world['t_art']} (Art Teacher).",
        ),
        (
            world["north"],
            None,
            world["da_north"],
            world["da_north_staff"],
            "ROLE_REVOKED",
            f"SCHOOL_ADMIN at Northfield for account {world['unlinked']} (Una Linked).",
        ),
    ]
    # The role is live at once: Ben Head now sees the district's other school.
    viewer = await runner.run("admin_b", "{ viewer { roles { role } } }")
    assert viewer.data == {
        "viewer": {"roles": [{"role": "DISTRICT_ADMIN"}, {"role": "SCHOOL_ADMIN"}]}
    }
