"""``updateStudentLoginSettings`` and the student accounts it implies, on
SQLite and PostgreSQL, each test in a fresh copy of the world (tests/world.py).

The world starts with logins on at Northfield (school A) for Year 9: s1 has
a STUDENT account (student_s1) with a live STUDENT_LOGIN grant; s4 is a
withdrawn Year 9 student; s3 is in Year 10 without an email.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.http.app import create_app, signer_for
from gql.settings import Settings
from permissions.errors import NOT_LINKED_MESSAGE
from resolvers.db import Db
from resolvers.student_data import student_logins_writes as logins
from resolvers.tables import (
    ACADEMIC_SESSIONS,
    ACCESS_EVENTS,
    ACCOUNTS,
    GRANTS,
    HOMEWORK,
    SCHOOLS,
    SESSIONS,
    STUDENTS,
)
from tests.client import GraphQLRunner, Result, StatementCounter, gid
from tests.clock import NOW
from tests.lifespan import started
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")


UPDATE = """
mutation Update($input: UpdateStudentLoginSettingsInput!) {
  updateStudentLoginSettings(input: $input) {
    settings {
      enabled
      enabledYearGroups { name }
      visibleSections
      pricePerStudentPerTerm
      currency
    }
    studentsWithoutEmail { displayName }
    studentLoginsCreated
    studentLoginsEnded
    userErrors { code message field }
  }
}
"""


def _input(
    w: World,
    *,
    enabled: bool = True,
    year_groups: tuple[str, ...] = (),
    sections: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "schoolId": gid("School", w["school_a"]),
        "enabled": enabled,
        "enabledYearGroupIds": [gid("YearGroup", w[y]) for y in year_groups],
        "visibleSections": list(sections),
    }


def _payload(
    *,
    enabled: bool = True,
    year_groups: list[str],
    sections: list[str],
    created: int = 0,
    ended: int = 0,
    without_email: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "updateStudentLoginSettings": {
            "settings": {
                "enabled": enabled,
                "enabledYearGroups": [{"name": n} for n in year_groups],
                "visibleSections": sections,
                "pricePerStudentPerTerm": 50,
                "currency": "GBP",
            },
            "studentsWithoutEmail": [{"displayName": n} for n in without_email or []],
            "studentLoginsCreated": created,
            "studentLoginsEnded": ended,
            "userErrors": [],
        }
    }


def _refused(*errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "updateStudentLoginSettings": {
            "settings": None,
            "studentsWithoutEmail": [],
            "studentLoginsCreated": 0,
            "studentLoginsEnded": 0,
            "userErrors": list(errors),
        }
    }


async def _rows(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as c:
        return [tuple(r) for r in (await c.execute(query)).all()]


async def _write(engine: AsyncEngine, statement: Any) -> None:
    async with engine.begin() as c:
        await c.execute(statement)


async def _add_student(
    engine: AsyncEngine, w: World, key: str, year_group: str, email: str | None
) -> None:
    async with engine.begin() as c:
        result = await c.execute(
            sa.insert(STUDENTS)
            .values(
                district_id=w["north"],
                school_id=w["school_a"],
                year_group_id=w[year_group],
                sourced_id=key,
                given_name=key.capitalize(),
                family_name="Pupil",
                email=email,
            )
            .returning(STUDENTS.c.id)
        )
        w.ids[key] = int(result.scalar_one())


async def _give_email(engine: AsyncEngine, w: World, student: str, email: str | None) -> None:
    await _write(engine, sa.update(STUDENTS).where(STUDENTS.c.id == w[student]).values(email=email))


def _logins_of(w: World, student: str) -> sa.Select[Any]:
    """(account id, kind, email, display name, granted at, revoked at, reason)"""
    return (
        sa.select(
            ACCOUNTS.c.id,
            ACCOUNTS.c.kind,
            ACCOUNTS.c.email,
            ACCOUNTS.c.display_name,
            GRANTS.c.granted_at,
            GRANTS.c.revoked_at,
            GRANTS.c.revoke_reason,
        )
        .join(GRANTS, GRANTS.c.account_id == ACCOUNTS.c.id)
        .where(GRANTS.c.student_id == w[student], GRANTS.c.source == "STUDENT_LOGIN")
        .order_by(GRANTS.c.id)
    )


def _events(*actions: str) -> sa.Select[Any]:
    return (
        sa.select(
            ACCESS_EVENTS.c.action,
            ACCESS_EVENTS.c.student_id,
            ACCESS_EVENTS.c.actor_name,
            ACCESS_EVENTS.c.detail,
        )
        .where(ACCESS_EVENTS.c.action.in_(actions))
        .order_by(ACCESS_EVENTS.c.id)
    )


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> GraphQLRunner:
    return GraphQLRunner(engine, world.sessions)


# ---------------------------------------------------------------- what a change does


@pytest.mark.parametrize(("who", "actor"), [("admin_a", "Anna Head"), ("da_north", "Dan North")])
async def test_enabling_a_year_group_gives_its_students_with_an_email_a_login_and_reports_the_rest(
    engine: AsyncEngine, world: World, runner: GraphQLRunner, who: str, actor: str
) -> None:
    w = world
    await _give_email(engine, w, "s3", "charles@students.example.org")
    await _add_student(engine, w, "fay", "a_y10", None)

    result = await runner.run(
        who,
        UPDATE,
        input=_input(w, year_groups=("a_y9", "a_y10"), sections=("HOMEWORK", "FORMS")),
    )

    assert result.errors == []
    assert result.data == _payload(
        year_groups=["Year 9", "Year 10"],
        sections=["HOMEWORK", "FORMS"],
        created=1,
        without_email=["Fay Pupil"],
    )
    s3_logins = await _rows(engine, _logins_of(w, "s3"))
    assert [row[1:] for row in s3_logins] == [
        ("STUDENT", "charles@students.example.org", "Charles Babbage", NOW, None, None)
    ]
    # s1's login is the world's, untouched; fay has none.
    assert [row[0] for row in await _rows(engine, _logins_of(w, "s1"))] == [w["student_s1"]]
    assert await _rows(engine, _logins_of(w, "fay")) == []
    accounts_of_s3 = await _rows(
        engine,
        sa.select(ACCOUNTS.c.student_id, ACCOUNTS.c.created_at).where(
            ACCOUNTS.c.student_id == w["s3"]
        ),
    )
    assert accounts_of_s3 == [(w["s3"], NOW)]
    assert await _rows(
        engine,
        sa.select(SCHOOLS.c.student_logins_enabled, SCHOOLS.c.student_visible_sections).where(
            SCHOOLS.c.id == w["school_a"]
        ),
    ) == [(True, "HOMEWORK FORMS")]
    assert await _rows(
        engine,
        _events("STUDENT_LOGIN_ENABLED", "STUDENT_LOGIN_ENDED", "STUDENT_LOGIN_SETTINGS_CHANGED"),
    ) == [
        ("STUDENT_LOGIN_ENABLED", w["s3"], actor, None),
        (
            "STUDENT_LOGIN_SETTINGS_CHANGED",
            None,
            actor,
            "Northfield: Student logins on; year groups: Year 9, Year 10; visible: HOMEWORK FORMS",
        ),
    ]


async def test_turning_a_year_group_off_ends_its_logins_and_sessions_and_turning_it_on_reuses_the_account(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    off = await runner.run("admin_a", UPDATE, input=_input(w, sections=("HOMEWORK",)))

    assert off.errors == []
    assert off.data == _payload(year_groups=[], sections=["HOMEWORK"], ended=1)
    assert [row[5:] for row in await _rows(engine, _logins_of(w, "s1"))] == [
        (NOW, logins.YEAR_GROUP_OFF)
    ]
    assert await _rows(
        engine,
        sa.select(SESSIONS.c.revoked_at, SESSIONS.c.revoked_reason).where(
            SESSIONS.c.account_id == w["student_s1"]
        ),
    ) == [(NOW, "Student login ended")]
    # Other people's sessions go on.
    assert await _rows(
        engine, sa.select(sa.func.count()).where(SESSIONS.c.revoked_at.is_not(None))
    ) == [(1,)]
    with pytest.raises(AssertionError, match="session is not live"):
        await runner.run("student_s1", "{ viewer { isAuthenticated } }")

    on = await runner.run(
        "admin_a", UPDATE, input=_input(w, year_groups=("a_y9",), sections=("HOMEWORK",))
    )

    assert on.errors == []
    assert on.data == _payload(year_groups=["Year 9"], sections=["HOMEWORK"], created=1)
    s1_logins = await _rows(engine, _logins_of(w, "s1"))
    assert [(row[0], row[5]) for row in s1_logins] == [
        (w["student_s1"], NOW),
        (w["student_s1"], None),
    ]
    assert await _rows(engine, _events("STUDENT_LOGIN_ENABLED", "STUDENT_LOGIN_ENDED")) == [
        ("STUDENT_LOGIN_ENDED", w["s1"], "Anna Head", logins.YEAR_GROUP_OFF),
        ("STUDENT_LOGIN_ENABLED", w["s1"], "Anna Head", None),
    ]


async def test_turning_the_school_off_ends_every_login_of_the_school(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    result = await runner.run(
        "admin_a", UPDATE, input=_input(w, enabled=False, year_groups=("a_y9",))
    )

    assert result.errors == []
    assert result.data == _payload(enabled=False, year_groups=["Year 9"], sections=[], ended=1)
    assert [row[5:] for row in await _rows(engine, _logins_of(w, "s1"))] == [
        (NOW, logins.SCHOOL_OFF)
    ]


OWN_HOMEWORK = """
{ viewer { students { edges { node { displayName homework { totalCount } } } } } }
"""


async def test_a_student_sees_their_homework_only_while_the_school_shows_it(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    hidden = await runner.run(
        "admin_a",
        UPDATE,
        input=_input(w, year_groups=("a_y9",), sections=("FORMS", "TIMETABLE", "FORMS")),
    )
    assert hidden.data == _payload(year_groups=["Year 9"], sections=["TIMETABLE", "FORMS"])

    refused = await runner.run("student_s1", OWN_HOMEWORK)

    assert refused.data == {
        "viewer": {
            "students": {"edges": [{"node": {"displayName": "Ada Lovelace", "homework": None}}]}
        }
    }
    assert refused.error_codes == [
        ("FORBIDDEN", ["viewer", "students", "edges", 0, "node", "homework"])
    ]
    await runner.run(
        "admin_a", UPDATE, input=_input(w, year_groups=("a_y9",), sections=("HOMEWORK",))
    )
    shown = await runner.run("student_s1", OWN_HOMEWORK)
    assert shown.errors == []
    assert shown.data == {
        "viewer": {
            "students": {
                "edges": [{"node": {"displayName": "Ada Lovelace", "homework": {"totalCount": 0}}}]
            }
        }
    }


async def test_a_sync_reconcile_ends_the_logins_of_withdrawn_students_and_of_students_without_email(
    engine: AsyncEngine, world: World
) -> None:
    """What the SIS import calls after a sync: attributed to the SIS sync."""
    w = world
    await _add_student(engine, w, "gus", "a_y9", "gus@students.example.org")
    await _add_student(engine, w, "hal", "a_y9", "hal@students.example.org")
    first = await _reconcile(engine, [w["school_a"]])
    assert first == logins.ReconcileOutcome(
        enabled_student_ids=(w["gus"], w["hal"]), accounts_created=2
    )
    # The SIS withdraws s1, drops gus's email and renames hal.
    await _write(
        engine, sa.update(STUDENTS).where(STUDENTS.c.id == w["s1"]).values(status="WITHDRAWN")
    )
    await _give_email(engine, w, "gus", None)
    await _write(
        engine,
        sa.update(STUDENTS)
        .where(STUDENTS.c.id == w["hal"])
        .values(email="hal.pupil@students.example.org", family_name="Pupil-Smith"),
    )

    second = await _reconcile(engine, [w["school_a"]])

    assert second == logins.ReconcileOutcome(
        ended_student_ids=(w["s1"], w["gus"]),
        students_without_email=(w["gus"],),
        sessions_ended=1,
    )
    assert [row[5:] for row in await _rows(engine, _logins_of(w, "s1"))] == [
        (NOW, logins.NOT_ENROLLED)
    ]
    assert [row[5:] for row in await _rows(engine, _logins_of(w, "gus"))] == [
        (NOW, logins.NO_EMAIL)
    ]
    assert [row[2:6] for row in await _rows(engine, _logins_of(w, "hal"))] == [
        ("hal.pupil@students.example.org", "Hal Pupil-Smith", NOW, None)
    ]
    assert await _rows(engine, _events("STUDENT_LOGIN_ENABLED", "STUDENT_LOGIN_ENDED")) == [
        ("STUDENT_LOGIN_ENABLED", w["gus"], "SIS sync", None),
        ("STUDENT_LOGIN_ENABLED", w["hal"], "SIS sync", None),
        ("STUDENT_LOGIN_ENDED", w["s1"], "SIS sync", logins.NOT_ENROLLED),
        ("STUDENT_LOGIN_ENDED", w["gus"], "SIS sync", logins.NO_EMAIL),
    ]
    # Nothing left to do: a second run changes nothing.
    before = await snapshot(engine)
    assert await _reconcile(engine, [w["school_a"]]) == logins.ReconcileOutcome(
        students_without_email=(w["gus"],)
    )
    assert await snapshot(engine) == before


async def test_a_revoked_student_account_is_not_revived_but_replaced(
    engine: AsyncEngine, world: World
) -> None:
    w = world
    await _write(
        engine, sa.update(ACCOUNTS).where(ACCOUNTS.c.id == w["student_s1"]).values(revoked_at=NOW)
    )

    outcome = await _reconcile(engine, [w["school_a"]])

    assert outcome == logins.ReconcileOutcome(
        enabled_student_ids=(w["s1"],),
        ended_student_ids=(w["s1"],),
        accounts_created=1,
        sessions_ended=1,
    )
    s1_logins = await _rows(engine, _logins_of(w, "s1"))
    assert [(row[0] == w["student_s1"], row[5:]) for row in s1_logins] == [
        (True, (NOW, logins.ACCOUNT_REVOKED)),
        (False, (None, None)),
    ]


async def _reconcile(engine: AsyncEngine, school_ids: list[int]) -> logins.ReconcileOutcome:
    async with AsyncSession(engine) as session:
        db = Db(session)
        outcome = await logins.reconcile_student_logins(db, school_ids=school_ids, now=NOW)
        await db.commit()
    return outcome


# ---------------------------------------------------------------- refusals


async def test_year_groups_must_be_the_schools_and_nothing_changes_otherwise(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    before = await snapshot(engine)
    wrong = _input(w, enabled=False, year_groups=("a_y9",))
    wrong["enabledYearGroupIds"] += [gid("YearGroup", w["b_y9"]), gid("School", w["a_y10"]), "nope"]

    result = await runner.run("admin_a", UPDATE, input=wrong)

    assert result.errors == []
    assert result.data == _refused(
        *[
            {
                "code": "NOT_FOUND",
                "message": "No year group with this id.",
                "field": ["input", "enabledYearGroupIds", str(index)],
            }
            for index in (1, 2, 3)
        ]
    )
    assert await snapshot(engine) == before


SCHOOL_NOT_FOUND = _refused(
    {"code": "NOT_FOUND", "message": "No school with this id.", "field": ["input", "schoolId"]}
)
ROLE = ("FORBIDDEN", "Your role does not allow this.")
NOT_LINKED = ("FORBIDDEN", NOT_LINKED_MESSAGE)


def _outcome(result: Result) -> Any:
    """The payload, or the one error's code and message."""
    if result.errors:
        assert len(result.errors) == 1
        assert result.data is None
        error = result.errors[0]
        assert error["path"] == ["updateStudentLoginSettings"]
        return (error["extensions"]["code"], error["message"])
    return result.data


async def test_only_admins_of_the_school_or_its_district_change_its_student_logins(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    expected: dict[str | None, Any] = {
        None: ("UNAUTHENTICATED", "Sign in to see this."),
        "t_maths": ROLE,
        "t_art": ROLE,
        "enrol_a": ROLE,
        "support_a": ROLE,
        "security_a": ROLE,
        "unlinked": NOT_LINKED,
        "deactivated": NOT_LINKED,
        "admin_b": SCHOOL_NOT_FOUND,
        "admin_c": SCHOOL_NOT_FOUND,
        "da_other": SCHOOL_NOT_FOUND,
        "parent": ROLE,
        "lonely_parent": ROLE,
        "student_s1": ROLE,
    }
    before = await snapshot(engine)
    outcomes = {}
    for who in expected:
        result = await runner.run(who, UPDATE, input=_input(w, enabled=False))
        outcomes[who] = _outcome(result)
    assert outcomes == expected
    assert await snapshot(engine) == before


# ---------------------------------------------------------------- cost and bill


async def test_the_statements_of_a_change_do_not_grow_with_the_students(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    counter = StatementCounter(engine)
    counts = []
    for batch, size in [("few", 2), ("many", 12)]:
        for n in range(size):
            email = None if n % 3 == 0 else f"{batch}{n}@students.example.org"
            await _add_student(engine, w, f"{batch}{n}", "a_y10", email)
        await runner.run("admin_a", UPDATE, input=_input(w, sections=("HOMEWORK",)))
        with counter.counting() as statements:
            result = await runner.run(
                "admin_a", UPDATE, input=_input(w, year_groups=("a_y10",), sections=("HOMEWORK",))
            )
        assert result.errors == []
        assert result.data is not None
        payload = result.data["updateStudentLoginSettings"]
        assert payload["studentLoginsCreated"] == {"few": 1, "many": 1 + 8}[batch]
        assert len(payload["studentsWithoutEmail"]) == {"few": 2, "many": 2 + 4}[batch]
        counts.append(len(statements))
    assert counts[0] == counts[1]


BILL = """
query Bill($school: ID!, $term: String!) {
  studentLoginBill(schoolId: $school, termName: $term) {
    termName studentsWithLogins amount currency
  }
}
"""


async def test_the_bill_counts_the_logins_the_settings_made_in_each_term(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    async with engine.begin() as c:
        for sourced, title, start, end in [
            ("autumn", "Autumn 2026", "2026-09-01", "2026-12-18"),
            ("spring", "Spring 2027", "2027-01-05", "2027-03-31"),
        ]:
            await c.execute(
                sa.insert(ACADEMIC_SESSIONS).values(
                    district_id=w["north"],
                    sourced_id=sourced,
                    title=title,
                    session_type="term",
                    start_date=dt.date.fromisoformat(start),
                    end_date=dt.date.fromisoformat(end),
                )
            )
    await _give_email(engine, w, "s3", "charles@students.example.org")
    # On NOW (in the autumn term) Year 10 comes on and Year 9 goes off: s1's
    # login, live since the world's day, is billed for the autumn only.
    change = await runner.run("admin_a", UPDATE, input=_input(w, year_groups=("a_y10",)))
    assert change.errors == []

    bills = {}
    for term in ["Autumn 2026", "Spring 2027"]:
        result = await runner.run("admin_a", BILL, school=gid("School", w["school_a"]), term=term)
        assert result.errors == []
        bills[term] = result.data
    assert bills == {
        "Autumn 2026": {
            "studentLoginBill": {
                "termName": "Autumn 2026",
                "studentsWithLogins": 2,
                "amount": 100,
                "currency": "GBP",
            }
        },
        "Spring 2027": {
            "studentLoginBill": {
                "termName": "Spring 2027",
                "studentsWithLogins": 1,
                "amount": 50,
                "currency": "GBP",
            }
        },
    }


# ---------------------------------------------------------------- through HTTP


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return Settings(env="dev", database_url=engine.url.render_as_string(hide_password=False))


@pytest.fixture
async def http(settings: Settings, world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _token(settings: Settings, account_id: int, session_id: str) -> str:
    return signer_for(settings).issue(
        account_id=account_id, session_id=session_id, now=dt.datetime.now(dt.UTC)
    )


async def _post(
    http: httpx.AsyncClient, token: str, query: str, **variables: Any
) -> httpx.Response:
    return await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )


STUDENT_VIEW = """
{
  viewer {
    account { kind displayName }
    students {
      edges {
        node {
          displayName
          homework { edges { node { title } } }
          timetable(from: "2026-11-02", to: "2026-11-06") { period }
        }
      }
    }
  }
}
"""

HAS_LOGIN = "query($id: ID!) { node(id: $id) { ... on Student { displayName hasLogin } } }"


async def test_through_http_a_new_login_shows_the_student_what_the_school_allows_until_it_is_turned_off(
    engine: AsyncEngine, world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    w = world
    await _give_email(engine, w, "s3", "charles@students.example.org")
    await _add_student(engine, w, "fay", "a_y10", None)
    async with engine.begin() as c:
        await c.execute(
            sa.insert(HOMEWORK).values(
                district_id=w["north"],
                section_id=w["a_art"],
                title="Sketchbook",
                due_on=dt.date(2026, 11, 5),
                recorded_by_staff_id=w["t_art_staff"],
                created_at=NOW,
            )
        )
    admin = _token(settings, w["admin_a"], w.sessions["admin_a"])

    turned_on = await _post(
        http, admin, UPDATE, input=_input(w, year_groups=("a_y9", "a_y10"), sections=("HOMEWORK",))
    )

    assert turned_on.status_code == 200
    assert turned_on.json() == {
        "data": _payload(
            year_groups=["Year 9", "Year 10"],
            sections=["HOMEWORK"],
            created=1,
            without_email=["Fay Pupil"],
        )
    }
    [(account_id, grant_revoked)] = await _rows(
        engine,
        sa.select(ACCOUNTS.c.id, GRANTS.c.revoked_at)
        .join(GRANTS, GRANTS.c.account_id == ACCOUNTS.c.id)
        .where(ACCOUNTS.c.student_id == w["s3"], ACCOUNTS.c.kind == "STUDENT"),
    )
    assert grant_revoked is None
    # The student signs in (a session, as the sign-in routes make one).
    async with engine.begin() as c:
        await c.execute(
            sa.insert(SESSIONS).values(
                id="session-s3",
                account_id=account_id,
                family_id="family-s3",
                created_at=dt.datetime.now(dt.UTC),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
            )
        )
    student = _token(settings, account_id, "session-s3")

    seen = await _post(http, student, STUDENT_VIEW)

    assert seen.status_code == 200
    body = seen.json()
    assert body["data"] == {
        "viewer": {
            "account": {"kind": "STUDENT", "displayName": "Charles Babbage"},
            "students": {
                "edges": [
                    {
                        "node": {
                            "displayName": "Charles Babbage",
                            "homework": {"edges": [{"node": {"title": "Sketchbook"}}]},
                            "timetable": None,
                        }
                    }
                ]
            },
        }
    }
    assert [(e["extensions"]["code"], e["path"]) for e in body["errors"]] == [
        ("FORBIDDEN", ["viewer", "students", "edges", 0, "node", "timetable"])
    ]

    # Staff who may see portal access see the login; the guardian of other
    # children does not see the student at all.
    s3 = gid("Student", w["s3"])
    for who, expected in [
        ("t_art", {"node": {"displayName": "Charles Babbage", "hasLogin": True}}),
        ("admin_a", {"node": {"displayName": "Charles Babbage", "hasLogin": True}}),
        ("parent", {"node": None}),
    ]:
        response = await _post(http, _token(settings, w[who], w.sessions[who]), HAS_LOGIN, id=s3)
        assert response.json() == {"data": expected}, who

    turned_off = await _post(
        http, admin, UPDATE, input=_input(w, year_groups=("a_y9",), sections=("HOMEWORK",))
    )

    assert turned_off.json() == {
        "data": _payload(year_groups=["Year 9"], sections=["HOMEWORK"], ended=1)
    }
    refused = await _post(http, student, STUDENT_VIEW)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert await _rows(
        engine,
        sa.select(GRANTS.c.revoke_reason).where(
            GRANTS.c.account_id == account_id, GRANTS.c.revoked_at.is_not(None)
        ),
    ) == [(logins.YEAR_GROUP_OFF,)]
    # The guardian's own access is untouched.
    parent = await _post(
        http,
        _token(settings, w["parent"], w.sessions["parent"]),
        "{ viewer { students { totalCount } } }",
    )
    assert parent.json() == {"data": {"viewer": {"students": {"totalCount": 2}}}}
