"""The read side of the permission matrix (docs/architecture.md section 2), on SQLite and PostgreSQL.

Each viewer of tests/world.py asks the same questions; the tests assert the
exact data, the exact error code and path for restricted fields, and that
out-of-scope objects do not exist (null from node, missing from nodes,
absent from connections and their totalCount).
"""

from __future__ import annotations

import pytest

from tests.client import GraphQLRunner, gid
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAMES = {
    "s1": "Ada Lovelace",
    "s2": "Byron Lovelace",
    "s3": "Charles Babbage",
    "s4": "Dora Withdrawn",
    "s5": "Eve Easton",
}
ORDER = ["s3", "s5", "s1", "s2", "s4"]  # family name, given name, id

VISIBLE_STUDENTS = {
    None: None,  # anonymous: UNAUTHENTICATED
    "t_maths": ["s1"],  # s4 withdrawn: teacher scope is current enrolments only
    "t_art": ["s3"],
    "t_sci": ["s2"],
    "admin_a": ["s1", "s3", "s4"],  # admin scope includes the withdrawn
    "admin_b": ["s2"],
    "admin_c": ["s5"],
    "da_north": ["s1", "s2", "s3", "s4"],
    "da_other": ["s5"],
    "enrol_a": ["s1", "s3", "s4"],
    "support_a": ["s1", "s3", "s4"],
    "security_a": ["s1", "s3", "s4"],
    "deactivated": [],  # SIS roles stop with the staff record
    "unlinked": ["s1", "s3", "s4"],  # reads within its (manual) roles
    "parent": ["s1", "s2"],
    "lonely_parent": [],
    "student_s1": ["s1"],
}

STUDENTS_QUERY = """
query { students(first: 50) { totalCount edges { node { displayName } } } }
"""


@pytest.mark.parametrize("who", list(VISIBLE_STUDENTS), ids=lambda w: w or "anonymous")
async def test_each_viewer_lists_exactly_the_students_in_scope(
    gql_runner: GraphQLRunner, who: str | None
) -> None:
    result = await gql_runner.run(who, STUDENTS_QUERY)
    expected = VISIBLE_STUDENTS[who]
    if expected is None:
        assert result.data is None
        assert result.error_codes == [("UNAUTHENTICATED", ["students"])]
        return
    assert result.errors == []
    ordered = [NAMES[s] for s in ORDER if s in expected]
    assert result.data == {
        "students": {
            "totalCount": len(expected),
            "edges": [{"node": {"displayName": name}} for name in ordered],
        }
    }


@pytest.mark.parametrize("who", [w for w in VISIBLE_STUDENTS if w], ids=str)
async def test_viewer_students_is_the_same_set_as_the_students_root(
    gql_runner: GraphQLRunner, who: str
) -> None:
    result = await gql_runner.run(
        who, "{ viewer { students(first: 50) { totalCount edges { node { displayName } } } } }"
    )
    expected = VISIBLE_STUDENTS[who] or []
    assert result.errors == []
    assert result.data is not None
    names = [e["node"]["displayName"] for e in result.data["viewer"]["students"]["edges"]]
    assert names == [NAMES[s] for s in ORDER if s in expected]
    assert result.data["viewer"]["students"]["totalCount"] == len(expected)


async def test_anonymous_viewer_is_not_authenticated_and_sees_nothing_else(
    gql_runner: GraphQLRunner, world: World
) -> None:
    result = await gql_runner.run(
        None, "{ viewer { isAuthenticated canRecordData account { id } roles { role } } }"
    )
    assert result.errors == []
    assert result.data == {
        "viewer": {"isAuthenticated": False, "canRecordData": False, "account": None, "roles": []}
    }
    node = await gql_runner.run(
        None, "query($id: ID!) { node(id: $id) { id } }", id=gid("Student", world["s1"])
    )
    assert node.data == {"node": None}
    assert node.error_codes == [("UNAUTHENTICATED", ["node"])]


STUDENT_DETAIL = """
query($id: ID!) {
  node(id: $id) {
    ... on Student {
      displayName
      email
      dateOfBirth
      contacts { contactType restricted guardian { displayName } }
      portalAccess { grants { totalCount } }
    }
  }
}
"""

CONTACTS_S1 = [
    {"contactType": "Mother", "restricted": False, "guardian": {"displayName": "Mary Lovelace"}},
    {"contactType": "Father", "restricted": True, "guardian": {"displayName": "Frank Lovelace"}},
]
FULL = {
    "displayName": "Ada Lovelace",
    "email": "ada@students.example.org",
    "dateOfBirth": "2012-05-01",
    "contacts": CONTACTS_S1,
    "portalAccess": {"grants": {"totalCount": 2}},
}
CONTACT_FIELDS = ["email", "dateOfBirth", "contacts"]

# Who sees which restricted fields of s1 (a Northfield student in t_maths's
# section): fields not listed come back null with FORBIDDEN at their path.
S1_FIELDS = {
    "admin_a": ["email", "dateOfBirth", "contacts", "portalAccess"],
    "da_north": ["email", "dateOfBirth", "contacts", "portalAccess"],
    "enrol_a": ["email", "dateOfBirth", "contacts", "portalAccess"],
    "unlinked": ["email", "dateOfBirth", "contacts", "portalAccess"],
    "t_maths": ["portalAccess"],
    "security_a": ["portalAccess"],
    "support_a": [],
    "parent": ["email", "dateOfBirth", "contacts"],
    "student_s1": ["email", "dateOfBirth", "contacts"],
}


@pytest.mark.parametrize("who", list(S1_FIELDS), ids=str)
async def test_restricted_student_fields_follow_the_capability_table(
    gql_runner: GraphQLRunner, world: World, who: str
) -> None:
    result = await gql_runner.run(who, STUDENT_DETAIL, id=gid("Student", world["s1"]))
    allowed = S1_FIELDS[who]
    expected = {k: (v if k in allowed or k == "displayName" else None) for k, v in FULL.items()}
    assert result.data == {"node": expected}
    denied = [k for k in FULL if k != "displayName" and k not in allowed]
    assert sorted(result.error_codes) == sorted(("FORBIDDEN", ["node", k]) for k in denied)


OUT_OF_SCOPE_S1 = [
    "t_art",
    "t_sci",
    "admin_b",
    "admin_c",
    "da_other",
    "deactivated",
    "lonely_parent",
]


@pytest.mark.parametrize("who", OUT_OF_SCOPE_S1, ids=str)
async def test_an_out_of_scope_student_does_not_exist(
    gql_runner: GraphQLRunner, world: World, who: str
) -> None:
    node = await gql_runner.run(who, STUDENT_DETAIL, id=gid("Student", world["s1"]))
    assert node.errors == []
    assert node.data == {"node": None}
    nodes = await gql_runner.run(
        who,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        ids=[gid("Student", world["s1"]), gid("Student", world["s5"])],
    )
    assert nodes.errors == []
    visible_s5 = who in {"admin_c", "da_other"}
    assert nodes.data == {
        "nodes": [None, {"id": gid("Student", world["s5"])} if visible_s5 else None]
    }


async def test_ids_that_are_malformed_or_relabelled_are_not_found(
    gql_runner: GraphQLRunner, world: World
) -> None:
    relabelled = gid("School", world["s5"])  # a student's key under a type with no such row
    result = await gql_runner.run(
        "t_maths",
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        ids=["not-base64!", gid("Nope", 1), relabelled, gid("Student", 10**9)],
    )
    assert result.errors == []
    assert result.data == {"nodes": [None, None, None, None]}


REVOKE_VIEW = """
query($id: ID!) {
  node(id: $id) {
    ... on Account {
      displayName
      email
      grants { totalCount edges { node { source student { displayName school { name } } } } }
    }
  }
}
"""


@pytest.mark.parametrize(
    ("who", "students"),
    [
        ("enrol_a", ["Ada Lovelace"]),
        ("admin_b", ["Byron Lovelace"]),
        ("t_sci", ["Byron Lovelace"]),
        ("da_north", ["Ada Lovelace", "Byron Lovelace"]),
        ("parent", ["Ada Lovelace", "Byron Lovelace"]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_the_revoke_view_cuts_a_guardian_account_to_the_viewers_scope(
    gql_runner: GraphQLRunner, world: World, who: str, students: list[str]
) -> None:
    result = await gql_runner.run(who, REVOKE_VIEW, id=gid("Account", world["parent"]))
    assert result.errors == []
    assert result.data is not None
    account = result.data["node"]
    assert account["displayName"] == "Mary Lovelace"
    assert account["email"] == "mary@home.example.com"
    assert account["grants"]["totalCount"] == len(students)
    assert [e["node"]["student"]["displayName"] for e in account["grants"]["edges"]] == students
    assert {e["node"]["source"] for e in account["grants"]["edges"]} == {"ACCESS_CODE"}


@pytest.mark.parametrize("who", ["admin_c", "da_other", "t_art", "lonely_parent"], ids=str)
async def test_a_guardian_account_with_no_student_in_scope_does_not_exist(
    gql_runner: GraphQLRunner, world: World, who: str
) -> None:
    result = await gql_runner.run(who, REVOKE_VIEW, id=gid("Account", world["parent"]))
    assert result.errors == []
    assert result.data == {"node": None}


async def test_a_guardian_record_lists_only_its_students_in_scope(
    gql_runner: GraphQLRunner, world: World
) -> None:
    query = "query($id: ID!) { node(id: $id) { ... on Guardian { displayName email students { displayName } } } }"
    seen = {}
    for who in ["admin_a", "admin_b", "da_north", "parent"]:
        result = await gql_runner.run(who, query, id=gid("Guardian", world["g_mother"]))
        assert result.errors == []
        assert result.data is not None
        seen[who] = [s["displayName"] for s in result.data["node"]["students"]]
        assert result.data["node"]["email"] == "mary@home.example.com"
    assert seen == {
        "admin_a": ["Ada Lovelace"],
        "admin_b": ["Byron Lovelace"],
        "da_north": ["Ada Lovelace", "Byron Lovelace"],
        "parent": ["Ada Lovelace", "Byron Lovelace"],
    }


async def test_a_teacher_sees_a_guardian_but_not_their_contact_details(
    gql_runner: GraphQLRunner, world: World
) -> None:
    result = await gql_runner.run(
        "t_maths",
        "query($id: ID!) { node(id: $id) { ... on Guardian { displayName email phone portalStatus } } }",
        id=gid("Guardian", world["g_mother"]),
    )
    assert result.data == {
        "node": {"displayName": "Mary Lovelace", "email": None, "phone": None, "portalStatus": None}
    }
    assert sorted(result.error_codes) == [
        ("FORBIDDEN", ["node", "email"]),
        ("FORBIDDEN", ["node", "phone"]),
        ("FORBIDDEN", ["node", "portalStatus"]),
    ]


@pytest.mark.parametrize(
    ("who", "schools"),
    [
        ("t_maths", ["Northfield"]),
        ("admin_b", ["Southfield"]),
        ("da_north", ["Northfield", "Southfield"]),
        ("da_other", ["Easton"]),
        ("parent", ["Northfield", "Southfield"]),
        ("student_s1", ["Northfield"]),
        ("lonely_parent", []),
        ("deactivated", []),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_schools_in_scope_are_those_on_the_path_to_the_viewers_reach(
    gql_runner: GraphQLRunner, who: str, schools: list[str]
) -> None:
    result = await gql_runner.run(
        who, "{ schools { totalCount edges { node { name district { name } } } } }"
    )
    assert result.errors == []
    assert result.data is not None
    assert [e["node"]["name"] for e in result.data["schools"]["edges"]] == schools
    assert result.data["schools"]["totalCount"] == len(schools)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("admin_a", True),
        ("t_maths", True),
        ("support_a", True),
        ("parent", False),
        ("student_s1", False),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_a_schools_staff_list_is_for_its_staff(
    gql_runner: GraphQLRunner, world: World, who: str, allowed: bool
) -> None:
    result = await gql_runner.run(
        who,
        "query($id: ID!) { node(id: $id) { ... on School { name staffMembers(first: 100) { totalCount } } } }",
        id=gid("School", world["school_a"]),
    )
    if allowed:
        assert result.errors == []
        assert result.data == {"node": {"name": "Northfield", "staffMembers": {"totalCount": 8}}}
    else:
        assert result.data == {"node": {"name": "Northfield", "staffMembers": None}}
        assert result.error_codes == [("FORBIDDEN", ["node", "staffMembers"])]


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_first_outside_one_to_a_hundred_is_refused(
    gql_runner: GraphQLRunner, first: int
) -> None:
    result = await gql_runner.run(
        "admin_a", "query($f: Int!) { students(first: $f) { totalCount } }", f=first
    )
    assert result.data is None
    assert result.error_codes == [("BAD_USER_INPUT", ["students"])]


async def test_keyset_pages_walk_the_whole_scope_once(gql_runner: GraphQLRunner) -> None:
    query = "query($after: String) { students(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { displayName } } } }"
    seen, after = [], None
    while True:
        result = await gql_runner.run("da_north", query, after=after)
        assert result.errors == []
        assert result.data is not None
        page = result.data["students"]
        assert page["totalCount"] == 4
        seen += [e["node"]["displayName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["Charles Babbage", "Ada Lovelace", "Byron Lovelace", "Dora Withdrawn"]


async def test_a_forged_cursor_is_refused(gql_runner: GraphQLRunner) -> None:
    result = await gql_runner.run(
        "admin_a", '{ students(after: "bm90IGEgY3Vyc29y") { totalCount } }'
    )
    assert result.error_codes == [("BAD_USER_INPUT", ["students"])]


@pytest.mark.parametrize(
    ("who", "acting", "can_record"),
    [
        ("t_maths", "Tess Maths", True),
        ("unlinked", None, False),
        ("deactivated", "Del Gone", False),
        ("parent", None, False),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_the_viewer_says_who_writes_are_attributed_to(
    gql_runner: GraphQLRunner, who: str, acting: str | None, can_record: bool
) -> None:
    result = await gql_runner.run(
        who, "{ viewer { isAuthenticated canRecordData actingAs { displayName } } }"
    )
    assert result.errors == []
    assert result.data == {
        "viewer": {
            "isAuthenticated": True,
            "canRecordData": can_record,
            "actingAs": {"displayName": acting} if acting else None,
        }
    }


async def test_viewer_roles_list_the_roles_in_force(gql_runner: GraphQLRunner) -> None:
    result = await gql_runner.run(
        "da_north", "{ viewer { roles { role school { name } district { name } } } }"
    )
    assert result.data == {
        "viewer": {
            "roles": [
                {"role": "DISTRICT_ADMIN", "school": None, "district": {"name": "North District"}}
            ]
        }
    }
