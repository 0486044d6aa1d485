"""SIS ids (sisId): the SIS's sourcedIds, for admins matching records with
the SIS (docs/architecture.md section 4; Capability.SIS_IDS), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import GraphQLRunner, gid
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

SIS_ID = "query($id: ID!) { node(id: $id) { ... on %s { sisId } } }"

# (type, world key): the record each column of the matrix reads.
RECORDS = [
    ("Student", "s1"),
    ("Guardian", "g_mother"),
    ("StaffMember", "t_maths_staff"),
    ("School", "school_a"),
    ("Section", "a_maths"),
]
HIDDEN = "not visible"
FORBIDDEN = "FORBIDDEN"

# Who sees each record's sisId: admins of its school or district; everyone
# else who can see the record is refused the field; the rest cannot see it.
MATRIX: dict[str | None, list[str]] = {
    "admin_a": ["s1", "g_mother", "t_maths", "school_a", "a_maths"],
    "da_north": ["s1", "g_mother", "t_maths", "school_a", "a_maths"],
    # g_mother is a contact of a school B student too.
    "admin_b": [HIDDEN, "g_mother", HIDDEN, HIDDEN, HIDDEN],
    "da_other": [HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN],
    "t_maths": [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "enrol_a": [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "parent": [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "student_s1": [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    None: [HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN],
}


def outcome(result: Any) -> str:
    node = (result.data or {}).get("node")
    if node is None:
        return HIDDEN
    if node["sisId"] is None:
        codes = {code for code, _ in result.error_codes}
        assert len(codes) == 1, result.errors
        return codes.pop()  # type: ignore[no-any-return]
    assert result.errors == []
    return node["sisId"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("viewer", list(MATRIX))
async def test_sis_ids_are_shown_to_admins_of_the_record_only(
    gql_runner: GraphQLRunner, world: World, viewer: str
) -> None:
    seen = [
        outcome(await gql_runner.run(viewer, SIS_ID % kind, id=gid(kind, world[key])))
        for kind, key in RECORDS
    ]
    assert seen == MATRIX[viewer]


STUDENTS = (
    "query($q: String!) { students(first: 10, search: $q) { edges { node { displayName } } } }"
)
GUARDIANS = """
query($q: String!) { guardians(first: 10, filter: {search: $q}) { edges { node { displayName } } } }
"""


def names(result: Any, field: str) -> list[str]:
    assert result.errors == []
    return [edge["node"]["displayName"] for edge in result.data[field]["edges"]]


@pytest.mark.parametrize(
    ("viewer", "students", "guardians"),
    [
        ("admin_a", ["Ada Lovelace"], ["Mary Lovelace"]),
        ("da_north", ["Ada Lovelace"], ["Mary Lovelace"]),
        # Teachers and enrolment managers see the records, not their SIS ids:
        # a search cannot probe for them either.
        ("t_maths", [], []),
        ("enrol_a", [], []),
    ],
)
async def test_admins_find_a_record_by_its_sis_id_and_nobody_else_can_probe(
    gql_runner: GraphQLRunner, viewer: str, students: list[str], guardians: list[str]
) -> None:
    assert names(await gql_runner.run(viewer, STUDENTS, q="s1"), "students") == students
    assert names(await gql_runner.run(viewer, GUARDIANS, q="g_mother"), "guardians") == guardians
    # An SIS id matches exactly, not as a part of a word.
    assert names(await gql_runner.run(viewer, STUDENTS, q="1"), "students") == []
