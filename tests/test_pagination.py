"""Relay pagination both ways: ``first``/``after`` and ``last``/``before``.

Every list pages forward and backward over the same keyset: a backward page
reverses the ORDER BY, reads ``last + 1`` rows and flips them back, so it
costs what a forward page costs (one statement per level, whatever the
rows). Walked either way, a list yields the same items in the same order.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from resolvers.db import create_engine
from resolvers.pagination import Cursors
from schema.graphql_context import Policy
from tests.client import GraphQLRunner, StatementCounter, gid
from tests.databases import Backend

pytestmark = pytest.mark.asyncio(loop_scope="session")
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
STUDENTS = 7


@pytest.fixture(scope="module")
async def listed(
    backend: Backend,
) -> AsyncIterator[tuple[AsyncEngine, GraphQLRunner, dict[str, int]]]:
    """A school admin, one section of seven students, two students sharing
    a family name (the order's tie-break), and an access log of seven events
    on one student, three of them at the same instant (ordered by id)."""
    url = await backend.fresh()
    engine = create_engine(url)
    ids: dict[str, int] = {}
    async with engine.begin() as c:

        async def ins(table: type, **values: object) -> int:
            t = table.__table__  # type: ignore[attr-defined]
            return int(
                (await c.execute(sa.insert(t).values(**values).returning(t.c.id))).scalar_one()
            )

        district = await ins(tables.District, sourced_id="d", name="D")
        school = await ins(tables.School, district_id=district, sourced_id="s", name="S")
        admin = await ins(
            tables.StaffMember,
            district_id=district,
            sourced_id="a",
            given_name="A",
            family_name="Admin",
            email="a@d.example",
        )
        await c.execute(
            sa.insert(tables.StaffSchool.__table__).values(
                staff_member_id=admin, school_id=school, district_id=district
            )
        )
        await ins(
            tables.RoleGrant,
            district_id=district,
            staff_member_id=admin,
            role="SCHOOL_ADMIN",
            school_id=school,
            source="SIS_SYNC",
            created_at=NOW,
        )
        section = await ins(
            tables.Section, district_id=district, school_id=school, sourced_id="sec", name="Sec"
        )
        family = ["Stone", "Stone", "Abel", "Moss", "Zeta", "Kane", "Fry"]
        students = []
        for i, family_name in enumerate(family):
            student = await ins(
                tables.Student,
                district_id=district,
                school_id=school,
                sourced_id=f"st{i}",
                given_name="Same",
                family_name=family_name,
            )
            students.append(student)
            await c.execute(
                sa.insert(tables.SectionEnrolment.__table__).values(
                    section_id=section, student_id=student, district_id=district
                )
            )
        for i in range(STUDENTS):
            at = NOW - dt.timedelta(hours=1 if i < 3 else i)
            await ins(
                tables.AccessEvent,
                district_id=district,
                student_id=students[0],
                at=at,
                actor_name=f"Actor {i}",
                action="STUDENT_PROFILE",
            )
        account = await ins(
            tables.Account,
            kind="STAFF",
            email="admin@d.example",
            display_name="admin",
            created_at=NOW,
            staff_member_id=admin,
        )
        await c.execute(
            sa.insert(tables.Session.__table__).values(
                id="s-admin",
                account_id=account,
                family_id="f-admin",
                created_at=NOW,
                expires_at=NOW + dt.timedelta(days=3650),
            )
        )
        ids.update(section=section, student=students[0], school=school)
    yield engine, GraphQLRunner(engine, {"admin": "s-admin"}, audit_reads=False), ids
    await engine.dispose()
    await backend.drop(url)


PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }"
ARGS = "$first: Int, $after: String, $last: Int, $before: String"
PAGING = "first: $first, after: $after, last: $last, before: $before"

# Each list: the query, where its connection sits in the answer, and the
# node id variable it needs (None: a root list).
LISTS: dict[str, tuple[str, list[str], str | None]] = {
    "Query.students": (f"query({ARGS}) {{ students({PAGING}) {{ {PAGE} }} }}", ["students"], None),
    "School.students": (
        f"query($id: ID!, {ARGS}) {{ node(id: $id) {{ ... on School {{ students({PAGING}) {{ {PAGE} }} }} }} }}",
        ["node", "students"],
        "school",
    ),
    "Section.students (one statement for every section)": (
        f"query($id: ID!, {ARGS}) {{ node(id: $id) {{ ... on Section {{ students({PAGING}) {{ {PAGE} }} }} }} }}",
        ["node", "students"],
        "section",
    ),
    "Student.accessReview.accessLog (newest first)": (
        f"query($id: ID!, {ARGS}) {{ node(id: $id) {{ ... on Student {{ accessReview {{ accessLog({PAGING}) {{ {PAGE} }} }} }} }} }}",
        ["node", "accessReview", "accessLog"],
        "student",
    ),
}
NODE_TYPES = {"school": "School", "section": "Section", "student": "Student"}


def _at(data: Any, path: list[str]) -> Any:
    for key in path:
        data = data[key]
    return data


async def _page(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]], name: str, **paging: Any
) -> dict[str, Any]:
    _, runner, ids = listed
    query, path, node = LISTS[name]
    variables = dict(paging)
    if node is not None:
        variables["id"] = gid(NODE_TYPES[node], ids[node])
    result = await runner.run("admin", query, **variables)
    assert result.errors == []
    page: dict[str, Any] = _at(result.data, path)
    return page


def _ids(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


@pytest.mark.parametrize("name", list(LISTS))
async def test_walking_backward_gives_the_list_walking_forward_gives(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]], name: str
) -> None:
    whole = await _page(listed, name, first=100)
    assert len(whole["edges"]) == STUDENTS
    assert whole["totalCount"] == STUDENTS

    forward: list[str] = []
    after = None
    while True:
        page = await _page(listed, name, first=2, after=after)
        forward += _ids(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    backward: list[str] = []
    before = None
    while True:
        page = await _page(listed, name, last=2, before=before)
        assert page["totalCount"] == STUDENTS
        backward = _ids(page) + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert forward == backward == _ids(whole)


@pytest.mark.parametrize("name", list(LISTS))
async def test_paging_back_and_forth_returns_the_same_pages(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]], name: str
) -> None:
    ids = _ids(await _page(listed, name, first=100))
    first = await _page(listed, name, first=3)
    second = await _page(listed, name, first=3, after=first["pageInfo"]["endCursor"])
    assert _ids(first) == ids[:3]
    assert _ids(second) == ids[3:6]
    assert second["pageInfo"]["hasNextPage"] is True
    assert second["pageInfo"]["hasPreviousPage"] is True

    back = await _page(listed, name, last=3, before=second["pageInfo"]["startCursor"])
    assert back["edges"] == first["edges"]  # same nodes, same cursors
    assert back["pageInfo"] == {
        "hasNextPage": True,  # the page it came back from
        "hasPreviousPage": False,  # nothing before the first item
        "startCursor": first["pageInfo"]["startCursor"],
        "endCursor": first["pageInfo"]["endCursor"],
    }
    end = await _page(listed, name, last=2)
    assert _ids(end) == ids[-2:]
    assert end["pageInfo"]["hasNextPage"] is False
    assert end["pageInfo"]["hasPreviousPage"] is True

    # Both bounds: the items strictly between two cursors, from either end.
    between = {"after": first["edges"][0]["cursor"], "before": second["edges"][1]["cursor"]}
    assert _ids(await _page(listed, name, first=10, **between)) == ids[1:4]
    assert _ids(await _page(listed, name, last=10, **between)) == ids[1:4]
    assert _ids(await _page(listed, name, last=2, **between)) == ids[2:4]


@pytest.mark.parametrize(
    ("arguments", "argument", "message"),
    [
        ("first: 2, last: 2", "last", "Send first or last, not both."),
        ("last: 0", "last", "last must be between 1 and 100."),
        ("last: 101", "last", "last must be between 1 and 100."),
        (
            'last: 2, before: "bm90IGEgY3Vyc29y"',
            "before",
            "before is not a cursor this list gave out.",
        ),
    ],
)
async def test_bad_backward_arguments_are_user_errors(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]],
    arguments: str,
    argument: str,
    message: str,
) -> None:
    _, runner, _ = listed
    result = await runner.run("admin", f"{{ students({arguments}) {{ totalCount }} }}")
    assert result.data is None
    assert result.error_codes == [("BAD_USER_INPUT", ["students"])]
    assert result.errors[0]["message"] == message
    assert result.errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}


@pytest.mark.parametrize("name", list(LISTS))
async def test_a_backward_page_runs_the_statements_a_forward_page_runs(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]], name: str
) -> None:
    engine = listed[0]
    middle = await _page(listed, name, first=3)
    cursor = middle["pageInfo"]["endCursor"]
    counter = StatementCounter(engine)
    counts = {}
    for label, paging in [
        ("first", {"first": 2}),
        ("after", {"first": 2, "after": cursor}),
        ("last", {"last": 2}),
        ("before", {"last": 2, "before": cursor}),
        ("last 5", {"last": 5}),
    ]:
        with counter.counting() as statements:
            await _page(listed, name, **paging)
        counts[label] = len(statements)
    assert len(set(counts.values())) == 1, counts


# ---------------------------------------------------------------- cursors bound to their list


async def test_a_cursor_works_only_on_the_list_that_gave_it_out(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]],
) -> None:
    root = await _page(listed, "Query.students", first=2)
    in_school = await _page(listed, "School.students", first=2)
    # Same students, same order, different lists: different cursors.
    assert _ids(root) == _ids(in_school)
    assert root["pageInfo"]["endCursor"] != in_school["pageInfo"]["endCursor"]
    _, runner, ids = listed
    query, _, _ = LISTS["School.students"]
    for argument, paging in [
        ("after", {"first": 2, "after": root["pageInfo"]["endCursor"]}),
        ("before", {"last": 2, "before": root["pageInfo"]["endCursor"]}),
    ]:
        result = await runner.run("admin", query, id=gid("School", ids["school"]), **paging)
        assert result.data == {"node": None}  # students is non-null
        assert result.error_codes == [("BAD_USER_INPUT", ["node", "students"])]
        assert result.errors[0]["message"] == f"{argument} is not a cursor this list gave out."


def _tampered(cursor: str) -> list[str]:
    """Every one-character change of a cursor, and some worse ones."""
    alphabet = "AZaz09-_.=+/ é"
    changed = {cursor[:i] + c + cursor[i + 1 :] for i in range(len(cursor)) for c in alphabet} | {
        cursor[:i] for i in range(len(cursor))
    }
    body, mac = cursor.split(".")
    changed |= {
        body,
        f"{body}.{body}",
        f"{mac}.{body}",
        f"{body}..{mac}",
        "x" * 5000,
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode() + "." + mac,
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=") + "." + mac,
    }
    changed.discard(cursor)
    return sorted(changed)


async def test_a_tampered_cursor_is_bad_user_input_never_an_internal_error(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]],
) -> None:
    _, runner, _ = listed
    cursor = (await _page(listed, "Query.students", first=2))["pageInfo"]["endCursor"]
    query = "query($after: String) { students(first: 1, after: $after) { totalCount } }"
    accepted = await runner.run("admin", query, after=cursor)
    assert accepted.errors == []
    outcomes = set()
    for forged in _tampered(cursor):
        # The runner raises any unexpected exception: a 500 would fail here.
        result = await runner.run("admin", query, after=forged)
        outcomes.add(repr((result.data, result.error_codes)))
    assert outcomes == {repr((None, [("BAD_USER_INPUT", ["students"])]))}


async def test_a_cursor_signed_with_another_secret_is_refused(
    listed: tuple[AsyncEngine, GraphQLRunner, dict[str, int]],
) -> None:
    _, runner, _ = listed
    cursor = (await _page(listed, "Query.students", first=2))["pageInfo"]["endCursor"]
    values = orjson.loads(base64.urlsafe_b64decode(cursor.split(".")[0] + "=="))
    tag = "Query.students:family_name,given_name,id"
    query = "query($after: String) { students(first: 1, after: $after) { edges { node { id } } } }"
    # The same values and tag signed with this server's key are accepted ...
    ours = Cursors(key=Policy().cursor_key, tag=tag).encode(values)
    assert (await runner.run("admin", query, after=ours)).errors == []
    # ... and with another key refused, as is a cursor of the old, unsigned form.
    for forged in [
        Cursors(key=b"another server's key", tag=tag).encode(values),
        base64.urlsafe_b64encode(orjson.dumps(values)).decode(),
    ]:
        result = await runner.run("admin", query, after=forged)
        assert result.error_codes == [("BAD_USER_INPUT", ["students"])]
