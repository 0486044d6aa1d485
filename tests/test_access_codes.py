"""Access codes: enablePortalAccess, resetAccessCodes, redeemAccessCode.

On both backends, on a fresh permission world per test: the exact payloads,
the rows and the audit trail they leave, and for every denial the exact error
and a database unchanged.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.auth.rate_limits import Limit
from resolvers.portal.codes import ALPHABET
from resolvers.tables import ACCESS_CODES, GRANTS, ROLE_GRANTS, SECTION_TEACHERS
from schema.graphql_context import Policy
from tests.client import StatementCounter, gid
from tests.clock import NOW
from tests.portal_support import PortalRunner, actions, add_account, matrix, rows
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENABLE = """
mutation($ids: [ID!]!) {
  enablePortalAccess(input: {studentIds: $ids}) {
    accessCodes { id code status student { displayName } }
    userErrors { code message field }
  }
}
"""
RESET = """
mutation($ids: [ID!]!) {
  resetAccessCodes(input: {studentIds: $ids}) {
    accessCodes { id code status student { displayName } }
    userErrors { code message field }
  }
}
"""
REDEEM = """
mutation($code: String!, $relationship: String) {
  redeemAccessCode(input: {code: $code, relationship: $relationship}) {
    grant { id source relationship student { displayName } account { displayName } }
    userErrors { code message field }
  }
}
"""
INVALID = {
    "code": "INVALID_CODE",
    "message": "This code does not pair with any student. Check it, or ask the school for a new one.",
    "field": ["input", "code"],
}
S1_CODE = "ACDE-FGHJ-KMNP"


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> PortalRunner:
    return PortalRunner(engine, world)


def shown(code: str) -> bool:
    """Twelve symbols of the alphabet, shown in groups of four."""
    groups = code.split("-")
    return [len(g) for g in groups] == [4, 4, 4] and all(ch in ALPHABET for ch in "".join(groups))


# ---------------------------------------------------------------- enable


async def test_enabling_returns_the_existing_code_and_makes_one_for_students_without(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    result = await runner.run(
        "enrol_a", ENABLE, ids=[gid("Student", world["s1"]), gid("Student", world["s3"])]
    )
    assert result.errors == []
    assert result.data is not None
    payload = result.data["enablePortalAccess"]
    assert payload["userErrors"] == []
    existing, made = payload["accessCodes"]
    assert existing == {
        "id": gid("AccessCode", world["code_s1"]),
        "code": S1_CODE,
        "status": "ACTIVE",
        "student": {"displayName": "Ada Lovelace"},
    }
    assert made["status"] == "ACTIVE"
    assert made["student"] == {"displayName": "Charles Babbage"}
    assert shown(made["code"])
    stored = await rows(engine, tables.AccessCode, ACCESS_CODES.c.student_id == world["s3"])
    assert [(r.code, r.status, r.created_by_staff_id, r.created_at) for r in stored] == [
        (made["code"].replace("-", ""), "ACTIVE", world["enrol_a_staff"], NOW)
    ]
    assert await actions(engine) == [
        ("ACCESS_CODE_ISSUED", world["s3"], "Enid Manager", f"access code {stored[0].id}")
    ]

    again = await runner.run(
        "enrol_a", ENABLE, ids=[gid("Student", world["s3"]), gid("Student", world["s1"])]
    )
    assert again.data is not None
    assert [c["code"] for c in again.data["enablePortalAccess"]["accessCodes"]] == [
        made["code"],
        S1_CODE,
    ]
    assert len(await rows(engine, tables.AccessCode)) == 2


async def test_a_student_named_twice_gets_one_code(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    s3 = gid("Student", world["s3"])
    result = await runner.run("admin_a", ENABLE, ids=[s3, s3])
    assert result.data is not None
    assert len(result.data["enablePortalAccess"]["accessCodes"]) == 1
    assert len(await rows(engine, tables.AccessCode, ACCESS_CODES.c.student_id == world["s3"])) == 1


async def test_ids_out_of_scope_malformed_or_of_another_type_are_not_found_and_nothing_changes(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    before = await snapshot(engine)
    result = await runner.run(
        "enrol_a",
        ENABLE,
        ids=[
            gid("Student", world["s3"]),
            gid("Student", world["s2"]),  # school B
            gid("School", world["school_a"]),
            "not-an-id",
            gid("Student", 999999),
        ],
    )
    assert result.errors == []
    assert result.data == {
        "enablePortalAccess": {
            "accessCodes": [],
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": "No student with this id.",
                    "field": ["input", "studentIds", str(i)],
                }
                for i in (1, 2, 3, 4)
            ],
        }
    }
    assert await snapshot(engine) == before


async def test_an_empty_list_is_refused(engine: AsyncEngine, runner: PortalRunner) -> None:
    result = await runner.run("enrol_a", ENABLE, ids=[])
    assert result.data == {
        "enablePortalAccess": {
            "accessCodes": [],
            "userErrors": [
                {
                    "code": "REQUIRED",
                    "message": "Name at least one.",
                    "field": ["input", "studentIds"],
                }
            ],
        }
    }


# ---------------------------------------------------------------- reset


async def test_resetting_replaces_the_code_and_keeps_existing_grants(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    grants_before = await rows(engine, tables.StudentAccessGrant)
    result = await runner.run("enrol_a", RESET, ids=[gid("Student", world["s1"])])
    assert result.errors == []
    assert result.data is not None
    payload = result.data["resetAccessCodes"]
    assert payload["userErrors"] == []
    [new] = payload["accessCodes"]
    assert new["status"] == "ACTIVE"
    assert new["code"] != S1_CODE
    assert shown(new["code"])
    codes = await rows(engine, tables.AccessCode, ACCESS_CODES.c.student_id == world["s1"])
    assert [(c.code, c.status, c.reset_at) for c in codes] == [
        ("ACDEFGHJKMNP", "RESET", NOW),
        (new["code"].replace("-", ""), "ACTIVE", None),
    ]
    assert await rows(engine, tables.StudentAccessGrant) == grants_before
    assert await actions(engine) == [
        ("ACCESS_CODE_RESET", world["s1"], "Enid Manager", f"access code {world['code_s1']}"),
        ("ACCESS_CODE_ISSUED", world["s1"], "Enid Manager", f"access code {codes[1].id}"),
    ]
    # the old code no longer pairs anyone
    await add_account(engine, world, "newcomer")
    redeem = await runner.run("newcomer", REDEEM, code=S1_CODE)
    assert redeem.data == {"redeemAccessCode": {"grant": None, "userErrors": [INVALID]}}


# ---------------------------------------------------------------- redeem


async def test_a_guardian_redeems_a_code_typed_loosely_and_a_second_redemption_returns_the_grant(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    result = await runner.run(
        "lonely_parent", REDEEM, code="  acde fghj-kmnp ", relationship=" Grandmother "
    )
    assert result.errors == []
    assert result.data is not None
    grant = result.data["redeemAccessCode"]["grant"]
    assert result.data["redeemAccessCode"]["userErrors"] == []
    assert {k: v for k, v in grant.items() if k != "id"} == {
        "source": "ACCESS_CODE",
        "relationship": "Grandmother",
        "student": {"displayName": "Ada Lovelace"},
        "account": {"displayName": "Lonely Parent"},
    }
    [stored] = await rows(
        engine, tables.StudentAccessGrant, GRANTS.c.account_id == world["lonely_parent"]
    )
    assert grant["id"] == gid("StudentAccessGrant", stored.id)
    assert (stored.student_id, stored.access_code_id, stored.district_id, stored.granted_at) == (
        world["s1"],
        world["code_s1"],
        world["north"],
        NOW,
    )
    assert await actions(engine) == [
        ("ACCESS_CODE_REDEEMED", world["s1"], "Lonely Parent", f"access code {world['code_s1']}"),
        (
            "GRANT_CREATED",
            world["s1"],
            "Lonely Parent",
            f"grant {stored.id} (ACCESS_CODE) to account {world['lonely_parent']}",
        ),
    ]

    again = await runner.run("lonely_parent", REDEEM, code=S1_CODE)
    assert again.data is not None
    assert again.data["redeemAccessCode"]["grant"]["id"] == grant["id"]
    assert len(await rows(engine, tables.StudentAccessGrant)) == 4  # 3 of the world + 1

    # the code is multi-use: another guardian gets a grant of their own
    await add_account(engine, world, "aunt")
    other = await runner.run("aunt", REDEEM, code=S1_CODE, relationship="Aunt")
    assert other.data is not None
    assert other.data["redeemAccessCode"]["grant"]["account"] == {"displayName": "Aunt"}
    assert len(await rows(engine, tables.StudentAccessGrant)) == 5

    # and the student is now in the redeemer's scope
    seen = await runner.run(
        "lonely_parent", "{ viewer { students { edges { node { displayName } } } } }"
    )
    assert seen.data == {
        "viewer": {"students": {"edges": [{"node": {"displayName": "Ada Lovelace"}}]}}
    }


async def test_unknown_codes_are_invalid_and_write_nothing(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    before = await snapshot(engine)
    # unknown, outside the alphabet, short, empty, too long
    for typed in ["ACDE-FGHJ-KMNQ", "0000-0000-0000", "ACDE", "", "ACDE-FGHJ-KMNP-ACDE"]:
        result = await runner.run("lonely_parent", REDEEM, code=typed)
        assert result.data == {"redeemAccessCode": {"grant": None, "userErrors": [INVALID]}}
    assert await snapshot(engine) == before


async def test_a_restricted_contact_cannot_redeem_and_hears_only_that_the_code_is_invalid(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    # Frank is restricted from s1 (custody): his account must not pair with
    # s1, and the answer must not reveal the restriction.
    await add_account(engine, world, "frank", guardian="g_father", email="frank@home.example.com")
    before = await snapshot(engine)
    result = await runner.run("frank", REDEEM, code=S1_CODE)
    assert result.data == {"redeemAccessCode": {"grant": None, "userErrors": [INVALID]}}
    assert await snapshot(engine) == before


async def test_a_code_of_a_student_who_left_pairs_no_one(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    enabled = await runner.run("admin_a", ENABLE, ids=[gid("Student", world["s4"])])
    assert enabled.data is not None
    code = enabled.data["enablePortalAccess"]["accessCodes"][0]["code"]
    before = await snapshot(engine)
    result = await runner.run("lonely_parent", REDEEM, code=code)
    assert result.data == {"redeemAccessCode": {"grant": None, "userErrors": [INVALID]}}
    assert await snapshot(engine) == before


async def test_redemption_is_rate_limited_per_account_counting_aliases_and_writing_nothing(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    # Ten attempts in one document (aliases), each counted...
    aliased = " ".join(
        f'a{i}: redeemAccessCode(input: {{code: "ACDE-FGHJ-KMN{i}"}}) {{ userErrors {{ code }} }}'
        for i in range(10)
    )
    first = await runner.run("lonely_parent", f"mutation {{ {aliased} }}")
    assert first.data is not None
    assert {v["userErrors"][0]["code"] for v in first.data.values()} == {"INVALID_CODE"}
    # ...so the eleventh, even with the right code, is refused and writes nothing.
    before = await snapshot(engine)
    result = await runner.run("lonely_parent", REDEEM, code=S1_CODE)
    assert result.data == {
        "redeemAccessCode": {
            "grant": None,
            "userErrors": [
                {
                    "code": "RATE_LIMITED",
                    "message": "Too many attempts. Wait a few minutes and try again.",
                    "field": None,
                }
            ],
        }
    }
    assert await snapshot(engine) == before


async def test_redemption_is_limited_per_client_address_across_accounts_by_its_budget(
    engine: AsyncEngine, world: World
) -> None:
    # The address budget is wide by default (200 in 10 minutes, a school's NAT);
    # set to ten here to see it hold across accounts.
    runner = PortalRunner(engine, world, policy=Policy(address_limit=Limit(10, 600)))
    for i in range(10):
        key = f"guesser{i}"
        await add_account(engine, world, key)
        result = await runner.run(key, REDEEM, code="ACDE-FGHJ-KMNQ", client="198.51.100.1")
        assert result.data is not None
        assert result.data["redeemAccessCode"]["userErrors"] == [INVALID]
    await add_account(engine, world, "guesser10")
    same_client = await runner.run("guesser10", REDEEM, code=S1_CODE, client="198.51.100.1")
    assert same_client.data is not None
    assert same_client.data["redeemAccessCode"]["userErrors"][0]["code"] == "RATE_LIMITED"
    other_client = await runner.run("guesser10", REDEEM, code=S1_CODE, client="198.51.100.2")
    assert other_client.data is not None
    assert other_client.data["redeemAccessCode"]["userErrors"] == []


async def test_only_signed_in_guardian_accounts_redeem(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    staff_or_student = ("FORBIDDEN", "Only parent and guardian accounts can redeem access codes.")
    outcomes = await matrix(
        engine,
        runner,
        [None, "admin_a", "unlinked", "student_s1", "lonely_parent"],
        REDEEM,
        code=S1_CODE,
        succeeded=lambda data: data["redeemAccessCode"]["userErrors"] == [],
        not_found={},
        path=["redeemAccessCode"],
    )
    assert outcomes == {
        None: ("UNAUTHENTICATED", "Sign in to see this."),
        "admin_a": staff_or_student,
        "unlinked": staff_or_student,
        "student_s1": staff_or_student,
        "lonely_parent": "ok",
    }


# ---------------------------------------------------------------- permission matrix

ROLE_MESSAGE = "Your role does not allow this."
# Who may enable or reset s1's code: MANAGE_ACCESS_CODES on s1 (docs/architecture.md section 2).
CODE_MATRIX: dict[str | None, tuple[str, str] | str] = {
    None: ("UNAUTHENTICATED", "Sign in to see this."),
    "admin_a": "ok",
    "da_north": "ok",
    "enrol_a": "ok",
    "admin_b": "NOT_FOUND",
    "admin_c": "NOT_FOUND",
    "da_other": "NOT_FOUND",
    "t_maths": ("FORBIDDEN", ROLE_MESSAGE),
    "t_art": ("FORBIDDEN", ROLE_MESSAGE),
    "t_sci": ("FORBIDDEN", ROLE_MESSAGE),
    "support_a": ("FORBIDDEN", ROLE_MESSAGE),
    "security_a": ("FORBIDDEN", ROLE_MESSAGE),
    "parent": ("FORBIDDEN", ROLE_MESSAGE),
    "lonely_parent": ("FORBIDDEN", ROLE_MESSAGE),
    "student_s1": ("FORBIDDEN", ROLE_MESSAGE),
    "deactivated": ("FORBIDDEN", NOT_LINKED_MESSAGE),
    "unlinked": ("FORBIDDEN", NOT_LINKED_MESSAGE),
}


@pytest.mark.parametrize("mutation", ["enablePortalAccess", "resetAccessCodes"])
async def test_code_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner, mutation: str
) -> None:
    """Every viewer of the world in turn, on one database: the exact outcome,
    and for every denial a database unchanged."""
    query = ENABLE if mutation == "enablePortalAccess" else RESET
    not_found = {
        mutation: {
            "accessCodes": [],
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": "No student with this id.",
                    "field": ["input", "studentIds", "0"],
                }
            ],
        }
    }
    outcomes = await matrix(
        engine,
        runner,
        list(CODE_MATRIX),
        query,
        ids=[gid("Student", world["s1"])],
        succeeded=lambda data: (
            data[mutation]["userErrors"] == []
            and [c["student"] for c in data[mutation]["accessCodes"]]
            == [{"displayName": "Ada Lovelace"}]
        ),
        not_found=not_found,
        path=[mutation],
    )
    assert outcomes == CODE_MATRIX


async def test_codes_need_the_capability_on_each_student_not_only_somewhere(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    # enrol_a also teaches b_sci at school B: s2 is then in scope (taught)
    # but enrol_a manages codes only at school A.
    async with engine.begin() as c:
        await c.execute(
            sa.insert(SECTION_TEACHERS).values(
                section_id=world["b_sci"],
                staff_member_id=world["enrol_a_staff"],
                district_id=world["north"],
            )
        )
        await c.execute(
            sa.insert(ROLE_GRANTS).values(
                district_id=world["north"],
                staff_member_id=world["enrol_a_staff"],
                role="TEACHER",
                school_id=world["school_b"],
                source="SIS_SYNC",
                created_at=NOW,
            )
        )
    before = await snapshot(engine)
    result = await runner.run(
        "enrol_a", ENABLE, ids=[gid("Student", world["s3"]), gid("Student", world["s2"])]
    )
    assert result.data is None
    assert [(e["extensions"]["code"], e["message"]) for e in result.errors] == [
        ("FORBIDDEN", "Your role does not allow this for one of these students.")
    ]
    assert await snapshot(engine) == before


async def test_the_login_instructions_link_is_signed_and_short_lived(
    world: World, runner: PortalRunner
) -> None:
    result = await runner.run(
        "enrol_a",
        "query($id: ID!) { node(id: $id) { ... on Student { portalAccess { loginInstructionsUrl } } } }",
        id=gid("Student", world["s1"]),
    )
    assert result.errors == []
    assert result.data is not None
    url = result.data["node"]["portalAccess"]["loginInstructionsUrl"]
    assert url.startswith(
        f"http://127.0.0.1:8000/access-codes/{world['code_s1']}/login-instructions.pdf?expires="
    )
    assert "&signature=" in url


async def test_code_statements_do_not_grow_with_the_number_of_students(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    counter = StatementCounter(engine)

    async def statements(query: str, students: list[str]) -> int:
        with counter.counting() as seen:
            result = await runner.run(
                "admin_a", query, ids=[gid("Student", world[s]) for s in students]
            )
        assert result.errors == []
        return len(seen)

    assert await statements(ENABLE, ["s3"]) == await statements(ENABLE, ["s1", "s4", "s3"])
    assert await statements(RESET, ["s1"]) == await statements(RESET, ["s1", "s3", "s4"])
