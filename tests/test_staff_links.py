"""Staff members and users (docs/architecture.md section 2, "Look, don't touch", and the seed's
story): linking an account to a staff record, writes attributed to the
record, and ``createHomework``, the write that shows it.

Refusals run on the module's shared world and must leave it exactly as it
was; successes run on a database of their own.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.commands import grant_role
from gql.http.app import signer_for
from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.db import create_engine
from resolvers.tables import ACCOUNTS
from tests.auth_client import auth_settings, error_code, graphql, rows, serving
from tests.client import GraphQLRunner, gid
from tests.clock import NOW
from tests.snapshots import snapshot
from tests.world import VIEWERS, World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINK = """
mutation($input: LinkAccountToStaffMemberInput!) {
  linkAccountToStaffMember(input: $input) {
    account { displayName staffMember { displayName } }
    emailMismatch
    userErrors { code field }
  }
}
"""
HOMEWORK = """
mutation($input: CreateHomeworkInput!) {
  createHomework(input: $input) {
    homework { title details dueOn sectionName recordedBy { displayName } }
    userErrors { code field }
  }
}
"""
ACTING = "{ viewer { canRecordData actingAs { displayName } students { totalCount } } }"
NOT_ALLOWED = "Your role does not allow this."
NOT_THEIR_SECTION = "Only the section's teachers and its school's administrators record homework."


@pytest.fixture(scope="module")
def engine(world_engine: tuple[AsyncEngine, World]) -> AsyncEngine:
    return world_engine[0]


def _homework_input(world: World, section: str = "a_maths", title: str = "Worksheet") -> Any:
    return {
        "sectionId": gid("Section", world[section]),
        "title": title,
        "details": "Questions 1 to 10",
        "dueOn": "2026-11-10",
    }


# ---------------------------------------------------------------- linkAccountToStaffMember


async def test_only_administrators_of_the_school_may_link_an_account(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    variables = {
        "accountId": gid("Account", world["unlinked"]),
        "staffMemberId": gid("StaffMember", world["t_art_staff"]),
    }
    outcomes = {}
    for who in [None, *VIEWERS]:
        if who not in {"admin_a", "da_north"}:
            result = await gql_runner.run(who, LINK, input=variables)
            outcomes[who] = result.outcome("linkAccountToStaffMember")
    # admin_a and da_north succeed: see the test on a database of its own.
    elsewhere = [("NOT_FOUND", "accountId"), ("NOT_FOUND", "staffMemberId")]
    assert outcomes == {
        None: ("UNAUTHENTICATED", "Sign in to see this."),
        **{w: ("FORBIDDEN", NOT_ALLOWED) for w in VIEWERS if w not in {"admin_a", "da_north"}},
        "unlinked": ("FORBIDDEN", NOT_LINKED_MESSAGE),
        "deactivated": ("FORBIDDEN", NOT_LINKED_MESSAGE),
        "admin_b": elsewhere,
        "admin_c": elsewhere,
        "da_other": elsewhere,
    }
    assert await snapshot(engine) == before


LINK_REFUSALS = [
    (
        "admin_a",
        "admin_a",
        "t_maths_staff",
        ("FORBIDDEN", "You cannot link your own account; ask another administrator."),
    ),
    (
        "admin_a",
        "unlinked",
        "da_north_staff",
        (
            "FORBIDDEN",
            "This staff record also works at Southfield, where you do not manage accounts.",
        ),
    ),
    (
        "admin_a",
        "unlinked",
        "security_a_staff",
        (
            "FORBIDDEN",
            "This staff record holds SECURITY_CONTACT at Northfield. You cannot grant "
            "SECURITY_CONTACT: it allows more than you hold at Northfield.",
        ),
    ),
    # Relinking the district admin's own account would strip their roles.
    (
        "admin_a",
        "da_north",
        "t_art_staff",
        (
            "FORBIDDEN",
            "This staff record also works at Southfield, where you do not manage accounts.",
        ),
    ),
    ("admin_a", "parent", "t_art_staff", [("NOT_A_STAFF_ACCOUNT", "accountId")]),
    ("admin_a", "unlinked", "deactivated_staff", [("STAFF_MEMBER_DEACTIVATED", "staffMemberId")]),
    ("admin_a", "t_sci", "t_art_staff", [("NOT_FOUND", "accountId")]),
    ("admin_a", "unlinked", "t_sci_staff", [("NOT_FOUND", "staffMemberId")]),
]


@pytest.mark.parametrize(("who", "account", "staff", "expected"), LINK_REFUSALS)
async def test_linking_that_would_hand_out_more_than_the_admin_holds_is_refused(
    gql_runner: GraphQLRunner,
    world: World,
    engine: AsyncEngine,
    who: str,
    account: str,
    staff: str,
    expected: Any,
) -> None:
    before = await snapshot(engine)
    result = await gql_runner.run(
        who,
        LINK,
        input={
            "accountId": gid("Account", world[account]),
            "staffMemberId": gid("StaffMember", world[staff]),
        },
    )
    assert result.outcome("linkAccountToStaffMember") == expected
    assert await snapshot(engine) == before


async def test_a_link_is_written_audited_and_flags_an_email_mismatch(
    fresh: tuple[GraphQLRunner, World, AsyncEngine],
) -> None:
    runner, world, engine = fresh
    variables = {
        "accountId": gid("Account", world["unlinked"]),
        "staffMemberId": gid("StaffMember", world["t_art_staff"]),
    }
    result = await runner.run("admin_a", LINK, input=variables)
    assert result.data == {
        "linkAccountToStaffMember": {
            "account": {"displayName": "Una Linked", "staffMember": {"displayName": "Art Teacher"}},
            "emailMismatch": True,
            "userErrors": [],
        }
    }
    (account,) = [a for a in await rows(engine, tables.Account) if a.id == world["unlinked"]]
    assert account.staff_member_id == world["t_art_staff"]
    # The same link again is no change and no second event.
    assert (await runner.run("da_north", LINK, input=variables)).data == result.data
    # An account linked to its own person's record: the emails agree.
    own = await runner.run(
        "da_north",
        LINK,
        input={
            "accountId": gid("Account", world["t_art"]),
            "staffMemberId": gid("StaffMember", world["t_art_staff"]),
        },
    )
    assert own.data is not None
    assert own.data["linkAccountToStaffMember"]["emailMismatch"] is False
    events = [
        (e.district_id, e.student_id, e.actor_account_id, e.action, e.detail)
        for e in await rows(engine, tables.AccessEvent)
    ]
    assert events == [
        (
            world["north"],
            None,
            world["admin_a"],
            "ACCOUNT_LINKED_TO_STAFF",
            f"Account {world['unlinked']} (Una Linked) now records as staff member "
            f"{world['t_art_staff']} (Art Teacher). The emails differ.",
        )
    ]
    # The link is live at once: the account records data now.
    viewer = await runner.run("unlinked", "{ viewer { canRecordData actingAs { displayName } } }")
    assert viewer.data == {
        "viewer": {"canRecordData": True, "actingAs": {"displayName": "Art Teacher"}}
    }


NEW_COLLEAGUE = """
query($id: ID!) {
  node(id: $id) { ... on Account { displayName email kind staffMember { displayName } } }
}
"""
NEW_COLLEAGUE_SEES = {
    "displayName": "Nia New",
    "email": "nia.new@north.example.edu",
    "kind": "STAFF",
    "staffMember": None,
}


async def _account_row(engine: AsyncEngine, email: str, kind: str = "STAFF") -> int:
    async with engine.begin() as c:
        result = await c.execute(
            sa.insert(ACCOUNTS)
            .values(
                kind=kind,
                email=email,
                email_verified_at=NOW,
                display_name="Nia New",
                created_at=NOW,
            )
            .returning(ACCOUNTS.c.id)
        )
        return int(result.scalar_one())


async def test_a_new_colleagues_unlinked_account_is_found_and_linked_by_the_districts_admins(
    fresh: tuple[GraphQLRunner, World, AsyncEngine],
) -> None:
    # A new teacher signs in before the SIS knows her address (no staff
    # record, no role): the district's account administrators find her
    # account, and no one else does.
    runner, world, engine = fresh
    account_id = await _account_row(engine, "Nia.New@North.Example.edu".lower())
    # Not staff accounts, or not at the district's own domain: no one's.
    others = [
        await _account_row(engine, "nia@north.example.edu", kind="GUARDIAN"),
        await _account_row(engine, "nia.new@elsewhere.example.org"),
        await _account_row(engine, "nia.new@north.example.edu.evil.example"),
    ]
    seen = {}
    for who in VIEWERS:
        result = await runner.run(who, NEW_COLLEAGUE, id=gid("Account", account_id))
        assert not result.errors, (who, result.errors)
        seen[who] = result.data["node"] if result.data else None
        for other in others:
            hidden = await runner.run(who, NEW_COLLEAGUE, id=gid("Account", other))
            assert hidden.data == {"node": None}, (who, other)
    assert seen == {
        # "unlinked" holds SCHOOL_ADMIN at Northfield by hand: it reads within it.
        who: NEW_COLLEAGUE_SEES if who in {"admin_a", "admin_b", "da_north", "unlinked"} else None
        for who in VIEWERS
    }
    # The Southfield head links her to her record there.
    linked = await runner.run(
        "admin_b",
        LINK,
        input={
            "accountId": gid("Account", account_id),
            "staffMemberId": gid("StaffMember", world["t_sci_staff"]),
        },
    )
    assert linked.data == {
        "linkAccountToStaffMember": {
            "account": {"displayName": "Nia New", "staffMember": {"displayName": "Sam Science"}},
            "emailMismatch": True,
            "userErrors": [],
        }
    }
    # Linked, she belongs to Southfield: Northfield's head no longer sees her.
    after = await runner.run("admin_a", NEW_COLLEAGUE, id=gid("Account", account_id))
    assert after.data == {"node": None}
    revoked = await _account_row(engine, "gone@north.example.edu")
    async with engine.begin() as c:
        await c.execute(sa.update(ACCOUNTS).where(ACCOUNTS.c.id == revoked).values(revoked_at=NOW))
    gone = await runner.run("da_north", NEW_COLLEAGUE, id=gid("Account", revoked))
    assert gone.data == {"node": None}


# ---------------------------------------------------------------- createHomework


async def test_only_teachers_of_the_section_and_its_admins_may_record_homework(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    outcomes = {}
    recorders = {"t_maths", "admin_a", "da_north"}
    for who in [None, *VIEWERS]:
        if who not in recorders:
            result = await gql_runner.run(who, HOMEWORK, input=_homework_input(world))
            outcomes[who] = result.outcome("createHomework")
    not_found = [("NOT_FOUND", "sectionId")]
    assert outcomes == {
        None: ("UNAUTHENTICATED", "Sign in to see this."),
        "t_art": ("FORBIDDEN", NOT_THEIR_SECTION),
        "t_sci": not_found,
        "admin_b": not_found,
        "admin_c": not_found,
        "da_other": not_found,
        "enrol_a": ("FORBIDDEN", NOT_THEIR_SECTION),
        "support_a": ("FORBIDDEN", NOT_THEIR_SECTION),
        "security_a": ("FORBIDDEN", NOT_ALLOWED),
        "deactivated": ("FORBIDDEN", NOT_LINKED_MESSAGE),
        "unlinked": ("FORBIDDEN", NOT_LINKED_MESSAGE),
        "parent": ("FORBIDDEN", NOT_ALLOWED),
        "lonely_parent": ("FORBIDDEN", NOT_ALLOWED),
        "student_s1": ("FORBIDDEN", NOT_ALLOWED),
    }
    # Bad input from a teacher who may record: user errors, nothing written.
    blank = await gql_runner.run("t_maths", HOMEWORK, input=_homework_input(world, title="  "))
    assert blank.outcome("createHomework") == [("TITLE_REQUIRED", "title")]
    both = _homework_input(world, title="") | {"sectionId": gid("Section", 999_999)}
    assert (await gql_runner.run("t_maths", HOMEWORK, input=both)).outcome("createHomework") == [
        ("NOT_FOUND", "sectionId"),
        ("TITLE_REQUIRED", "title"),
    ]
    wrong_type = _homework_input(world) | {"sectionId": gid("Student", world["s1"])}
    result = await gql_runner.run("t_maths", HOMEWORK, input=wrong_type)
    assert result.outcome("createHomework") == not_found
    too_long = _homework_input(world, title="t" * 256) | {"details": "d" * 10_001}
    result = await gql_runner.run("t_maths", HOMEWORK, input=too_long)
    assert result.data is not None
    assert result.data["createHomework"] == {
        "homework": None,
        "userErrors": [
            {"code": "TITLE_TOO_LONG", "field": ["input", "title"]},
            {"code": "DETAILS_TOO_LONG", "field": ["input", "details"]},
        ],
    }
    longest = _homework_input(world, title="t" * 255) | {"details": "d" * 10_001}
    result = await gql_runner.run("t_maths", HOMEWORK, input=longest)
    assert result.outcome("createHomework") == [("DETAILS_TOO_LONG", "details")]
    assert await snapshot(engine) == before


async def test_homework_is_recorded_as_the_linked_staff_record(
    fresh: tuple[GraphQLRunner, World, AsyncEngine],
) -> None:
    runner, world, engine = fresh
    payloads = {}
    for who in ["t_maths", "admin_a", "da_north"]:
        result = await runner.run(
            who, HOMEWORK, input=_homework_input(world, title=f"  Set by {who} ")
        )
        assert result.data is not None, result.errors
        payloads[who] = result.data["createHomework"]
    assert payloads["t_maths"] == {
        "homework": {
            "title": "Set by t_maths",
            "details": "Questions 1 to 10",
            "dueOn": "2026-11-10",
            "sectionName": "A Maths",
            "recordedBy": {"displayName": "Tess Maths"},
        },
        "userErrors": [],
    }
    assert payloads["admin_a"]["homework"]["recordedBy"] == {"displayName": "Anna Head"}
    assert payloads["da_north"]["homework"]["recordedBy"] == {"displayName": "Dan North"}
    written = [
        (h.section_id, h.district_id, h.title, h.recorded_by_staff_id, h.recorded_by_account_id)
        for h in await rows(engine, tables.Homework)
    ]
    assert written == [
        (
            world["a_maths"],
            world["north"],
            "Set by t_maths",
            world["t_maths_staff"],
            world["t_maths"],
        ),
        (
            world["a_maths"],
            world["north"],
            "Set by admin_a",
            world["admin_a_staff"],
            world["admin_a"],
        ),
        (
            world["a_maths"],
            world["north"],
            "Set by da_north",
            world["da_north_staff"],
            world["da_north"],
        ),
    ]


# ---------------------------------------------------------------- the seed's story


async def test_an_unlinked_account_reads_within_its_roles_but_cannot_write(
    gql_runner: GraphQLRunner, world: World, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    reads = await gql_runner.run("unlinked", ACTING)
    # A school admin of Northfield by hand: sees its three students...
    assert reads.data == {
        "viewer": {"canRecordData": False, "actingAs": None, "students": {"totalCount": 3}}
    }
    # ...and touches nothing.
    write = await gql_runner.run("unlinked", HOMEWORK, input=_homework_input(world))
    assert write.outcome("createHomework") == ("FORBIDDEN", NOT_LINKED_MESSAGE)
    assert write.errors[0]["path"] == ["createHomework"]
    assert await snapshot(engine) == before


async def test_john_linked_to_janes_record_records_homework_as_jane(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """John Doe, an assistant without a staff record of his own, signs up;
    he can look but not touch. An administrator links his account to Jane's
    (here Tess Maths') staff record: from his next request on he records as
    her, and ``viewer.actingAs`` says so."""
    engine = create_engine(database_url)
    try:
        world = await build_world(engine)
        settings = auth_settings(engine)
        john_email = "john.doe@north.example.edu"
        async with serving(settings) as http:
            await http.post(
                "/auth/signup",
                json={
                    "email": john_email,
                    "password": "johns own passphrase",
                    "displayName": "John Doe",
                },
            )
            (mail,) = [
                e for e in await rows(engine, tables.OutboxEmail) if e.to_address == john_email
            ]
            link = re.search(r"http://test/verify\?token=\S+", mail.body)
            assert link is not None
            token = link.group(0).split("token=", 1)[1]
            verified = await http.post(
                "/auth/verify", json={"token": token, "password": "johns own passphrase"}
            )
            assert verified.status_code == 200
            login = await http.post(
                "/auth/login", json={"email": john_email, "password": "johns own passphrase"}
            )
            john = login.json()["accessToken"]
            (john_account,) = [
                a for a in await rows(engine, tables.Account) if a.email == john_email
            ]
            assert (john_account.kind, john_account.staff_member_id) == ("STAFF", None)

            looks = await graphql(
                http, "{ viewer { canRecordData actingAs { displayName } } }", bearer=john
            )
            assert looks.json() == {"data": {"viewer": {"canRecordData": False, "actingAs": None}}}
            before = await snapshot(engine)
            touch = await graphql(http, HOMEWORK, bearer=john, input=_homework_input(world))
            assert touch.json()["errors"][0]["message"] == NOT_LINKED_MESSAGE
            assert error_code(touch) == "FORBIDDEN"
            assert touch.json()["data"] is None
            assert await snapshot(engine) == before

            # An operator gives him a role at Northfield (the CLI is how an
            # account first comes into a school's reach), and Anna, the
            # school's administrator, links him to Jane's record.
            assert (
                await grant_role(settings, john_email, "TEACHER", school="school_a", district=None)
                == 0
            )
            assert capsys.readouterr().out == f"Granted TEACHER to {john_email}.\n"
            anna = signer_for(settings).issue(
                account_id=world["admin_a"],
                session_id=world.sessions["admin_a"],
                now=dt.datetime.now(dt.UTC),
            )
            linked = await graphql(
                http,
                LINK,
                bearer=anna,
                input={
                    "accountId": gid("Account", john_account.id),
                    "staffMemberId": gid("StaffMember", world["t_maths_staff"]),
                },
            )
            assert linked.json() == {
                "data": {
                    "linkAccountToStaffMember": {
                        "account": {
                            "displayName": "John Doe",
                            "staffMember": {"displayName": "Tess Maths"},
                        },
                        "emailMismatch": True,
                        "userErrors": [],
                    }
                }
            }

            # The same token, the next request: John acts as Jane.
            acting = await graphql(
                http, "{ viewer { canRecordData actingAs { displayName } } }", bearer=john
            )
            assert acting.json() == {
                "data": {
                    "viewer": {"canRecordData": True, "actingAs": {"displayName": "Tess Maths"}}
                }
            }
            recorded = await graphql(
                http, HOMEWORK, bearer=john, input=_homework_input(world, title="Fractions")
            )
            assert recorded.json() == {
                "data": {
                    "createHomework": {
                        "homework": {
                            "title": "Fractions",
                            "details": "Questions 1 to 10",
                            "dueOn": "2026-11-10",
                            "sectionName": "A Maths",
                            "recordedBy": {"displayName": "Tess Maths"},
                        },
                        "userErrors": [],
                    }
                }
            }
            (homework,) = await rows(engine, tables.Homework)
            # Attributed to Jane's record; John's account kept for the audit.
            assert (homework.recorded_by_staff_id, homework.recorded_by_account_id) == (
                world["t_maths_staff"],
                john_account.id,
            )
    finally:
        await engine.dispose()
