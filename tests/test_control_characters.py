"""Control characters in text inputs (docs/architecture.md section 7): refused
with BAD_USER_INPUT before anything runs, on SQLite (which would store a NUL)
and PostgreSQL (which would fail on it) alike, for every String and ID input,
in variables and in literals, and in the JSON bodies of the /auth/* routes.
Tabs and line breaks are text only where several lines are (homework
details, form answers, a termination reason)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.settings import Settings
from schema.node import to_global_id
from tests.snapshots import snapshot
from tests.test_attacks import fresh_app, token_for
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["fresh_app"]

FreshApp = tuple[httpx.AsyncClient, World, AsyncEngine, Settings]

HOMEWORK = """mutation($input: CreateHomeworkInput!) { createHomework(input: $input) {
  homework { title details } userErrors { code field } } }"""
TERMINATE = """mutation($input: TerminateSessionsInput!) { terminateSessions(input: $input) {
  userErrors { code field } } }"""
REDEEM = """mutation($input: RedeemAccessCodeInput!) { redeemAccessCode(input: $input) {
  userErrors { code field } } }"""
CONNECTION_REQUEST = """mutation($input: CreateConnectionRequestInput!) {
  createConnectionRequest(input: $input) { pin userErrors { code field } } }"""
CREATE_FORM = """mutation($input: CreateFormInput!) { createForm(input: $input) {
  form { title } userErrors { code field } } }"""
SEARCH = "query($s: String) { students(first: 5, search: $s) { totalCount } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
# Each forbidden character: C0 (NUL, bell, escape, carriage return), DEL, C1.
FORBIDDEN = ["\x00", "\x07", "\x1b", "\r", "\x7f", "\x85"]


def _homework(world: World, **changes: str) -> dict[str, str]:
    return {
        "sectionId": str(to_global_id("Section", world["a_maths"])),
        "title": "Worksheet",
        "details": "Questions 1 to 10",
        "dueOn": "2026-11-10",
    } | changes


async def _post(
    app: FreshApp, who: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    client, world, _, settings = app
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token_for(settings, world, who)}"},
    )
    body: dict[str, Any] = response.json()
    return body


def refused(where: str) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": f"Text may not contain control characters: {where}.",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ],
        "data": None,
    }


async def test_control_characters_in_variables_are_refused_everywhere(fresh_app: FreshApp) -> None:
    _, world, engine, _ = fresh_app
    before = await snapshot(engine)
    student = str(to_global_id("Student", world["s1"]))
    answers = {}
    for char in FORBIDDEN:
        cases: dict[str, tuple[str, str, dict[str, Any]]] = {
            "$input.title": ("t_maths", HOMEWORK, {"input": _homework(world, title=f"a{char}b")}),
            "$input.details": (
                "t_maths",
                HOMEWORK,
                {"input": _homework(world, details=f"a{char}b")},
            ),
            "$input.sectionId": (
                "t_maths",
                HOMEWORK,
                {"input": _homework(world, sectionId=f"{char}")},
            ),
            "$input.reason": (
                "security_a",
                TERMINATE,
                {
                    "input": {
                        "accountId": str(to_global_id("Account", world["parent"])),
                        "reason": f"lost{char}phone",
                    }
                },
            ),
            "$input.code": ("lonely_parent", REDEEM, {"input": {"code": f"ABCD{char}"}}),
            "$input.email": (
                "admin_a",
                CONNECTION_REQUEST,
                {
                    "input": {
                        "studentId": student,
                        "forStudentSelf": False,
                        "individualName": "Gina",
                        "email": f"gina{char}@example.com",
                    }
                },
            ),
            "$input.individualName": (
                "admin_a",
                CONNECTION_REQUEST,
                {
                    "input": {
                        "studentId": student,
                        "forStudentSelf": False,
                        "individualName": f"Gi{char}na",
                        "email": "gina@example.com",
                    }
                },
            ),
            "$s": ("da_north", SEARCH, {"s": f"Ada{char}"}),
            "$id": ("da_north", NODE, {"id": f"{student}{char}"}),
        }
        for where, (who, query, variables) in cases.items():
            answers[(repr(char), where)] = await _post(fresh_app, who, query, variables)
    assert answers == {key: refused(key[1]) for key in answers}
    assert await snapshot(engine) == before


async def test_tabs_and_line_breaks_only_where_text_has_several_lines(
    fresh_app: FreshApp,
) -> None:
    _, world, engine, _ = fresh_app
    before = await snapshot(engine)
    for field in ["title", "sectionId"]:
        for char in ["\t", "\n"]:
            answer = await _post(
                fresh_app, "t_maths", HOMEWORK, {"input": _homework(world, **{field: f"a{char}b"})}
            )
            assert answer == refused(f"$input.{field}")
    assert await _post(fresh_app, "da_north", SEARCH, {"s": "Ada\n"}) == refused("$s")
    form = {
        "schoolId": str(to_global_id("School", world["school_a"])),
        "title": "Trip",
        "questions": [{"prompt": "Pick one", "type": "CHOICE", "choices": ["A", "B\nC"]}],
    }
    assert await _post(fresh_app, "admin_a", CREATE_FORM, {"input": form}) == refused(
        "$input.questions.0.choices.1"
    )
    assert await snapshot(engine) == before
    several = "Questions 1 to 10:\n\tshow your working\n"
    answer = await _post(
        fresh_app, "t_maths", HOMEWORK, {"input": _homework(world, details=several)}
    )
    assert answer == {
        "data": {
            "createHomework": {
                "homework": {"title": "Worksheet", "details": several.strip()},
                "userErrors": [],
            }
        }
    }


@pytest.mark.parametrize(
    ("literal", "where"),
    [
        ('title: "a\\u0000b"', "CreateHomeworkInput.title"),
        ('title: "a\\nb"', "CreateHomeworkInput.title"),
        ('title: """a\nb"""', "CreateHomeworkInput.title"),
        ('details: "a\\u007fb"', "CreateHomeworkInput.details"),
        ('sectionId: "\\u0000"', "CreateHomeworkInput.sectionId"),
    ],
    ids=["nul", "escaped-newline", "block-string", "del-in-details", "nul-in-id"],
)
async def test_control_characters_in_literals_are_refused(
    fresh_app: FreshApp, literal: str, where: str
) -> None:
    _, world, engine, _ = fresh_app
    before = await snapshot(engine)
    section = to_global_id("Section", world["a_maths"])
    fields = {"sectionId": f'"{section}"', "title": '"Worksheet"', "dueOn": '"2026-11-10"'}
    name = literal.split(":")[0]
    fields[name] = literal.split(": ", 1)[1]
    arguments = ", ".join(f"{k}: {v}" for k, v in fields.items())
    query = f"mutation {{ createHomework(input: {{{arguments}}}) {{ userErrors {{ code }} }} }}"
    answer = await _post(fresh_app, "t_maths", query)
    assert answer["data"] is None
    assert [(e["message"], e["extensions"]) for e in answer["errors"]] == [
        (f"Text may not contain control characters: {where}.", {"code": "BAD_USER_INPUT"})
    ]
    assert await snapshot(engine) == before
    search = await _post(fresh_app, "da_north", '{ students(search: "Ada\\u0000") { totalCount } }')
    assert [e["message"] for e in search["errors"]] == [
        "Text may not contain control characters: Query.students(search:)."
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/login", {"email": "pat\x00@example.com", "password": "secret-secret"}),
        ("/auth/login", {"email": "pat@example.com", "password": "secret\x00secret"}),
        ("/auth/login", {"email": "pat@example.com\n", "password": "secret-secret"}),
        (
            "/auth/signup",
            {"email": "pat@example.com", "password": "a-long-password!", "displayName": "P\x00t"},
        ),
        ("/auth/refresh", {"refreshToken": "abc\x00def"}),
        ("/auth/token", {"code": "abc\x00", "codeVerifier": "v" * 43}),
        ("/auth/password/forgot", {"email": "pat\x00@example.com"}),
        ("/auth/password/reset", {"token": "t\x00", "password": "a-long-password!"}),
    ],
    ids=[
        "login-email",
        "login-password",
        "login-newline",
        "signup-name",
        "refresh",
        "token",
        "password-forgot",
        "password-reset",
    ],
)
async def test_control_characters_in_auth_bodies_are_refused(
    fresh_app: FreshApp, path: str, body: dict[str, str]
) -> None:
    client, _, engine, _ = fresh_app
    before = await snapshot(engine)
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Text may not contain control characters.",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }
    assert await snapshot(engine) == before


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/forgot-password", {"email": "pat\x00@example.com"}),
        ("/reset-password", {"token": "t\x00", "password": "a-long-password!"}),
    ],
    ids=["forgot", "reset"],
)
async def test_control_characters_in_password_forms_are_refused(
    fresh_app: FreshApp, path: str, form: dict[str, str]
) -> None:
    client, _, engine, _ = fresh_app
    before = await snapshot(engine)
    response = await client.post(path, data=form)
    assert response.status_code == 400
    assert "Text may not contain control characters." in response.text
    assert await snapshot(engine) == before
