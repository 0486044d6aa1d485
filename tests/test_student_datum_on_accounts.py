"""A student's datum copied onto another type keeps the student's rule: a
student login's Account.email is the student's email, so it needs
CONTACT_DETAILS on that student (as Student.email does), is written to the
student's read log, and cannot be matched by a search of someone who may
not read it. Guardian accounts' emails stay PORTAL_VIEW ("paired accounts'
names and emails" in the capability table)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.client import GraphQLRunner, gid
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADA = "ada@students.example.org"  # s1's email, and her login's
FORBIDDEN_EMAIL = "Your role does not allow seeing an account's email."

STUDENT_ACCOUNTS = """query($s: String) {
  accounts(first: 50, filter: {kind: STUDENT, search: $s}) {
    totalCount edges { node { displayName email } } } }"""

GRANTS = """query($id: ID!) { node(id: $id) { ... on Student { portalAccess { grants(first: 20) {
  edges { node { account { kind displayName email } } } } } } } }"""

LOG = """query($id: ID!) { node(id: $id) { ... on Student { accessReview {
  accessLog(first: 50) { edges { node { actorName action } } } } } } }"""


async def _log(runner: GraphQLRunner, world: World) -> list[dict[str, Any]]:
    review = await runner.run("admin_a", LOG, id=gid("Student", world["s1"]))
    assert review.errors == []
    assert review.data is not None
    return [e["node"] for e in review.data["node"]["accessReview"]["accessLog"]["edges"]]


@pytest.mark.parametrize("who", ["security_a", "t_maths"])
async def test_a_student_logins_email_is_forbidden_where_the_students_email_is(
    engine: AsyncEngine, who: str
) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    s1 = gid("Student", world["s1"])
    student = await runner.run(
        who, "query($id: ID!) { node(id: $id) { ... on Student { email } } }", id=s1
    )
    assert student.error_codes == [("FORBIDDEN", ["node", "email"])]

    grants = await runner.run(who, GRANTS, id=s1)
    assert grants.data is not None
    accounts = [
        e["node"]["account"] for e in grants.data["node"]["portalAccess"]["grants"]["edges"]
    ]
    assert sorted(accounts, key=lambda a: a["kind"]) == [
        {"kind": "GUARDIAN", "displayName": "Mary Lovelace", "email": "mary@home.example.com"},
        {"kind": "STUDENT", "displayName": "Ada Lovelace", "email": None},
    ]
    assert [(e["extensions"]["code"], e["message"]) for e in grants.errors] == [
        ("FORBIDDEN", FORBIDDEN_EMAIL)
    ]


async def test_the_security_contacts_bulk_list_of_student_logins_shows_no_email(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    listed = await runner.run("security_a", STUDENT_ACCOUNTS, s=None)
    assert listed.data is not None
    assert listed.data["accounts"]["edges"] == [
        {"node": {"displayName": "Ada Lovelace", "email": None}}
    ]
    assert listed.error_codes == [("FORBIDDEN", ["accounts", "edges", 0, "node", "email"])]
    # Nor can a search find the login by the email it may not read.
    for search in ["ada@students", "students.example.org"]:
        found = await runner.run("security_a", STUDENT_ACCOUNTS, s=search)
        assert found.errors == []
        assert found.data == {"accounts": {"totalCount": 0, "edges": []}}
    by_name = await runner.run("security_a", STUDENT_ACCOUNTS, s="Lovelace")
    assert by_name.data is not None
    assert by_name.data["accounts"]["totalCount"] == 1
    assert await _log(runner, world) == []


async def test_a_student_logins_email_read_with_contact_details_is_logged_as_the_students(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    listed = await runner.run("enrol_a", STUDENT_ACCOUNTS, s="ada@students")
    assert listed.errors == []
    assert listed.data == {
        "accounts": {
            "totalCount": 1,
            "edges": [{"node": {"displayName": "Ada Lovelace", "email": ADA}}],
        }
    }
    assert await _log(runner, world) == [{"actorName": "Enid Manager", "action": "STUDENT_PROFILE"}]
    # The student reading her own login's email is not "someone looking"
    # (the administrator's read of the review above is).
    own = await runner.run("student_s1", "{ viewer { account { email } } }")
    assert own.data == {"viewer": {"account": {"email": ADA}}}
    assert [e["actorName"] for e in await _log(runner, world)] == ["Anna Head", "Enid Manager"]
