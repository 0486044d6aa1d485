"""Races, with two real connections: redemption against redemption, reset
against redemption, enable against enable. On PostgreSQL the code (and the
student) rows are locked; on SQLite the database's single writer lock."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resolvers import tables
from resolvers.db import Db
from resolvers.directory.students import students_by_id
from resolvers.events import Actor
from resolvers.portal import access_writes as access_codes
from resolvers.tables import ACCESS_CODES, ACCESS_EVENTS, GRANTS
from resolvers.viewers import load_viewer
from tests.client import gid
from tests.clock import NOW
from tests.portal_support import PortalRunner, add_account, rows
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

REDEEM = """
mutation($code: String!) {
  redeemAccessCode(input: {code: $code}) { grant { id } userErrors { code } }
}
"""
RESET = """
mutation($ids: [ID!]!) {
  resetAccessCodes(input: {studentIds: $ids}) { accessCodes { code } userErrors { code } }
}
"""
ENABLE = """
mutation($ids: [ID!]!) {
  enablePortalAccess(input: {studentIds: $ids}) { accessCodes { code } userErrors { code } }
}
"""
S1_CODE = "ACDE-FGHJ-KMNP"
# Long enough for a blocked statement to show that it is blocked.
SETTLE_SECONDS = 0.3


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    made = await build_world(engine)
    for key in ("gina", "hugo"):
        await add_account(engine, made, key)
    return made


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> PortalRunner:
    return PortalRunner(engine, world)


async def test_two_guardians_redeeming_one_code_at_once_get_one_grant_each(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    first, second = await asyncio.gather(
        runner.run("gina", REDEEM, code=S1_CODE), runner.run("hugo", REDEEM, code=S1_CODE)
    )
    for result in (first, second):
        assert result.data is not None
        assert result.data["redeemAccessCode"]["userErrors"] == []
    made = await rows(
        engine, tables.StudentAccessGrant, GRANTS.c.account_id.in_([world["gina"], world["hugo"]])
    )
    assert sorted((g.account_id, g.student_id, g.access_code_id) for g in made) == sorted(
        [
            (world["gina"], world["s1"], world["code_s1"]),
            (world["hugo"], world["s1"], world["code_s1"]),
        ]
    )


async def test_one_guardian_redeeming_twice_at_once_gets_one_grant(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    first, second = await asyncio.gather(
        runner.run("gina", REDEEM, code=S1_CODE), runner.run("gina", REDEEM, code=S1_CODE)
    )
    assert first.data is not None
    assert second.data is not None
    assert first.data["redeemAccessCode"]["grant"] == second.data["redeemAccessCode"]["grant"]
    assert (
        len(await rows(engine, tables.StudentAccessGrant, GRANTS.c.account_id == world["gina"]))
        == 1
    )


async def test_a_redemption_waiting_on_a_reset_sees_the_dead_code_and_makes_no_grant(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    async with AsyncSession(engine) as session:
        db = Db(session)
        students = [s for s in await students_by_id(db, [world["s1"]]) if s is not None]
        await access_codes.reset_access_codes(db, Actor(name="Race"), students, now=NOW)
        redeem = asyncio.create_task(runner.run("gina", REDEEM, code=S1_CODE))
        await asyncio.sleep(SETTLE_SECONDS)
        assert not redeem.done(), "the redemption must wait for the reset's lock"
        await db.commit()
    result = await redeem
    assert result.data == {
        "redeemAccessCode": {"grant": None, "userErrors": [{"code": "INVALID_CODE"}]}
    }
    assert await rows(engine, tables.StudentAccessGrant, GRANTS.c.account_id == world["gina"]) == []


async def test_a_reset_waiting_on_a_redemption_comes_after_the_grant(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    async with AsyncSession(engine) as session:
        db = Db(session)
        viewer = await load_viewer(db, session_id=world.sessions["gina"], now=NOW)
        assert viewer is not None
        outcome = await access_codes.redeem_access_code(
            db, viewer, typed=S1_CODE, relationship=None, now=NOW
        )
        assert outcome.grant is not None
        reset = asyncio.create_task(runner.run("enrol_a", RESET, ids=[gid("Student", world["s1"])]))
        await asyncio.sleep(SETTLE_SECONDS)
        assert not reset.done(), "the reset must wait for the redemption's lock"
        await db.commit()
    result = await reset
    assert result.data is not None
    assert result.data["resetAccessCodes"]["userErrors"] == []
    assert await assert_no_grant_made_with_a_dead_code(engine) == 1


async def test_resets_racing_redemptions_never_leave_a_grant_made_with_a_dead_code(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    code = S1_CODE
    for round_ in range(4):
        key = f"racer{round_}"
        await add_account(engine, world, key)
        redeemed, reset = await asyncio.gather(
            runner.run(key, REDEEM, code=code),
            runner.run("enrol_a", RESET, ids=[gid("Student", world["s1"])]),
        )
        assert reset.data is not None
        code = reset.data["resetAccessCodes"]["accessCodes"][0]["code"]
        assert redeemed.data is not None
        assert redeemed.data["redeemAccessCode"]["userErrors"] in ([], [{"code": "INVALID_CODE"}])
    await assert_no_grant_made_with_a_dead_code(engine)
    active = await rows(
        engine,
        tables.AccessCode,
        ACCESS_CODES.c.student_id == world["s1"],
        ACCESS_CODES.c.status == "ACTIVE",
    )
    assert len(active) == 1


async def assert_no_grant_made_with_a_dead_code(engine: AsyncEngine) -> int:
    """Every code grant was recorded before its code's reset (event ids
    follow commit order here: each path writes its events under its lock)."""
    events = await rows(
        engine,
        tables.AccessEvent,
        ACCESS_EVENTS.c.action.in_(["GRANT_CREATED", "ACCESS_CODE_RESET"]),
    )
    created = {int(e.detail.split()[1]): e.id for e in events if e.action == "GRANT_CREATED"}
    reset = {int(e.detail.split()[2]): e.id for e in events if e.action == "ACCESS_CODE_RESET"}
    code_grants = await rows(
        engine, tables.StudentAccessGrant, GRANTS.c.access_code_id.is_not(None)
    )
    late = [
        g.id
        for g in code_grants
        if g.access_code_id in reset and created[g.id] > reset[g.access_code_id]
    ]
    assert late == []
    return sum(1 for g in code_grants if g.access_code_id in reset)


async def test_two_enables_at_once_make_one_code(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    ids = [gid("Student", world["s3"])]
    first, second = await asyncio.gather(
        runner.run("enrol_a", ENABLE, ids=ids), runner.run("admin_a", ENABLE, ids=ids)
    )
    assert first.data is not None
    assert second.data is not None
    assert first.data["enablePortalAccess"] == second.data["enablePortalAccess"]
    assert len(await rows(engine, tables.AccessCode, ACCESS_CODES.c.student_id == world["s3"])) == 1
