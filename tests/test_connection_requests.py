"""Connection requests, the PIN flow: create, activate, lock, expire, delete.

The PIN is returned once and stored only as an argon2id hash; the emailed
link carries a token stored only as its SHA-256. Time is the runner's clock,
moved forward to expire requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.tables import CONNECTION_REQUESTS, GRANTS, OUTBOX
from tests.client import gid
from tests.clock import NOW
from tests.portal_support import PortalRunner, actions, add_account, matrix, rows
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """
mutation($student: ID!, $forSelf: Boolean!, $relationship: String, $name: String, $email: String!) {
  createConnectionRequest(input: {studentId: $student, forStudentSelf: $forSelf,
      relationship: $relationship, individualName: $name, email: $email}) {
    request { id forStudentSelf relationship individualName email status createdAt expiresAt
              activatedAt createdBy { displayName } student { displayName } }
    pin
    userErrors { code message field }
  }
}
"""
ACTIVATE = """
mutation($token: String!, $pin: String!) {
  activateConnection(input: {token: $token, pin: $pin}) {
    grant { id source relationship student { displayName } account { displayName } }
    userErrors { code message field }
  }
}
"""
DELETE = """
mutation($id: ID!) {
  deleteConnectionRequest(input: {requestId: $id}) {
    request { id status }
    userErrors { code message field }
  }
}
"""
STATUS = """
query($id: ID!) { node(id: $id) { ... on ConnectionRequest { status activatedAt } } }
"""


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    made = await build_world(engine)
    await add_account(engine, made, "gina", name="Gina Guardian")
    return made


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> PortalRunner:
    return PortalRunner(engine, world)


async def create(
    runner: PortalRunner,
    world: World,
    *,
    email: str = "gina@home.example.com",
    who: str = "enrol_a",
    student: str = "s1",
) -> dict[str, object]:
    result = await runner.run(
        who,
        CREATE,
        student=gid("Student", world[student]),
        forSelf=False,
        relationship="Aunt",
        name="Gina Guardian",
        email=email,
    )
    assert result.errors == []
    assert result.data is not None
    payload = result.data["createConnectionRequest"]
    assert payload["userErrors"] == []
    return dict(payload)


async def token_sent_to(engine: AsyncEngine, email: str) -> str:
    [mail] = await rows(engine, tables.OutboxEmail, OUTBOX.c.to_address == email)
    found = re.search(r"/activate\?token=([A-Za-z0-9_-]+)", mail.body)
    assert found is not None
    return found.group(1)


async def waiting_request(engine: AsyncEngine, world: World, *, email: str) -> int:
    """A request for s1 written directly (a factory: the PIN does not matter)."""
    async with engine.begin() as c:
        made = await c.execute(
            sa.insert(CONNECTION_REQUESTS)
            .values(
                district_id=world["north"],
                student_id=world["s1"],
                individual_name="Someone",
                email=email,
                pin_hash="$argon2id$not-a-real-hash",
                token_hash=hashlib.sha256(email.encode()).hexdigest(),
                created_at=NOW,
                expires_at=NOW + dt.timedelta(days=30),
            )
            .returning(CONNECTION_REQUESTS.c.id)
        )
        return int(made.scalar_one())


def pin_error(code: str, message: str) -> dict[str, object]:
    return {
        "activateConnection": {
            "grant": None,
            "userErrors": [{"code": code, "message": message, "field": ["input", "pin"]}],
        }
    }


INVALID_TOKEN = {
    "activateConnection": {
        "grant": None,
        "userErrors": [
            {
                "code": "INVALID_TOKEN",
                "message": "This activation link is not valid. Ask the school for a new one.",
                "field": ["input", "token"],
            }
        ],
    }
}


async def test_creating_a_request_returns_the_pin_once_and_emails_a_single_use_link(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world, email=" Gina@Home.Example.com ")
    request = payload["request"]
    assert isinstance(request, dict)
    assert {k: v for k, v in request.items() if k != "id"} == {
        "forStudentSelf": False,
        "relationship": "Aunt",
        "individualName": "Gina Guardian",
        "email": "gina@home.example.com",
        "status": "WAITING_FOR_ACTIVATION",
        "createdAt": NOW.isoformat(),
        "expiresAt": (NOW + dt.timedelta(days=30)).isoformat(),
        "activatedAt": None,
        "createdBy": {"displayName": "Enid Manager"},
        "student": {"displayName": "Ada Lovelace"},
    }
    pin = payload["pin"]
    assert isinstance(pin, str)
    assert re.fullmatch(r"\d{4}", pin)

    [stored] = await rows(engine, tables.ConnectionRequest)
    assert request["id"] == gid("ConnectionRequest", stored.id)
    assert pin not in stored.pin_hash
    assert stored.pin_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(stored.pin_hash, pin)
    token = await token_sent_to(engine, "gina@home.example.com")
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(stored))
    [mail] = await rows(engine, tables.OutboxEmail)
    assert (mail.kind, mail.subject, mail.sent_at, mail.created_at) == (
        "CONNECTION_ACTIVATION",
        "Activate your access to Ada's information - do not delete",
        None,
        NOW,
    )
    assert f"http://127.0.0.1:8000/activate?token={token}\n" in mail.body
    assert pin not in mail.body.replace(token, "")
    assert await actions(engine) == [
        (
            "CONNECTION_REQUEST_CREATED",
            world["s1"],
            "Enid Manager",
            f"connection request {stored.id}",
        )
    ]


async def test_a_request_for_the_student_themself_is_named_after_the_student(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    result = await runner.run(
        "admin_a",
        CREATE,
        student=gid("Student", world["s1"]),
        forSelf=True,
        email="ada@personal.example.com",
    )
    assert result.data is not None
    request = result.data["createConnectionRequest"]["request"]
    assert (request["forStudentSelf"], request["individualName"], request["relationship"]) == (
        True,
        "Ada Lovelace",
        None,
    )


async def test_bad_input_is_refused_with_each_field_at_fault_and_nothing_written(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    before = await snapshot(engine)
    result = await runner.run(
        "enrol_a",
        CREATE,
        student=gid("Student", world["s1"]),
        forSelf=False,
        name="  ",
        email="gina-at-home",
    )
    assert result.data == {
        "createConnectionRequest": {
            "request": None,
            "pin": None,
            "userErrors": [
                {
                    "code": "REQUIRED",
                    "message": "Say how this person is related to the student.",
                    "field": ["input", "relationship"],
                },
                {
                    "code": "REQUIRED",
                    "message": "Give the person's name.",
                    "field": ["input", "individualName"],
                },
                {
                    "code": "INVALID_EMAIL",
                    "message": "This is not an email address.",
                    "field": ["input", "email"],
                },
            ],
        }
    }
    assert await snapshot(engine) == before


@pytest.mark.parametrize(
    "email", ["mum@north.example.edu", "mum@staff.North.Example.EDU"], ids=["domain", "subdomain"]
)
async def test_the_districts_own_domains_are_refused(
    engine: AsyncEngine, world: World, runner: PortalRunner, email: str
) -> None:
    before = await snapshot(engine)
    result = await runner.run(
        "enrol_a", CREATE, student=gid("Student", world["s1"]), forSelf=True, email=email
    )
    assert result.data is not None
    assert result.data["createConnectionRequest"]["userErrors"] == [
        {
            "code": "EMAIL_DOMAIN_NOT_ALLOWED",
            "message": "Use the person's own email address, not one of the district's.",
            "field": ["input", "email"],
        }
    ]
    assert await snapshot(engine) == before


async def test_a_second_waiting_request_is_refused_until_the_first_is_deleted(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    first = await create(runner, world)
    before = await snapshot(engine)
    second = await runner.run(
        "enrol_a",
        CREATE,
        student=gid("Student", world["s1"]),
        forSelf=False,
        relationship="Aunt",
        name="Gina",
        email="GINA@home.example.com",
    )
    assert second.data is not None
    assert second.data["createConnectionRequest"]["userErrors"] == [
        {
            "code": "REQUEST_ALREADY_WAITING",
            "message": "A request for this student and email is waiting for activation. "
            "Delete it first to make a new one.",
            "field": ["input", "email"],
        }
    ]
    assert await snapshot(engine) == before
    # another student, or another email, is fine
    await create(runner, world, student="s3")
    await create(runner, world, email="other@home.example.com")

    request = first["request"]
    assert isinstance(request, dict)
    deleted = await runner.run("enrol_a", DELETE, id=request["id"])
    assert deleted.data == {
        "deleteConnectionRequest": {
            "request": {"id": request["id"], "status": "DELETED"},
            "userErrors": [],
        }
    }
    [stored] = await rows(
        engine, tables.ConnectionRequest, CONNECTION_REQUESTS.c.status == "DELETED"
    )
    assert (stored.status, stored.deleted_at) == ("DELETED", NOW)
    again = await create(runner, world)
    assert again["pin"] is not None
    assert (
        "CONNECTION_REQUEST_DELETED",
        world["s1"],
        "Enid Manager",
        f"connection request {stored.id}",
    ) in (await actions(engine))


async def test_activation_with_the_right_pin_grants_access_once(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    result = await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    assert result.errors == []
    assert result.data is not None
    grant = result.data["activateConnection"]["grant"]
    assert result.data["activateConnection"]["userErrors"] == []
    assert {k: v for k, v in grant.items() if k != "id"} == {
        "source": "CONNECTION_REQUEST",
        "relationship": "Aunt",
        "student": {"displayName": "Ada Lovelace"},
        "account": {"displayName": "Gina Guardian"},
    }
    [stored] = await rows(engine, tables.ConnectionRequest)
    assert (stored.status, stored.activated_at, stored.activated_account_id) == (
        "ACTIVATED",
        NOW,
        world["gina"],
    )
    [made] = await rows(
        engine,
        tables.StudentAccessGrant,
        GRANTS.c.account_id == world["gina"],
    )
    assert (made.connection_request_id, made.source, made.access_code_id) == (
        stored.id,
        "CONNECTION_REQUEST",
        None,
    )
    trail = await actions(engine)
    assert trail[-2:] == [
        (
            "CONNECTION_REQUEST_ACTIVATED",
            world["s1"],
            "Gina Guardian",
            f"connection request {stored.id} by account {world['gina']}",
        ),
        (
            "GRANT_CREATED",
            world["s1"],
            "Gina Guardian",
            f"grant {made.id} (CONNECTION_REQUEST) to account {world['gina']}",
        ),
    ]
    status = await runner.run("enrol_a", STATUS, id=payload["request"]["id"])  # type: ignore[index]
    assert status.data == {"node": {"status": "ACTIVATED", "activatedAt": NOW.isoformat()}}
    # The token is single-use.
    assert (
        await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    ).data == INVALID_TOKEN


async def test_five_wrong_pins_lock_the_request_even_against_the_right_pin(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    pin = str(payload["pin"])
    wrong = f"{(int(pin) + 1) % 10000:04d}"
    token = await token_sent_to(engine, "gina@home.example.com")
    messages = []
    for attempt in range(1, 6):
        result = await runner.run("gina", ACTIVATE, token=token, pin=wrong)
        assert result.data is not None
        [error] = result.data["activateConnection"]["userErrors"]
        assert error["code"] == "PIN_INCORRECT"
        messages.append(error["message"])
        [stored] = await rows(engine, tables.ConnectionRequest)
        assert stored.failed_pin_attempts == attempt
    assert messages == [
        "The PIN is not correct. 4 more tries before this request locks.",
        "The PIN is not correct. 3 more tries before this request locks.",
        "The PIN is not correct. 2 more tries before this request locks.",
        "The PIN is not correct. 1 more try before this request locks.",
        "The PIN is not correct. This request is now locked; ask the school for a new one.",
    ]
    assert stored.locked_at == NOW
    assert (await actions(engine))[-1] == (
        "CONNECTION_REQUEST_LOCKED",
        world["s1"],
        "Gina Guardian",
        f"connection request {stored.id}: 5 wrong PINs",
    )
    before = await snapshot(engine)
    locked = await runner.run("gina", ACTIVATE, token=token, pin=pin)
    assert locked.data == pin_error(
        "REQUEST_LOCKED",
        "Too many wrong PINs were entered; this request is locked. Ask the school for a new one.",
    )
    assert await snapshot(engine) == before


async def test_a_request_expires_thirty_days_after_it_was_made(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    runner.now = NOW + dt.timedelta(days=30)
    before = await snapshot(engine)
    result = await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    assert result.data == {
        "activateConnection": {
            "grant": None,
            "userErrors": [
                {
                    "code": "REQUEST_EXPIRED",
                    "message": "This request has expired. Ask the school for a new one.",
                    "field": ["input", "token"],
                }
            ],
        }
    }
    assert await snapshot(engine) == before
    status = await runner.run("enrol_a", STATUS, id=payload["request"]["id"])  # type: ignore[index]
    assert status.data == {"node": {"status": "REQUEST_EXPIRED", "activatedAt": None}}
    # An expired request does not block a new one for the same email.
    await create(runner, world)


async def test_a_day_before_expiry_the_request_still_activates(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    runner.now = NOW + dt.timedelta(days=29, hours=23)
    result = await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    assert result.data is not None
    assert result.data["activateConnection"]["userErrors"] == []


async def test_unknown_and_deleted_tokens_are_invalid(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    assert (
        await runner.run("gina", ACTIVATE, token="not-a-token", pin="1234")
    ).data == INVALID_TOKEN
    await runner.run("enrol_a", DELETE, id=payload["request"]["id"])  # type: ignore[index]
    before = await snapshot(engine)
    assert (
        await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    ).data == INVALID_TOKEN
    assert await snapshot(engine) == before


async def test_a_restricted_contact_cannot_activate_and_the_pin_is_not_tried(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    await add_account(engine, world, "frank", guardian="g_father", email="frank@home.example.com")
    # The request was made before the restriction arrived (a request to a
    # restricted contact's address is refused: tests/test_custody.py).
    contacts = tables.StudentContact.__table__
    restriction = sa.update(contacts).where(contacts.c.id == world["contact_g_father_s1"])
    async with engine.begin() as c:
        await c.execute(restriction.values(restricted=False))
    payload = await create(runner, world, email="frank@home.example.com")
    token = await token_sent_to(engine, "frank@home.example.com")
    async with engine.begin() as c:
        await c.execute(restriction.values(restricted=True))
    before = await snapshot(engine)
    for pin in (payload["pin"], "0000"):
        assert (await runner.run("frank", ACTIVATE, token=token, pin=pin)).data == INVALID_TOKEN
    assert await snapshot(engine) == before


async def test_pin_entry_is_rate_limited_before_anything_is_counted(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    for _ in range(10):
        result = await runner.run("gina", ACTIVATE, token="guess", pin="0000")
        assert result.data == INVALID_TOKEN
    before = await snapshot(engine)
    limited = await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    assert limited.data == {
        "activateConnection": {
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


async def test_staff_accounts_cannot_activate(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    outcomes = await matrix(
        engine,
        runner,
        [None, "admin_a", "student_s1"],
        ACTIVATE,
        token="whatever",
        pin="1234",
        succeeded=lambda data: False,
        not_found={},
        path=["activateConnection"],
    )
    personal = (
        "FORBIDDEN",
        "Sign in with a personal account to activate a connection; staff and school-managed "
        "student accounts cannot hold one.",
    )
    assert outcomes == {
        None: ("UNAUTHENTICATED", "Sign in to see this."),
        "admin_a": personal,
        "student_s1": personal,
    }


ROLE = ("FORBIDDEN", "Your role does not allow this.")
NOT_LINKED = ("FORBIDDEN", NOT_LINKED_MESSAGE)
REQUEST_MATRIX: dict[str | None, object] = {
    None: ("UNAUTHENTICATED", "Sign in to see this."),
    "admin_a": "ok",
    "enrol_a": "ok",
    "da_north": "ok",
    "admin_b": "NOT_FOUND",
    "admin_c": "NOT_FOUND",
    "da_other": "NOT_FOUND",
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


async def test_create_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    not_found = {
        "createConnectionRequest": {
            "request": None,
            "pin": None,
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": "No student with this id.",
                    "field": ["input", "studentId"],
                }
            ],
        }
    }
    outcomes: dict[str | None, object] = {}
    for who in REQUEST_MATRIX:
        outcomes |= await matrix(
            engine,
            runner,
            [who],
            CREATE,
            student=gid("Student", world["s1"]),
            forSelf=True,
            email=f"{who}@personal.example.com",  # one waiting request per email
            succeeded=lambda data: data["createConnectionRequest"]["pin"] is not None,
            not_found=not_found,
            path=["createConnectionRequest"],
        )
    assert outcomes == REQUEST_MATRIX


async def test_delete_permission_matrix(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    not_found = {
        "deleteConnectionRequest": {
            "request": None,
            "userErrors": [
                {
                    "code": "NOT_FOUND",
                    "message": "No connection request with this id.",
                    "field": ["input", "requestId"],
                }
            ],
        }
    }
    outcomes: dict[str | None, object] = {}
    for who in REQUEST_MATRIX:
        request_id = await waiting_request(engine, world, email=f"{who}@personal.example.com")
        outcomes |= await matrix(
            engine,
            runner,
            [who],
            DELETE,
            id=gid("ConnectionRequest", request_id),
            succeeded=lambda data: (
                data["deleteConnectionRequest"]["request"] is not None
                and data["deleteConnectionRequest"]["request"]["status"] == "DELETED"
            ),
            not_found=not_found,
            path=["deleteConnectionRequest"],
        )
    assert outcomes == REQUEST_MATRIX


async def test_an_activated_request_cannot_be_deleted(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    before = await snapshot(engine)
    result = await runner.run("enrol_a", DELETE, id=payload["request"]["id"])  # type: ignore[index]
    assert result.data == {
        "deleteConnectionRequest": {
            "request": None,
            "userErrors": [
                {
                    "code": "REQUEST_ALREADY_ACTIVATED",
                    "message": "This request was activated; revoke the access it gave instead.",
                    "field": ["input", "requestId"],
                }
            ],
        }
    }
    assert await snapshot(engine) == before


async def test_only_the_account_of_the_requests_verified_email_may_try_pins(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """Whoever else holds the link (forwarded, shoulder-surfed) cannot lock
    the request with wrong PINs: it answers as an unknown link, and nothing
    is counted."""
    payload = await create(runner, world)
    token = await token_sent_to(engine, "gina@home.example.com")
    await add_account(
        engine, world, "gina_unverified", email="GINA@home.example.com", verified=False
    )
    before = await snapshot(engine)
    for number, who in enumerate(("lonely_parent", "parent", "gina_unverified")):
        client = f"198.51.100.{number}"  # under the per-address limit
        for _ in range(5):
            result = await runner.run(who, ACTIVATE, token=token, pin="0000", client=client)
            assert result.data == INVALID_TOKEN, who
        right = await runner.run(who, ACTIVATE, token=token, pin=payload["pin"], client=client)
        assert right.data == INVALID_TOKEN, who
    assert await snapshot(engine) == before
    activated = await runner.run("gina", ACTIVATE, token=token, pin=payload["pin"])
    assert activated.data is not None
    assert activated.data["activateConnection"]["userErrors"] == []


SELF_REVIEW = """
query($id: ID!) { node(id: $id) { ... on Student { displayName accessReview { grants { id } } } } }
"""


async def test_a_students_own_request_gives_the_self_relation_under_the_login_settings(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """Ada (Year 9 at Northfield, logins on, sections HOMEWORK and
    TIMETABLE) activates her own request with a personal account: she sees
    herself as a student does (no access review, which is a guardian's),
    and only while her school lets students sign in."""
    await add_account(engine, world, "ada_personal", email="ada.personal@home.example.com")
    created = await runner.run(
        "enrol_a",
        CREATE,
        student=gid("Student", world["s1"]),
        forSelf=True,
        email="ada.personal@home.example.com",
    )
    assert created.data is not None
    pin = created.data["createConnectionRequest"]["pin"]
    token = await token_sent_to(engine, "ada.personal@home.example.com")
    activated = await runner.run("ada_personal", ACTIVATE, token=token, pin=pin)
    assert activated.data is not None
    assert activated.data["activateConnection"]["userErrors"] == []
    assert activated.data["activateConnection"]["grant"]["relationship"] == "Self"

    s1 = gid("Student", world["s1"])
    seen = await runner.run("ada_personal", SELF_REVIEW, id=s1)
    assert seen.data == {"node": {"displayName": "Ada Lovelace", "accessReview": None}}
    assert [e["extensions"]["code"] for e in seen.errors] == ["FORBIDDEN"]

    # Her year group's logins turned off: she no longer sees herself.
    async with engine.begin() as c:
        year_groups = tables.YearGroup.__table__
        await c.execute(
            sa.update(year_groups)
            .where(year_groups.c.id == world["a_y9"])
            .values(student_logins_enabled=False)
        )
    assert (await runner.run("ada_personal", SELF_REVIEW, id=s1)).data == {"node": None}


async def test_a_students_own_request_is_refused_while_logins_are_off_for_them(
    engine: AsyncEngine, world: World, runner: PortalRunner
) -> None:
    """Charles is in Year 10, where logins are off: a clear user error, the
    PIN untried, nothing written."""
    await add_account(engine, world, "charles", email="charles@home.example.com")
    created = await runner.run(
        "enrol_a",
        CREATE,
        student=gid("Student", world["s3"]),
        forSelf=True,
        email="charles@home.example.com",
    )
    assert created.data is not None
    pin = created.data["createConnectionRequest"]["pin"]
    token = await token_sent_to(engine, "charles@home.example.com")
    before = await snapshot(engine)
    for attempt in (pin, "0000"):
        refused = await runner.run("charles", ACTIVATE, token=token, pin=attempt)
        assert refused.data is not None
        assert refused.data["activateConnection"]["grant"] is None
        assert [
            (e["code"], e["field"]) for e in refused.data["activateConnection"]["userErrors"]
        ] == [("STUDENT_LOGINS_OFF", ["input", "token"])]
    assert await snapshot(engine) == before
