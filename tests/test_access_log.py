"""Who looked: restricted reads of a student by anyone else are logged, one
INSERT per request, and shown in the student's access review."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from tests.client import GraphQLRunner, gid
from tests.world import build_world

LOG = """
query($id: ID!) {
  node(id: $id) {
    ... on Student { accessReview { accessLog(first: 50) { totalCount edges { node { actorName actorKind action } } } } }
  }
}
"""


async def test_a_teachers_read_of_a_student_appears_in_the_students_access_log(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    s1 = gid("Student", world["s1"])
    read = await runner.run(
        "t_maths",
        "query($id: ID!) { node(id: $id) { ... on Student { portalAccess { grants { totalCount } } } } }",
        id=s1,
    )
    assert read.errors == []

    # The student reading their own record is not "someone looking".
    own = await runner.run(
        "student_s1", "query($id: ID!) { node(id: $id) { ... on Student { email } } }", id=s1
    )
    assert own.errors == []

    review = await runner.run("parent", LOG, id=s1)
    assert review.errors == []
    assert review.data is not None
    edges = review.data["node"]["accessReview"]["accessLog"]["edges"]
    assert [e["node"] for e in edges] == [
        {"actorName": "Tess Maths", "actorKind": "STAFF", "action": "STUDENT_PROFILE"}
    ]


async def test_reading_only_unrestricted_fields_is_not_logged(engine: AsyncEngine) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    s1 = gid("Student", world["s1"])
    await runner.run(
        "t_maths",
        "query($id: ID!) { node(id: $id) { ... on Student { displayName school { name } } } }",
        id=s1,
    )
    review = await runner.run("admin_a", LOG, id=s1)
    assert review.data is not None
    # the admin's own read of the access review is the only one logged, and
    # it is written after the response was built
    assert review.data["node"]["accessReview"]["accessLog"] == {"totalCount": 0, "edges": []}
    again = await runner.run("parent", LOG, id=s1)
    assert again.data is not None
    assert [
        e["node"]["actorName"] for e in again.data["node"]["accessReview"]["accessLog"]["edges"]
    ] == ["Anna Head"]


@pytest.mark.parametrize("who", ["admin_b", "t_art"])
async def test_a_denied_or_out_of_scope_read_is_not_logged(engine: AsyncEngine, who: str) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    s1 = gid("Student", world["s1"])
    await runner.run(who, "query($id: ID!) { node(id: $id) { ... on Student { email } } }", id=s1)
    review = await runner.run("parent", LOG, id=s1)
    assert review.data is not None
    assert review.data["node"]["accessReview"]["accessLog"]["totalCount"] == 0


async def test_the_access_log_shows_a_guardians_pairing_and_a_teachers_read(
    engine: AsyncEngine,
) -> None:
    world = await build_world(engine)
    runner = GraphQLRunner(engine, world.sessions)
    s3 = gid("Student", world["s3"])
    enabled = await runner.run(
        "admin_a",
        "mutation($ids: [ID!]!) { enablePortalAccess(input: {studentIds: $ids}) { accessCodes { code } userErrors { code } } }",
        ids=[s3],
    )
    assert enabled.errors == []
    assert enabled.data is not None
    code = enabled.data["enablePortalAccess"]["accessCodes"][0]["code"]
    redeemed = await runner.run(
        "lonely_parent",
        'mutation($code: String!) { redeemAccessCode(input: {code: $code, relationship: "Aunt"}) { grant { source } userErrors { code } } }',
        code=code,
    )
    assert redeemed.data == {
        "redeemAccessCode": {"grant": {"source": "ACCESS_CODE"}, "userErrors": []}
    }
    read = await runner.run(
        "t_art",
        "query($id: ID!) { node(id: $id) { ... on Student { portalAccess { grants { totalCount } } } } }",
        id=s3,
    )
    assert read.errors == []

    review = await runner.run("lonely_parent", LOG, id=s3)
    assert review.errors == []
    assert review.data is not None
    actions = [
        (e["node"]["actorName"], e["node"]["action"])
        for e in review.data["node"]["accessReview"]["accessLog"]["edges"]
    ]
    assert ("Art Teacher", "STUDENT_PROFILE") in actions
    assert ("Lonely Parent", "ACCESS_CODE_REDEEMED") in actions
    assert ("Lonely Parent", "GRANT_CREATED") in actions


async def test_a_read_done_as_staff_is_logged_under_the_staff_records_name(
    engine: AsyncEngine,
) -> None:
    """Not the name the account holder chose for themself: the access log
    says which staff member looked."""
    world = await build_world(engine)
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(tables.Account.__table__)
            .where(tables.Account.__table__.c.id == world["t_maths"])
            .values(display_name="Headmaster Himself")
        )
    runner = GraphQLRunner(engine, world.sessions)
    s1 = gid("Student", world["s1"])
    read = await runner.run(
        "t_maths",
        "query($id: ID!) { node(id: $id) { ... on Student { portalAccess { grants { totalCount } } } } }",
        id=s1,
    )
    assert read.errors == []
    review = await runner.run("parent", LOG, id=s1)
    assert review.data is not None
    edges = review.data["node"]["accessReview"]["accessLog"]["edges"]
    assert [e["node"] for e in edges] == [
        {"actorName": "Tess Maths", "actorKind": "STAFF", "action": "STUDENT_PROFILE"}
    ]
    viewer = await runner.run(
        "t_maths", "{ viewer { account { displayName } actingAs { displayName } } }"
    )
    assert viewer.data == {
        "viewer": {
            "account": {"displayName": "Headmaster Himself"},
            "actingAs": {"displayName": "Tess Maths"},
        }
    }
