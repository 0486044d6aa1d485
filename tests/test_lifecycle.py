"""Account lifecycle: portal status filters, provisionAccounts, revokeAccounts,
sendWelcomeEmails (docs/architecture.md section 3, "Account lifecycle" and custody restrictions)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.db import Db
from resolvers.tables import (
    ACCOUNT_IDENTITIES,
    ACCOUNTS,
    CONTACTS,
    GRANTS,
    GUARDIANS,
    SESSIONS,
)
from resolvers.viewers import load_viewer
from schema.graphql_context import Policy
from tests.client import StatementCounter, gid
from tests.clock import NOW
from tests.portal_support import PortalRunner, actions, add_account, families_who_left, matrix, rows
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROVISION = """
mutation($ids: [ID!]!, $welcome: Boolean) {
  provisionAccounts(input: {guardianIds: $ids, sendWelcomeEmail: $welcome}) {
    accounts { kind email displayName portalStatus lastLoginAt guardian { displayName }
               grants { edges { node { source relationship student { displayName } } } } }
    userErrors { code message field }
  }
}
"""
REVOKE = """
mutation($ids: [ID!]!, $confirm: Boolean, $dryRun: Boolean) {
  revokeAccounts(input: {accountIds: $ids, confirmLargeBatch: $confirm, dryRun: $dryRun}) {
    revokedAccounts { displayName portalStatus }
    wouldRevoke
    userErrors { code message field }
  }
}
"""
WELCOME = """
mutation($ids: [ID!]!) {
  sendWelcomeEmails(input: {accountIds: $ids}) { sent skipped userErrors { code message field } }
}
"""
GUARDIANS_BY_STATUS = """
query($status: PortalStatus!) {
  guardians(first: 50, filter: {portalStatus: $status}) {
    totalCount edges { node { displayName portalStatus } }
  }
}
"""
ACCOUNTS_BY_STATUS = """
query($status: PortalStatus, $never: Boolean) {
  accounts(first: 50, filter: {portalStatus: $status, neverLoggedIn: $never}) {
    totalCount edges { node { displayName portalStatus revokeReasons } }
  }
}
"""


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> PortalRunner:
    return PortalRunner(engine, world)


async def add_contact(
    engine: AsyncEngine,
    world: World,
    key: str,
    students: dict[str, bool],
    *,
    email: str | None = None,
    restricted: frozenset[str] = frozenset(),
) -> int:
    """A North contact record, recorded against ``students`` (name → portal
    eligible)."""
    async with engine.begin() as c:
        guardian_id = (
            await c.execute(
                sa.insert(GUARDIANS)
                .values(
                    district_id=world["north"],
                    sourced_id=key,
                    given_name=key.title(),
                    family_name="Newton",
                    email=email if email is not None else f"{key}@home.example.com",
                )
                .returning(GUARDIANS.c.id)
            )
        ).scalar_one()
        for student, eligible in students.items():
            await c.execute(
                sa.insert(CONTACTS).values(
                    district_id=world["north"],
                    student_id=world[student],
                    guardian_id=guardian_id,
                    contact_type="Mother",
                    portal_eligible=eligible,
                    restricted=student in restricted,
                )
            )
    world.ids[key] = int(guardian_id)
    return int(guardian_id)


def names(data: dict[str, object], root: str) -> list[str]:
    connection = data[root]
    assert isinstance(connection, dict)
    return [edge["node"]["displayName"] for edge in connection["edges"]]


# ---------------------------------------------------------------- status filters


async def test_guardians_and_accounts_filter_by_portal_status(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_contact(engine, world, "nora", {"s1": True, "s3": True})
    expected_guardians = {
        "READY_TO_PROVISION": ["Nora Newton"],
        "ACTIVE": ["Mary Lovelace"],
        "NONE": ["Frank Lovelace"],  # eligible, but restricted from s1
        "READY_TO_REVOKE": [],
        "REVOKED": [],
    }
    for status, expected in expected_guardians.items():
        result = await runner.run("da_north", GUARDIANS_BY_STATUS, status=status)
        assert result.errors == []
        assert result.data is not None
        assert (status, names(result.data, "guardians")) == (status, expected)

    revoke = await runner.run("da_north", ACCOUNTS_BY_STATUS, status="READY_TO_REVOKE")
    assert revoke.data == {
        "accounts": {
            "totalCount": 1,
            "edges": [
                {
                    "node": {
                        "displayName": "Del Gone",
                        "portalStatus": "READY_TO_REVOKE",
                        "revokeReasons": ["STAFF_DEACTIVATED"],
                    }
                }
            ],
        }
    }
    # Ready for a welcome email: active and never signed in. Mary has.
    never = await runner.run("da_north", ACCOUNTS_BY_STATUS, status="ACTIVE", never=True)
    assert never.data is not None
    assert "Mary Lovelace" not in names(never.data, "accounts")
    assert "Ada Lovelace" in names(never.data, "accounts")


# ---------------------------------------------------------------- provision


async def test_provisioning_creates_a_linked_account_with_grants_to_eligible_current_students(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    # s2 not eligible, s4 withdrawn, s3 restricted: only s1 is granted.
    await add_contact(
        engine,
        world,
        "nora",
        {"s1": True, "s2": False, "s3": True, "s4": True},
        email="Nora@Home.Example.com",
        restricted=frozenset({"s3"}),
    )
    result = await runner.run("da_north", PROVISION, ids=[gid("Guardian", world["nora"])])
    assert result.errors == []
    assert result.data == {
        "provisionAccounts": {
            "accounts": [
                {
                    "kind": "GUARDIAN",
                    "email": "nora@home.example.com",
                    "displayName": "Nora Newton",
                    "portalStatus": "ACTIVE",
                    "lastLoginAt": None,
                    "guardian": {"displayName": "Nora Newton"},
                    "grants": {
                        "edges": [
                            {
                                "node": {
                                    "source": "SIS_SYNC",
                                    "relationship": "Mother",
                                    "student": {"displayName": "Ada Lovelace"},
                                }
                            }
                        ]
                    },
                }
            ],
            "userErrors": [],
        }
    }
    [account] = await rows(engine, tables.Account, ACCOUNTS.c.guardian_id == world["nora"])
    assert (account.password_hash, account.created_at, account.revoked_at) == (None, NOW, None)
    [grant] = await rows(engine, tables.StudentAccessGrant, GRANTS.c.account_id == account.id)
    [mail] = await rows(engine, tables.OutboxEmail)
    assert (mail.to_address, mail.kind, mail.subject) == (
        "nora@home.example.com",
        "WELCOME",
        "Your parent portal account is ready",
    )
    # A set-password link of its own, valid for a week, stored hashed.
    [link] = re.findall(r"http://127\.0\.0\.1:8000/reset-password\?token=\S+", mail.body)
    [token] = await rows(
        engine, tables.PasswordToken, order=tables.PasswordToken.__table__.c.created_at
    )
    assert (token.account_id, token.purpose, token.expires_at, token.used_at) == (
        account.id,
        "PASSWORD",
        NOW + dt.timedelta(days=7),
        None,
    )
    assert token.token_hash not in link
    assert "(it works once, for 7 days)" in mail.body
    assert await actions(engine) == [
        ("ACCOUNT_PROVISIONED", world["s1"], "Dan North", f"account {account.id}"),
        (
            "GRANT_CREATED",
            world["s1"],
            "Dan North",
            f"grant {grant.id} (SIS_SYNC) to account {account.id}",
        ),
    ]
    status = await runner.run("da_north", GUARDIANS_BY_STATUS, status="ACTIVE")
    assert status.data is not None
    assert names(status.data, "guardians") == ["Mary Lovelace", "Nora Newton"]


async def test_provisioning_without_a_welcome_email_writes_none(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_contact(engine, world, "nora", {"s1": True})
    result = await runner.run(
        "admin_a", PROVISION, ids=[gid("Guardian", world["nora"])], welcome=False
    )
    assert result.data is not None
    assert result.data["provisionAccounts"]["userErrors"] == []
    assert await rows(engine, tables.OutboxEmail) == []


async def test_contacts_not_ready_to_provision_are_refused_and_nothing_is_created(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_contact(engine, world, "nora", {"s1": True})
    await add_contact(engine, world, "nemo", {"s1": True}, email="")
    await add_contact(engine, world, "lone", {"s3": True}, email="lonely@home.example.com")
    before = await snapshot(engine)
    result = await runner.run(
        "admin_a",
        PROVISION,
        ids=[
            gid("Guardian", world["nora"]),
            gid("Guardian", world["g_mother"]),  # has an account
            gid("Guardian", world["g_father"]),  # restricted: never provisioned
            gid("Guardian", world["nemo"]),  # no email
            gid("Guardian", world["lone"]),  # another account signs in with the email
            gid("Guardian", world["g_other"]),  # another district
        ],
    )
    not_ready = (
        "Only contacts ready to provision (portal eligible for a current student, not "
        "restricted, no account yet) can be provisioned."
    )
    assert result.data == {
        "provisionAccounts": {
            "accounts": [],
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": "No guardian with this id.",
                    "field": ["input", "guardianIds", "5"],
                },
            ],
        }
    }
    result = await runner.run(
        "admin_a",
        PROVISION,
        ids=[gid("Guardian", world[k]) for k in ("nora", "g_mother", "g_father", "nemo", "lone")],
    )
    assert result.data == {
        "provisionAccounts": {
            "accounts": [],
            "userErrors": [
                {
                    "code": "NOT_ELIGIBLE",
                    "message": not_ready,
                    "field": ["input", "guardianIds", "1"],
                },
                {
                    "code": "NOT_ELIGIBLE",
                    "message": not_ready,
                    "field": ["input", "guardianIds", "2"],
                },
                {
                    "code": "NOT_ELIGIBLE",
                    "message": "This contact has no email address on record.",
                    "field": ["input", "guardianIds", "3"],
                },
                {
                    "code": "EMAIL_IN_USE",
                    "message": "Another account already signs in with this contact's email address.",
                    "field": ["input", "guardianIds", "4"],
                },
            ],
        }
    }
    assert await snapshot(engine) == before


ROLE = ("FORBIDDEN", "Your role does not allow this.")
NOT_LINKED = ("FORBIDDEN", NOT_LINKED_MESSAGE)
# ACCOUNT_LIFECYCLE on a school A family (docs/architecture.md section 2).
LIFECYCLE_MATRIX: dict[str | None, object] = {
    None: ("UNAUTHENTICATED", "Sign in to see this."),
    "admin_a": "ok",
    "da_north": "ok",
    "admin_b": "NOT_FOUND",
    "admin_c": "NOT_FOUND",
    "da_other": "NOT_FOUND",
    "enrol_a": ROLE,
    "t_maths": ROLE,
    "t_art": ROLE,
    "t_sci": ROLE,
    "support_a": ROLE,
    "security_a": ROLE,
    "parent": ROLE,
    "lonely_parent": ROLE,
    "student_s1": ROLE,
    "deactivated": NOT_LINKED,
    "unlinked": NOT_LINKED,
}


def not_found_payload(mutation: str, what: str, field: str, **rest: object) -> dict[str, object]:
    return {
        mutation: {
            **rest,
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": f"No {what} with this id.",
                    "field": ["input", field, "0"],
                }
            ],
        }
    }


async def test_provision_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    outcomes: dict[str | None, object] = {}
    for i, who in enumerate(LIFECYCLE_MATRIX):
        key = f"contact{i}"
        await add_contact(engine, world, key, {"s3": True})
        outcomes |= await matrix(
            engine,
            runner,
            [who],
            PROVISION,
            ids=[gid("Guardian", world[key])],
            succeeded=lambda data: len(data["provisionAccounts"]["accounts"]) == 1,
            not_found=not_found_payload(
                "provisionAccounts", "guardian", "guardianIds", accounts=[]
            ),
            path=["provisionAccounts"],
        )
    assert outcomes == LIFECYCLE_MATRIX


# ---------------------------------------------------------------- revoke


async def test_revoking_an_account_removes_credentials_ends_sessions_and_grants(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    async with engine.begin() as c:
        await c.execute(
            sa.update(ACCOUNTS)
            .where(ACCOUNTS.c.id == world["parent"])
            .values(password_hash="$argon2id$x")
        )
        await c.execute(
            sa.insert(ACCOUNT_IDENTITIES).values(
                account_id=world["parent"],
                issuer="https://accounts.google.com",
                subject="123",
                created_at=NOW,
            )
        )
    result = await runner.run("da_north", REVOKE, ids=[gid("Account", world["parent"])])
    assert result.data == {
        "revokeAccounts": {
            "revokedAccounts": [{"displayName": "Mary Lovelace", "portalStatus": "REVOKED"}],
            "wouldRevoke": 1,
            "userErrors": [],
        }
    }
    [account] = await rows(engine, tables.Account, ACCOUNTS.c.id == world["parent"])
    assert (account.revoked_at, account.password_hash) == (NOW, None)
    assert len(await rows(engine, tables.AccountIdentity)) == 1  # kept, but unusable
    sessions = await rows(engine, tables.Session, SESSIONS.c.account_id == world["parent"])
    assert [(s.revoked_at, s.revoked_reason) for s in sessions] == [(NOW, "Account revoked")]
    grants = await rows(engine, tables.StudentAccessGrant, GRANTS.c.account_id == world["parent"])
    assert [(g.revoked_at, g.revoked_by_staff_id, g.revoke_reason) for g in grants] == [
        (NOW, world["da_north_staff"], "Account revoked")
    ] * 2
    assert await actions(engine) == [
        ("ACCOUNT_REVOKED", None, "Dan North", f"account {world['parent']}"),
        (
            "GRANT_REVOKED",
            world["s1"],
            "Dan North",
            f"grant {world['grant_parent_s1']} of account {world['parent']}: account revoked",
        ),
        (
            "GRANT_REVOKED",
            world["s2"],
            "Dan North",
            f"grant {world['grant_parent_s2']} of account {world['parent']}: account revoked",
        ),
    ]
    # The session check refuses the account from its next request on.
    async with AsyncSession(engine) as session:
        assert await load_viewer(Db(session), session_id=world.sessions["parent"], now=NOW) is None


async def test_a_school_revoking_an_account_that_reaches_another_school_ends_only_its_part(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """ADR 0011: no answer depends on what lies outside the actor's scope.
    Mary holds grants to Ada (school A) and Byron (school B); school A's
    admin ends her access to Ada only, and she keeps signing in for Byron."""
    ids = [gid("Account", world["parent"])]
    before = await snapshot(engine)
    dry = await runner.run("admin_a", REVOKE, ids=ids, dryRun=True)
    assert dry.data == {
        "revokeAccounts": {"revokedAccounts": [], "wouldRevoke": 1, "userErrors": []}
    }
    assert await snapshot(engine) == before

    result = await runner.run("admin_a", REVOKE, ids=ids)
    assert result.errors == []
    assert result.data is not None
    assert result.data["revokeAccounts"]["wouldRevoke"] == 1
    assert result.data["revokeAccounts"]["userErrors"] == []
    assert [a["displayName"] for a in result.data["revokeAccounts"]["revokedAccounts"]] == [
        "Mary Lovelace"
    ]
    [account] = await rows(engine, tables.Account, ACCOUNTS.c.id == world["parent"])
    assert account.revoked_at is None
    sessions = await rows(engine, tables.Session, SESSIONS.c.account_id == world["parent"])
    assert [s.revoked_at for s in sessions] == [None]
    grants = await rows(engine, tables.StudentAccessGrant, GRANTS.c.account_id == world["parent"])
    assert sorted((g.student_id, g.revoked_at, g.revoked_by_staff_id) for g in grants) == sorted(
        [(world["s1"], NOW, world["admin_a_staff"]), (world["s2"], None, None)]
    )
    assert await actions(engine) == [
        (
            "GRANT_REVOKED",
            world["s1"],
            "Anna Head",
            f"grant {world['grant_parent_s1']} of account {world['parent']}: account revoked",
        )
    ]
    # Mary still signs in, for Byron.
    async with AsyncSession(engine) as session:
        assert await load_viewer(Db(session), session_id=world.sessions["parent"], now=NOW)


async def test_an_admin_cannot_revoke_their_own_account(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    result = await runner.run("admin_a", REVOKE, ids=[gid("Account", world["admin_a"])])
    assert result.data is not None
    assert result.data["revokeAccounts"]["userErrors"] == [
        {
            "code": "CANNOT_REVOKE_SELF",
            "message": "You cannot revoke your own account.",
            "field": ["input", "accountIds", "0"],
        }
    ]


async def test_a_dry_run_counts_and_changes_nothing(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    before = await snapshot(engine)
    result = await runner.run(
        "da_north",
        REVOKE,
        ids=[gid("Account", world["parent"]), gid("Account", world["deactivated"])],
        dryRun=True,
    )
    assert result.data == {
        "revokeAccounts": {"revokedAccounts": [], "wouldRevoke": 2, "userErrors": []}
    }
    assert await snapshot(engine) == before


async def test_a_batch_over_the_threshold_needs_confirmation(
    engine: AsyncEngine, world: World
) -> None:
    runner = PortalRunner(engine, world, policy=Policy(large_batch_threshold=1))
    ids = [gid("Account", world["parent"]), gid("Account", world["deactivated"])]
    before = await snapshot(engine)
    refused = await runner.run("da_north", REVOKE, ids=ids)
    assert refused.data == {
        "revokeAccounts": {
            "revokedAccounts": [],
            "wouldRevoke": 2,
            "userErrors": [
                {
                    "code": "LARGE_BATCH_NOT_CONFIRMED",
                    "message": "This would revoke 2 accounts, more than 1 at once. Check why so "
                    "many are ready to revoke, then confirm the large batch.",
                    "field": ["input", "confirmLargeBatch"],
                }
            ],
        }
    }
    assert await snapshot(engine) == before
    confirmed = await runner.run("da_north", REVOKE, ids=ids, confirm=True)
    assert confirmed.data is not None
    assert confirmed.data["revokeAccounts"]["revokedAccounts"] == [
        {"displayName": "Mary Lovelace", "portalStatus": "REVOKED"},
        {"displayName": "Del Gone", "portalStatus": "REVOKED"},
    ]
    # Revoked accounts are not counted again.
    again = await runner.run("da_north", REVOKE, ids=ids)
    assert again.data == {
        "revokeAccounts": {"revokedAccounts": [], "wouldRevoke": 0, "userErrors": []}
    }


async def test_revoke_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    outcomes: dict[str | None, object] = {}
    for i, who in enumerate(LIFECYCLE_MATRIX):
        key = f"family{i}"
        await add_contact(engine, world, key, {"s3": True})
        account = await add_account(engine, world, f"{key}_account", guardian=key)
        async with engine.begin() as c:
            await c.execute(
                sa.insert(GRANTS).values(
                    district_id=world["north"],
                    account_id=account,
                    student_id=world["s3"],
                    source="SIS_SYNC",
                    granted_at=NOW,
                )
            )
        outcomes |= await matrix(
            engine,
            runner,
            [who],
            REVOKE,
            ids=[gid("Account", account)],
            succeeded=lambda data: (
                data["revokeAccounts"]["wouldRevoke"] == 1
                and len(data["revokeAccounts"]["revokedAccounts"]) == 1
            ),
            not_found=not_found_payload(
                "revokeAccounts", "account", "accountIds", revokedAccounts=[], wouldRevoke=0
            ),
            path=["revokeAccounts"],
        )
    assert outcomes == LIFECYCLE_MATRIX


# ---------------------------------------------------------------- welcome


async def test_welcome_emails_go_only_to_active_accounts_that_never_signed_in(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_contact(engine, world, "nora", {"s1": True})
    provisioned = await runner.run(
        "da_north", PROVISION, ids=[gid("Guardian", world["nora"])], welcome=False
    )
    assert provisioned.data is not None
    [nora] = await rows(engine, tables.Account, ACCOUNTS.c.guardian_id == world["nora"])
    result = await runner.run(
        "da_north",
        WELCOME,
        ids=[
            gid("Account", nora.id),
            gid("Account", world["parent"]),  # has signed in
            gid("Account", world["deactivated"]),  # ready to revoke
        ],
    )
    assert result.data == {"sendWelcomeEmails": {"sent": 1, "skipped": 2, "userErrors": []}}
    assert [(m.to_address, m.kind) for m in await rows(engine, tables.OutboxEmail)] == [
        ("nora@home.example.com", "WELCOME")
    ]


async def test_welcome_emails_are_worded_for_their_kind_none_to_staff_and_one_an_hour(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_contact(engine, world, "nora", {"s1": True})
    provisioned = await runner.run(
        "da_north", PROVISION, ids=[gid("Guardian", world["nora"])], welcome=False
    )
    assert provisioned.data is not None
    [nora] = await rows(engine, tables.Account, ACCOUNTS.c.guardian_id == world["nora"])
    ids = [
        gid("Account", nora.id),
        gid("Account", world["student_s1"]),  # Ada's login, never used
        gid("Account", world["t_art"]),  # staff sign in themselves: no welcome email
    ]
    first = await runner.run("da_north", WELCOME, ids=ids)
    assert first.data == {"sendWelcomeEmails": {"sent": 2, "skipped": 1, "userErrors": []}}
    sent = [(m.to_address, m.subject) for m in await rows(engine, tables.OutboxEmail)]
    assert sorted(sent) == [
        ("ada@students.example.org", "Your student account is ready"),
        ("nora@home.example.com", "Your parent portal account is ready"),
    ]

    # Again within the hour: nothing more in anyone's inbox.
    runner.now = NOW + dt.timedelta(minutes=59)
    before = await snapshot(engine)
    again = await runner.run("da_north", WELCOME, ids=ids)
    assert again.data == {"sendWelcomeEmails": {"sent": 0, "skipped": 3, "userErrors": []}}
    assert await snapshot(engine) == before

    runner.now = NOW + dt.timedelta(minutes=61)
    later = await runner.run("da_north", WELCOME, ids=ids)
    assert later.data == {"sendWelcomeEmails": {"sent": 2, "skipped": 1, "userErrors": []}}
    assert len(await rows(engine, tables.OutboxEmail)) == 4


async def test_welcome_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_contact(engine, world, "nora", {"s3": True})
    account = await add_account(engine, world, "nora_account", guardian="nora")
    outcomes = await matrix(
        engine,
        runner,
        list(LIFECYCLE_MATRIX),
        WELCOME,
        ids=[gid("Account", account)],
        # Allowed: sent, or (after an earlier viewer's, within the hour) skipped.
        succeeded=lambda data: (
            data["sendWelcomeEmails"]
            in (
                {"sent": 1, "skipped": 0, "userErrors": []},
                {"sent": 0, "skipped": 1, "userErrors": []},
            )
        ),
        not_found=not_found_payload(
            "sendWelcomeEmails", "account", "accountIds", sent=0, skipped=0
        ),
        path=["sendWelcomeEmails"],
    )
    assert outcomes == LIFECYCLE_MATRIX


# ---------------------------------------------------------------- statements


async def test_bulk_lifecycle_statements_do_not_grow_with_the_batch(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    counter = StatementCounter(engine)
    few = await families_who_left(engine, world, 2, prefix="few")
    many = await families_who_left(engine, world, 20, prefix="many")
    for i in range(6):
        await add_contact(engine, world, f"new{i}", {"s1": True, "s3": True})

    async def statements(query: str, **variables: object) -> int:
        with counter.counting() as seen:
            result = await runner.run("admin_a", query, **variables)
        assert result.errors == []
        return len(seen)

    welcome_few = await statements(WELCOME, ids=[gid("Account", a) for a in few])
    welcome_many = await statements(WELCOME, ids=[gid("Account", a) for a in many])
    assert welcome_few == welcome_many
    revoke_few = await statements(REVOKE, ids=[gid("Account", a) for a in few])
    revoke_many = await statements(REVOKE, ids=[gid("Account", a) for a in many])
    assert revoke_few == revoke_many
    provision_one = await statements(PROVISION, ids=[gid("Guardian", world["new0"])])
    provision_five = await statements(
        PROVISION, ids=[gid("Guardian", world[f"new{i}"]) for i in range(1, 6)]
    )
    assert provision_one == provision_five
