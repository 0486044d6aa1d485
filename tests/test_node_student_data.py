"""``node`` and ``nodes`` for student-facing data, on SQLite and PostgreSQL:
Homework, Form, FormAssignment and AccessEvent.

Each is visible by id exactly when the lists show it: the student scope and
the capability of that data (HOMEWORK, FORMS, ACCESS_REVIEW) from the
capability table, a student's own record depending on their school's
student logins and visible sections. Otherwise it does not exist: null, no
error (ADR 0002). The world of tests/world.py gets its rows here
(``node_data``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from resolvers.tables import ENROLMENTS, SCHOOLS
from tests.client import GraphQLRunner, StatementCounter, gid
from tests.clock import NOW
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEFAULT_SECTIONS = "HOMEWORK TIMETABLE"


async def _insert(connection: Any, table: Any, **values: Any) -> int:
    t = table.__table__
    result = await connection.execute(sa.insert(t).values(**values).returning(t.c.id))
    return int(result.scalar_one())


@pytest.fixture(scope="module")
async def node_data(world_engine: tuple[AsyncEngine, World]) -> World:
    engine, w = world_engine
    north = w["north"]
    async with engine.begin() as c:

        async def ins(table: Any, **values: Any) -> int:
            return await _insert(c, table, **values)

        # A section s1 has left: no current student, so its homework is no
        # one's (as in Student.homework).
        w.ids["a_old"] = await ins(
            tables.Section,
            district_id=north,
            school_id=w["school_a"],
            sourced_id="a_old",
            name="A Old",
        )
        await c.execute(
            sa.insert(ENROLMENTS).values(
                section_id=w["a_old"], student_id=w["s1"], district_id=north, active=False
            )
        )
        for key, section, title, staff in [
            ("hw_maths", "a_maths", "Fractions", "t_maths"),  # s1 (s4's enrolment ended)
            ("hw_art", "a_art", "Shading", "t_art"),  # s3
            ("hw_sci", "b_sci", "Cells", "t_sci"),  # s2
            ("hw_old", "a_old", "Old", "t_maths"),
        ]:
            w.ids[key] = await ins(
                tables.Homework,
                district_id=north,
                section_id=w[section],
                title=title,
                due_on=dt.date(2026, 11, 10),
                recorded_by_staff_id=w[staff + "_staff"],
                created_at=NOW,
            )

        for key, student, district, action in [
            ("e_s1", "s1", "north", "STUDENT_PROFILE"),
            ("e_s2", "s2", "north", "GRANT_REVOKED"),
            ("e_s3", "s3", "north", "STUDENT_PROFILE"),
            ("e_s5", "s5", "other", "STUDENT_PROFILE"),
            ("e_none", None, "north", "SESSIONS_TERMINATED"),  # about no student
        ]:
            w.ids[key] = await ins(
                tables.AccessEvent,
                district_id=w[district],
                student_id=w[student] if student else None,
                at=NOW,
                actor_name="Anna Head",
                actor_kind="STAFF",
                action=action,
            )

        for key, school, district, title in [
            ("f_trip", "school_a", "north", "Trip"),
            ("f_quiz", "school_a", "north", "Quiz"),  # for s1 themself only
            ("f_draft", "school_a", "north", "Draft"),  # not assigned to anyone
            ("f_lab", "school_b", "north", "Lab"),
            ("f_easton", "school_c", "other", "Easton"),
        ]:
            w.ids[key] = await ins(
                tables.Form,
                district_id=w[district],
                school_id=w[school],
                title=title,
                created_at=NOW,
            )
        for key, form, student, to_student in [
            ("fa_trip_s1_guardians", "f_trip", "s1", False),
            ("fa_quiz_s1_self", "f_quiz", "s1", True),
            ("fa_trip_s3", "f_trip", "s3", False),
            ("fa_lab_s2", "f_lab", "s2", False),
            ("fa_easton_s5", "f_easton", "s5", False),
        ]:
            w.ids[key] = await ins(
                tables.FormAssignment,
                district_id=w["other"] if student == "s5" else north,
                form_id=w[form],
                student_id=w[student],
                assigned_to_student=to_student,
                assignee_account_id=w["student_s1"] if to_student else None,
                status="ASSIGNED",
                created_at=NOW,
            )
    return w


async def _set_school_a(engine: AsyncEngine, **values: Any) -> None:
    async with engine.begin() as c:
        await c.execute(
            sa.update(SCHOOLS).where(SCHOOLS.c.sourced_id == "school_a").values(**values)
        )


@pytest.fixture
async def school_a(world_engine: tuple[AsyncEngine, World]) -> AsyncIterator[Any]:
    """Change school A's student login settings for one test, then restore them."""
    engine = world_engine[0]

    async def change(**values: Any) -> None:
        await _set_school_a(engine, **values)

    yield change
    await _set_school_a(
        engine, student_logins_enabled=True, student_visible_sections=DEFAULT_SECTIONS
    )


# ---------------------------------------------------------------- what each row looks like

HOMEWORK = {
    "hw_maths": ("Fractions", "A Maths", "Tess Maths"),
    "hw_art": ("Shading", "A Art", "Art Teacher"),
    "hw_sci": ("Cells", "B Sci", "Sam Science"),
    "hw_old": ("Old", "A Old", "Tess Maths"),
}
FORMS = {
    "f_trip": "Trip",
    "f_quiz": "Quiz",
    "f_draft": "Draft",
    "f_lab": "Lab",
    "f_easton": "Easton",
}
ASSIGNMENTS = {
    "fa_trip_s1_guardians": ("Trip", "Ada Lovelace"),
    "fa_quiz_s1_self": ("Quiz", "Ada Lovelace"),
    "fa_trip_s3": ("Trip", "Charles Babbage"),
    "fa_lab_s2": ("Lab", "Byron Lovelace"),
    "fa_easton_s5": ("Easton", "Eve Easton"),
}
EVENTS = {
    "e_s1": "STUDENT_PROFILE",
    "e_s2": "GRANT_REVOKED",
    "e_s3": "STUDENT_PROFILE",
    "e_s5": "STUDENT_PROFILE",
    "e_none": "SESSIONS_TERMINATED",
}
KEYS = [*HOMEWORK, *FORMS, *ASSIGNMENTS, *EVENTS]

NODES = """
query($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    id
    ... on Homework { title dueOn sectionName recordedBy { displayName } }
    ... on Form { title questions { prompt } }
    ... on FormAssignment { status form { title } student { displayName } }
    ... on AccessEvent { at actorName actorKind action }
  }
}
"""


def _type_of(key: str) -> str:
    if key in HOMEWORK:
        return "Homework"
    if key in FORMS:
        return "Form"
    if key in ASSIGNMENTS:
        return "FormAssignment"
    return "AccessEvent"


def _data(w: World, key: str) -> dict[str, Any]:
    """The node as any viewer who may see it sees it."""
    type_name = _type_of(key)
    node: dict[str, Any] = {"__typename": type_name, "id": gid(type_name, w[key])}
    if key in HOMEWORK:
        title, section, by = HOMEWORK[key]
        node |= {
            "title": title,
            "dueOn": "2026-11-10",
            "sectionName": section,
            "recordedBy": {"displayName": by},
        }
    elif key in FORMS:
        node |= {"title": FORMS[key], "questions": []}
    elif key in ASSIGNMENTS:
        form, student = ASSIGNMENTS[key]
        node |= {"status": "ASSIGNED", "form": {"title": form}, "student": {"displayName": student}}
    else:
        node |= {
            "at": NOW.isoformat(),
            "actorName": "Anna Head",
            "actorKind": "STAFF",
            "action": EVENTS[key],
        }
    return node


ADMIN_A = [
    "hw_maths",
    "hw_art",
    "f_trip",
    "f_quiz",
    "f_draft",
    "fa_trip_s1_guardians",
    "fa_quiz_s1_self",
    "fa_trip_s3",
    "e_s1",
    "e_s3",
]
# Everyone with a HOMEWORK relation to school A's students but no other rows.
SCHOOL_A_HOMEWORK = ["hw_maths", "hw_art"]

# With school A's default settings: student logins on, HOMEWORK and TIMETABLE shown.
VISIBLE: dict[str, list[str]] = {
    "admin_a": ADMIN_A,
    "unlinked": ADMIN_A,  # reads within its (manual) SCHOOL_ADMIN role
    "da_north": [*ADMIN_A, "hw_sci", "f_lab", "fa_lab_s2", "e_s2"],
    "admin_b": ["hw_sci", "f_lab", "fa_lab_s2", "e_s2"],
    "admin_c": ["f_easton", "fa_easton_s5", "e_s5"],
    "da_other": ["f_easton", "fa_easton_s5", "e_s5"],
    # HOMEWORK, not FORMS nor ACCESS_REVIEW (docs/architecture.md section 2)
    "enrol_a": SCHOOL_A_HOMEWORK,
    "support_a": SCHOOL_A_HOMEWORK,
    # neither HOMEWORK, FORMS nor ACCESS_REVIEW, although s1 and s3 are in scope
    "security_a": [],
    # a teacher: the homework of their own students only (s1 for t_maths,
    # whose hw_maths it is; s3 for t_art; s2 for t_sci)
    "t_maths": ["hw_maths"],
    "t_art": ["hw_art"],
    "t_sci": ["hw_sci"],
    "deactivated": [],
    # the guardian of s1 and s2: their homework, the forms and assignments
    # meant for guardians, their access logs; never s3's, nor s1's own quiz
    "parent": [
        "hw_maths",
        "hw_sci",
        "f_trip",
        "f_lab",
        "fa_trip_s1_guardians",
        "fa_lab_s2",
        "e_s1",
        "e_s2",
    ],
    "lonely_parent": [],
    # s1 with HOMEWORK shown: their homework only
    "student_s1": ["hw_maths"],
}


async def _visible(runner: GraphQLRunner, w: World, who: str) -> list[str]:
    """The keys ``nodes`` returns for ``who``, checking the data of each."""
    result = await runner.run(who, NODES, ids=[gid(_type_of(k), w[k]) for k in KEYS])
    assert result.errors == []
    assert result.data is not None
    nodes = result.data["nodes"]
    assert len(nodes) == len(KEYS)
    seen = []
    for key, node in zip(KEYS, nodes, strict=True):
        if node is not None:
            assert node == _data(w, key)
            seen.append(key)
    return seen


def _ordered(keys: Iterable[str]) -> list[str]:
    wanted = set(keys)
    return [k for k in KEYS if k in wanted]


@pytest.mark.parametrize("who", list(VISIBLE))
async def test_nodes_of_student_data_are_exactly_what_each_viewer_may_see(
    gql_runner: GraphQLRunner, node_data: World, who: str
) -> None:
    assert await _visible(gql_runner, node_data, who) == _ordered(VISIBLE[who])


@pytest.mark.parametrize(
    ("logins", "sections", "expected"),
    [
        (True, "HOMEWORK TIMETABLE", ["hw_maths"]),
        (True, "TIMETABLE", []),
        # Forms shown: their own assignment and its form, never the guardians'
        (True, "FORMS", ["f_quiz", "fa_quiz_s1_self"]),
        (True, "ACCESS_REVIEW", ["e_s1"]),
        (
            True,
            "HOMEWORK TIMETABLE FORMS ACCESS_REVIEW",
            ["hw_maths", "f_quiz", "fa_quiz_s1_self", "e_s1"],
        ),
        # Logins off: nothing of their own record, whatever is shown.
        (False, "HOMEWORK TIMETABLE FORMS ACCESS_REVIEW", []),
    ],
    ids=["homework", "nothing", "forms", "access-review", "everything", "logins-off"],
)
async def test_a_student_sees_their_own_data_by_id_as_their_school_shows_it(
    gql_runner: GraphQLRunner,
    node_data: World,
    school_a: Any,
    logins: bool,
    sections: str,
    expected: list[str],
) -> None:
    await school_a(student_logins_enabled=logins, student_visible_sections=sections)
    assert await _visible(gql_runner, node_data, "student_s1") == _ordered(expected)


@pytest.mark.parametrize("who", ["parent", "admin_a", "t_maths"])
async def test_what_the_school_shows_its_students_changes_nothing_for_others(
    gql_runner: GraphQLRunner, node_data: World, school_a: Any, who: str
) -> None:
    await school_a(student_logins_enabled=False, student_visible_sections="")
    assert await _visible(gql_runner, node_data, who) == _ordered(VISIBLE[who])


@pytest.mark.parametrize(
    ("who", "key", "visible"),
    [
        ("parent", "hw_maths", True),
        ("parent", "hw_art", False),  # another child's
        ("t_maths", "hw_maths", True),
        ("t_art", "hw_maths", False),  # a teacher without access to s1
        ("admin_a", "f_draft", True),
        ("admin_b", "f_draft", False),
        ("parent", "f_quiz", False),  # assigned to s1 themself, not to guardians
        ("lonely_parent", "f_trip", False),
        ("da_north", "e_s2", True),
        ("enrol_a", "e_s1", False),  # in scope, without ACCESS_REVIEW
        ("da_north", "e_none", False),
        ("da_north", "hw_old", False),  # no current student in its section
    ],
)
async def test_node_answers_the_data_or_null_without_an_error(
    gql_runner: GraphQLRunner, node_data: World, who: str, key: str, visible: bool
) -> None:
    w = node_data
    result = await gql_runner.run(
        who,
        "query($id: ID!) { node(id: $id) { __typename id } }",
        id=gid(_type_of(key), w[key]),
    )
    assert result.errors == []
    type_name = _type_of(key)
    expected = {"__typename": type_name, "id": gid(type_name, w[key])} if visible else None
    assert result.data == {"node": expected}


async def test_unknown_and_relabelled_ids_of_student_data_are_null(
    gql_runner: GraphQLRunner, node_data: World
) -> None:
    w = node_data
    ids = [
        gid("Homework", 999_999),
        gid("Form", 999_999),
        gid("AccessEvent", 999_999),
        # A visible form's id relabelled as a question (not a node) and as a
        # student of another district.
        gid("FormQuestion", w["f_trip"]),
        gid("Student", w["s5"]),
    ]
    result = await gql_runner.run("admin_a", NODES, ids=ids)
    assert result.errors == []
    assert result.data == {"nodes": [None] * len(ids)}


async def test_nodes_of_student_data_cost_the_same_statements_for_one_id_or_many(
    gql_runner: GraphQLRunner, world_engine: tuple[AsyncEngine, World], node_data: World
) -> None:
    w = node_data
    counter = StatementCounter(world_engine[0])
    one_each = ["hw_maths", "f_trip", "fa_trip_s1_guardians", "e_s1"]
    counts = []
    for keys in (one_each, KEYS):
        with counter.counting() as statements:
            result = await gql_runner.run(
                "da_north", NODES, ids=[gid(_type_of(k), w[k]) for k in keys]
            )
        assert result.errors == []
        counts.append(len(statements))
    assert counts[0] == counts[1]
