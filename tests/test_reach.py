"""Reach follows the capability table (docs/architecture.md section 2): an
account, a grant or a request is reached only through a relation whose row
of the table grants what its fields show. On the shared permission world,
SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.client import GraphQLRunner, gid
from tests.world import World

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
