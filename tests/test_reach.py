"""Reach follows the capability table (docs/architecture.md section 2): an
account, a grant or a request is reached only through a relation whose row
of the table grants what its fields show. On the shared permission world,
SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.client import GraphQLRunner, gid
from tests.world import VIEWERS, World

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHOOL_A_STAFF_ACCOUNTS = [
    "Anna Head",
    "Art Teacher",
    "Dan North",
    "Del Gone",
    "Enid Manager",
    "Seth Security",
    "Sue Support",
    "Tess Maths",
    "Una Linked",
]

ACCOUNTS_WITH_GRANTS = """
{ accounts(first: 50) { totalCount edges { node { displayName
    grants(includeRevoked: true) { totalCount edges { node { relationship student { displayName } } } }
} } } }
"""


async def test_support_staff_reach_the_schools_staff_accounts_and_no_pairings(
    gql_runner: GraphQLRunner,
) -> None:
    """SUPPORT_STAFF hold the directory and homework/timetable only: no
    PORTAL_VIEW, so no paired accounts, relationships or grants."""
    result = await gql_runner.run("support_a", ACCOUNTS_WITH_GRANTS)
    assert result.errors == []
    assert result.data == {
        "accounts": {
            "totalCount": len(SCHOOL_A_STAFF_ACCOUNTS),
            "edges": [
                {"node": {"displayName": name, "grants": {"totalCount": 0, "edges": []}}}
                for name in SCHOOL_A_STAFF_ACCOUNTS
            ],
        }
    }


ACCOUNT_NODE = """
query($id: ID!) { node(id: $id) { ... on Account { displayName } } }
"""


@pytest.mark.parametrize("account", ["parent", "student_s1"])
async def test_support_staff_do_not_find_paired_accounts_by_id(
    gql_runner: GraphQLRunner, world: World, account: str
) -> None:
    result = await gql_runner.run("support_a", ACCOUNT_NODE, id=gid("Account", world[account]))
    assert (result.data, result.errors) == ({"node": None}, [])


async def test_the_revoke_view_still_shows_paired_accounts_and_their_grants(
    gql_runner: GraphQLRunner,
) -> None:
    """The teacher of Ada holds PORTAL_VIEW on her: her mother's and her own
    account, with the grants to Ada (not Byron's, another school's)."""
    result = await gql_runner.run("t_maths", ACCOUNTS_WITH_GRANTS)
    assert result.errors == []
    assert result.data is not None
    paired = {
        edge["node"]["displayName"]: [
            (g["node"]["relationship"], g["node"]["student"]["displayName"])
            for g in edge["node"]["grants"]["edges"]
        ]
        for edge in result.data["accounts"]["edges"]
        if edge["node"]["grants"]["totalCount"]
    }
    assert paired == {
        "Ada Lovelace": [(None, "Ada Lovelace")],
        "Mary Lovelace": [("Mother", "Ada Lovelace")],
    }


# Who holds PORTAL_VIEW on Ada (s1): ``Student.portalAccess`` (codes, grants,
# requests) is restricted to it, so a node of the portal reached by id is
# found by exactly these viewers (and a grant by its own account too).
PORTAL_VIEW_ON_ADA = {"t_maths", "admin_a", "da_north", "enrol_a", "security_a", "unlinked"}
MANAGE_ACCESS_CODES_ON_ADA = PORTAL_VIEW_ON_ADA - {"t_maths", "security_a"}

NODE_NAME = """
query($id: ID!) { node(id: $id) { __typename id } }
"""
CREATE_REQUEST = """
mutation($student: ID!) {
  createConnectionRequest(input: {studentId: $student, forStudentSelf: false,
      relationship: "Aunt", individualName: "Gina Guardian", email: "gina@home.example.com"}) {
    request { id } userErrors { code }
  }
}
"""


async def _finders(runner: GraphQLRunner, global_id: str) -> set[str]:
    found = set()
    for who in VIEWERS:
        result = await runner.run(who, NODE_NAME, id=global_id)
        assert result.errors == [], (who, result.errors)
        assert result.data is not None
        if result.data["node"] is not None:
            assert result.data["node"]["id"] == global_id
            found.add(who)
    return found


async def test_a_portal_node_is_found_by_id_exactly_by_who_may_see_its_fields(
    gql_runner: GraphQLRunner, world: World
) -> None:
    # A code is Student.portalAccess.accessCode's: MANAGE_ACCESS_CODES, not
    # the whole revoke view (teachers and security contacts never see codes).
    code = gid("AccessCode", world["code_s1"])
    assert await _finders(gql_runner, code) == MANAGE_ACCESS_CODES_ON_ADA
    grant = gid("StudentAccessGrant", world["grant_parent_s1"])
    assert await _finders(gql_runner, grant) == PORTAL_VIEW_ON_ADA | {"parent"}
    own = gid("StudentAccessGrant", world["grant_student_s1"])
    assert await _finders(gql_runner, own) == PORTAL_VIEW_ON_ADA | {"student_s1"}


async def test_a_connection_request_is_found_by_id_only_with_the_revoke_view(
    fresh: tuple[GraphQLRunner, World, AsyncEngine],
) -> None:
    """A request names a third party (name, email): not for the student's
    guardians, the student, or an aide."""
    runner, world, _ = fresh
    created = await runner.run("enrol_a", CREATE_REQUEST, student=gid("Student", world["s1"]))
    assert created.data is not None
    request = created.data["createConnectionRequest"]["request"]["id"]
    assert await _finders(runner, request) == PORTAL_VIEW_ON_ADA


# ---------------------------------------------------------------- filters and search
# A filter or a search matches only on what the viewer may read; an id of
# something out of scope in a filter is an unknown id.

GUARDIANS_MATCHING = """
query($search: String, $status: PortalStatus, $school: ID) {
  guardians(first: 50, filter: {search: $search, portalStatus: $status, schoolId: $school}) {
    totalCount edges { node { displayName } }
  }
}
"""
ACCOUNTS_MATCHING = """
query($search: String, $status: PortalStatus, $never: Boolean, $school: ID) {
  accounts(first: 50, filter: {search: $search, portalStatus: $status, neverLoggedIn: $never,
                               schoolId: $school}) {
    totalCount edges { node { displayName } }
  }
}
"""


def _names(data: dict[str, object] | None, root: str) -> list[str]:
    assert data is not None
    connection = data[root]
    assert isinstance(connection, dict)
    return [edge["node"]["displayName"] for edge in connection["edges"]]


@pytest.mark.parametrize(
    ("who", "search", "expected"),
    [
        # The teacher sees Ada's contacts but not their email (CONTACT_DETAILS).
        ("t_maths", "frank@home", []),
        ("t_maths", "mary@home", []),
        ("t_maths", "Frank", ["Frank Lovelace"]),
        ("admin_a", "mary@home", ["Mary Lovelace"]),
        ("support_a", "mary@home", []),
    ],
)
async def test_a_guardian_search_matches_only_readable_fields(
    gql_runner: GraphQLRunner, who: str, search: str, expected: list[str]
) -> None:
    result = await gql_runner.run(who, GUARDIANS_MATCHING, search=search)
    assert result.errors == []
    assert _names(result.data, "guardians") == expected


@pytest.mark.parametrize(
    ("who", "search", "expected"),
    [
        # Account emails are PORTAL_VIEW: not the aide's, not for staff accounts.
        ("support_a", "t_maths@north", []),
        ("support_a", "Tess", ["Tess Maths"]),
        ("t_maths", "mary@home", ["Mary Lovelace"]),
        ("t_art", "mary@home", []),
    ],
)
async def test_an_account_search_matches_only_readable_fields(
    gql_runner: GraphQLRunner, who: str, search: str, expected: list[str]
) -> None:
    result = await gql_runner.run(who, ACCOUNTS_MATCHING, search=search)
    assert result.errors == []
    assert _names(result.data, "accounts") == expected


@pytest.mark.parametrize("variables", [{"never": True}, {"never": False}, {"status": "ACTIVE"}])
async def test_lifecycle_filters_match_nothing_without_account_lifecycle(
    gql_runner: GraphQLRunner, variables: dict[str, object]
) -> None:
    # Only their own account, whose lifecycle each reads (it never signed in).
    own = {"t_maths": "Tess Maths", "support_a": "Sue Support", "security_a": "Seth Security"}
    for who, name in own.items():
        result = await gql_runner.run(who, ACCOUNTS_MATCHING, **variables)
        assert result.errors == []
        expected = [] if variables == {"never": False} else [name]
        assert _names(result.data, "accounts") == expected, (who, variables)
    if "status" in variables:
        result = await gql_runner.run("t_maths", GUARDIANS_MATCHING, status="READY_TO_PROVISION")
        assert _names(result.data, "guardians") == []
        # An administrator holds it: the same filter finds Ada's father
        # (eligible, and restricted only from her) is not ready, her mother active.
        result = await gql_runner.run("admin_a", GUARDIANS_MATCHING, status="ACTIVE")
        assert _names(result.data, "guardians") == ["Mary Lovelace"]


async def test_a_school_filter_with_another_schools_id_is_an_unknown_id(
    gql_runner: GraphQLRunner, world: World
) -> None:
    """Southfield's administrator sees Mary (grant to Byron); asking which of
    her accounts and contacts have a link at Northfield must not answer."""
    school_a = gid("School", world["school_a"])
    for root, query in (("accounts", ACCOUNTS_MATCHING), ("guardians", GUARDIANS_MATCHING)):
        result = await gql_runner.run("admin_b", query, school=school_a)
        assert result.errors == []
        assert _names(result.data, root) == [], root
    own = await gql_runner.run(
        "admin_b", GUARDIANS_MATCHING, school=gid("School", world["school_b"])
    )
    assert _names(own.data, "guardians") == ["Mary Lovelace"]


# ---------------------------------------------------------------- related rows
# A related row reached through a field path (a grant's account and student,
# a code's student) is loaded by id without asking scope again: this checks
# that no path reaches a row its viewer could not find by id.

PORTAL_PATHS = """
{ students(first: 50) { edges { node { id portalAccess {
    accessCode { id student { id } }
    grants(first: 50) { edges { node { id account { id } student { id } } } }
} } } } }
"""


def _related_ids(data: dict[str, object] | None) -> set[str]:
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "id" and isinstance(inner, str):
                    found.add(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(data)
    return found


@pytest.mark.parametrize("who", VIEWERS)
async def test_no_field_path_reaches_a_live_related_row_its_viewer_cannot_find_by_id(
    gql_runner: GraphQLRunner, world: World, who: str
) -> None:
    result = await gql_runner.run(who, PORTAL_PATHS)
    assert {e["extensions"]["code"] for e in result.errors} <= {"FORBIDDEN"}
    related = _related_ids(result.data)
    if who in PORTAL_VIEW_ON_ADA:  # Ada's grants and their accounts at least
        assert gid("Account", world["parent"]) in related
        assert gid("StudentAccessGrant", world["grant_parent_s1"]) in related
    for global_id in sorted(related):
        found = await gql_runner.run(who, NODE_NAME, id=global_id)
        assert found.data is not None, (who, global_id)
        assert found.data["node"] is not None, (who, global_id)
        assert found.data["node"]["id"] == global_id


UNLINKED_ACCOUNT = """
query($id: ID!) { node(id: $id) { ... on Account { displayName email lastLoginAt } } }
"""


@pytest.mark.parametrize(
    ("who", "errors"),
    [
        # A hand-granted role at school A ties the account to A: A's roles
        # decide about it with what they hold there, as a search does.
        ("admin_a", []),
        ("t_maths", [["node", "lastLoginAt"]]),
    ],
)
async def test_an_account_reached_through_its_role_shows_what_the_schools_roles_grant(
    gql_runner: GraphQLRunner, world: World, who: str, errors: list[list[str]]
) -> None:
    result = await gql_runner.run(who, UNLINKED_ACCOUNT, id=gid("Account", world["unlinked"]))
    assert [e["path"] for e in result.errors] == errors
    assert result.data == {
        "node": {
            "displayName": "Una Linked",
            "email": "assistant@example.org",
            "lastLoginAt": None,
        }
    }
