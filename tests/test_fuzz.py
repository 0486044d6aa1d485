"""A seeded fuzzer through the real app (docs/architecture.md section 7):
documents generated from the served schema, valid and broken, with valid and
wrong variables, sent over HTTP as several viewers of tests/world.py. Whatever
comes back, it is never an internal error (no 500, no INTERNAL_SERVER_ERROR),
and the limit walk looks at no more selections than the document has tokens.

Bounded for CI (``FUZZ_REQUESTS`` per database, a few seconds each); a fixed
seed makes a failure reproducible: the assertion message holds the seed, the
viewer, the document and the variables. ``ACCESSGRAPH_FUZZ_SEED`` and
``ACCESSGRAPH_FUZZ_REQUESTS`` change them for a longer local run.

The REST routes (sign-in, passwords, signed links) get random JSON bodies
and query strings the same way: never a 500.

``ORACLES`` is the hook for checks on what an answer may contain (the scope
oracle): each is called with the viewer, the request and the answer.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import string
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import create_app, signer_for
from gql.http.limits import WORK
from gql.settings import Settings
from schema.node import to_global_id
from tests.client import served_schema
from tests.lifespan import started
from tests.test_attacks import SECRET, token_count
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEED = int(os.environ.get("ACCESSGRAPH_FUZZ_SEED", "20261205"))
FUZZ_REQUESTS = int(os.environ.get("ACCESSGRAPH_FUZZ_REQUESTS", "150"))
VIEWERS: list[str | None] = [None, "da_north", "admin_a", "t_maths", "parent", "student_s1"]

# (viewer, request body, status, answer) -> None; raise to fail.
Oracle = Callable[[str | None, dict[str, Any], int, dict[str, Any]], None]
ORACLES: list[Oracle] = []

IDS = [
    ("Student", "s1"),
    ("Student", "s5"),
    ("School", "school_a"),
    ("School", "school_c"),
    ("District", "north"),
    ("Section", "a_maths"),
    ("Account", "parent"),
    ("Account", "unlinked"),
    ("YearGroup", "a_y9"),
    ("StaffMember", "t_art_staff"),
]
STRINGS = [
    "",
    " ",
    "Ada",
    "a" * 300,
    "ABCD-EFGH",
    "gina@example.com",
    "Mother",
    "2026-11-10",
    "2026-13-45",
    "null",
    "é日本語🙂",
    "a\x00b",
    "line\nbreak",
    "tab\there",
    "\x1b[31m",
    "'; DROP TABLE students; --",
    "%_\\",
    "٣",
    "²",
]
INTS = [0, 1, -1, 5, 20, 100, 101, 2**31, -(2**31) - 1, 10**20]


class Generator:
    def __init__(self, schema: GraphQLSchema, world: World, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng
        self.ids = [str(to_global_id(t, world.ids[k])) for t, k in IDS if k in world.ids]
        # Not ids this server gives out: Student:0, padded, plain, "nope",
        # Student:² and Student: with an Arabic-Indic one.
        self.ids += [
            "",
            "U3R1ZGVudDow",
            "U3R1ZGVudDox==",
            "Student:1",
            "bm9wZQ",
            "U3R1ZGVudDrCsg==",
            "U3R1ZGVudDrZoQ==",
        ]

    # ------------------------------------------------------------ values

    def value(self, input_type: GraphQLInputType, depth: int = 0) -> Any:
        rng = self.rng
        if isinstance(input_type, GraphQLNonNull):
            return self.value(input_type.of_type, depth)
        if rng.random() < 0.05:
            return None
        if isinstance(input_type, GraphQLList):
            return [self.value(input_type.of_type, depth + 1) for _ in range(rng.randint(0, 3))]
        if isinstance(input_type, GraphQLEnumType):
            names = list(input_type.values)
            return rng.choice(names) if rng.random() < 0.9 else "NOT_A_VALUE"
        if isinstance(input_type, GraphQLInputObjectType):
            result: dict[str, Any] = {}
            for name, field in input_type.fields.items():
                required = isinstance(field.type, GraphQLNonNull)
                if (required and rng.random() < 0.95) or rng.random() < 0.4:
                    result[name] = self.value(field.type, depth + 1) if depth < 4 else None
            if rng.random() < 0.05:
                result["notAField"] = 1
            return result
        assert isinstance(input_type, GraphQLScalarType)
        return self.scalar(input_type.name)

    def scalar(self, name: str) -> Any:
        rng = self.rng
        if rng.random() < 0.05:  # the wrong kind altogether
            return rng.choice([[], {}, True, 3.5, "x"])
        if name == "Int":
            return rng.choice(INTS)
        if name == "Float":
            return rng.choice([0.0, 1.5, -2.0, 1e308])
        if name == "Boolean":
            return rng.random() < 0.5
        if name == "ID":
            return rng.choice(self.ids)
        if name == "Date":
            return rng.choice(["2026-11-03", "2026-11-10", "2026-02-30", "x", "2026-11-03T09:00"])
        if name == "DateTime":
            return rng.choice(["2026-11-03T09:00:00+00:00", "yesterday"])
        return rng.choice(STRINGS)

    def literal(self, value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, str):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
            return f'"{escaped}"'
        if isinstance(value, list):
            return "[" + ", ".join(self.literal(v) for v in value) + "]"
        return "{" + ", ".join(f"{k}: {self.literal(v)}" for k, v in value.items()) + "}"

    # ------------------------------------------------------------ documents

    def document(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        operation = "mutation" if rng.random() < 0.3 else "query"
        root = self.schema.mutation_type if operation == "mutation" else self.schema.query_type
        assert root is not None
        variables: dict[str, Any] = {}
        definitions: list[str] = []
        fields = rng.sample(list(root.fields.items()), k=min(len(root.fields), rng.randint(1, 3)))
        selections = []
        for index, (name, field) in enumerate(fields):
            arguments = []
            for arg_name, argument in field.args.items():
                required = isinstance(argument.type, GraphQLNonNull)
                if not required and rng.random() < 0.6:
                    continue
                value = self.value(argument.type)
                if rng.random() < 0.5:
                    variable = f"v{index}_{arg_name}"
                    definitions.append(f"${variable}: {argument.type}")
                    variables[variable] = value
                    arguments.append(f"{arg_name}: ${variable}")
                else:
                    arguments.append(f"{arg_name}: {self.literal(value)}")
            args = f"({', '.join(arguments)})" if arguments else ""
            alias = f"a{index}: " if rng.random() < 0.3 else ""
            selections.append(f"{alias}{name}{args}{self.selection(field.type, 0)}")
        header = f"({', '.join(definitions)})" if definitions else ""
        text = f"{operation} Fuzz{header} {{ {' '.join(selections)} }}"
        return self.mangle(text), variables

    def selection(self, output_type: GraphQLOutputType, depth: int) -> str:
        rng = self.rng
        named = get_named_type(output_type)
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            return ""
        if depth > 5:
            return " { __typename }"
        if isinstance(named, GraphQLUnionType | GraphQLInterfaceType):
            possible = list(self.schema.get_possible_types(named))
            parts = ["__typename"]
            parts += [
                f"... on {object_type.name}{self.selection(object_type, depth + 1)}"
                for object_type in rng.sample(possible, k=min(len(possible), 2))
            ]
            return " { " + " ".join(parts) + " }"
        assert isinstance(named, GraphQLObjectType)
        items = list(named.fields.items())
        chosen = rng.sample(items, k=min(len(items), rng.randint(1, 4)))
        parts = []
        for name, field in chosen:
            arguments = []
            for arg_name, argument in field.args.items():
                if isinstance(argument.type, GraphQLNonNull) or rng.random() < 0.3:
                    arguments.append(f"{arg_name}: {self.literal(self.value(argument.type))}")
            args = f"({', '.join(arguments)})" if arguments else ""
            parts.append(f"{name}{args}{self.selection(field.type, depth + 1)}")
        return " { " + " ".join(parts) + " }"

    def mangle(self, text: str) -> str:
        """Break about a third of the documents, each in one of many ways."""
        rng = self.rng
        if rng.random() < 0.65:
            return text
        position = rng.randrange(len(text))
        return rng.choice(
            [
                lambda: text[:position] + text[position + 1 :],
                lambda: text[:position] + rng.choice("{}()[]:$@!.,\"'#") + text[position:],
                lambda: text + " query Other { __typename }",
                lambda: text.replace("Fuzz", "", 1),
                lambda: text[:position],
                lambda: text + " fragment F on Query { ...F }",
                lambda: text.replace("{", "{ __typename @include(if: $missing) ", 1),
                lambda: text.replace("{", "{ " + "x: __typename " * 40, 1),
                lambda: "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 80))),
                lambda: "{" * 100 + "}" * 100,
            ]
        )()


@pytest.fixture(scope="module")
async def app_client(
    world_engine: tuple[AsyncEngine, World],
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    engine, _ = world_engine
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, secret_key=SECRET, env="prod")
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, settings


# When a non-null root field fails, graphql-core nulls the whole answer and
# drops its sibling fields' resolvers unawaited (they never started, so
# nothing half-ran); Python warns about each when it is collected.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Exception ignored in. <coroutine object GraphQLCoreConverter")
async def test_no_document_or_variables_make_an_internal_error(
    app_client: tuple[httpx.AsyncClient, Settings],
    world_engine: tuple[AsyncEngine, World],
    backend: Any,
) -> None:
    client, settings = app_client
    _, world = world_engine
    rng = random.Random(f"{SEED}-{backend.name}")
    generator = Generator(served_schema()._schema, world, rng)
    signer = signer_for(settings)
    now = dt.datetime.now(dt.UTC)
    tokens = {
        who: signer.issue(account_id=world[who], session_id=world.sessions[who], now=now)
        for who in VIEWERS
        if who is not None
    }
    for number in range(FUZZ_REQUESTS):
        who = VIEWERS[number % len(VIEWERS)]
        document, variables = generator.document()
        body: dict[str, Any] = {"query": document, "variables": variables}
        if rng.random() < 0.1:
            body["operationName"] = rng.choice(["Fuzz", "Other", "Nope"])
        headers = {"authorization": f"Bearer {tokens[who]}"} if who is not None else {}
        before = WORK.visits
        response = await client.post("/graphql", json=body, headers=headers)
        visits = WORK.visits - before
        where = f"seed {SEED}, request {number}, viewer {who}: {body!r}"
        assert response.status_code != 500, where
        answer = response.json()
        codes = [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]
        assert "INTERNAL_SERVER_ERROR" not in codes, f"{where}\n{answer}"
        assert visits <= token_count(document), where
        for oracle in ORACLES:
            oracle(who, body, response.status_code, answer)


REST_POSTS = [
    "/auth/signup",
    "/auth/token",
    "/auth/login",
    "/auth/refresh",
    "/auth/logout",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/password/change",
    "/auth/email/change",
    "/auth/logout/everywhere",
]
REST_GETS = [
    ("/verify", "token"),
    ("/reset-password", "token"),
    ("/confirm-email", "token"),
    ("/auth/oidc/google/login", "returnTo"),
    ("/auth/oidc/google/callback", "state"),
    ("/access-codes/1/login-instructions.pdf", "expires"),
]
FIELDS = [
    "email",
    "password",
    "displayName",
    "mode",
    "refreshToken",
    "code",
    "codeVerifier",
    "token",
    "newPassword",
    "currentPassword",
    "newEmail",
]


def _json_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            rng.choice(STRINGS),
            rng.choice(INTS),
            None,
            True,
            [],
            {"a": 1},
            "pat@example.com",
            "bearer",
            "cookie",
        ]
    )


async def test_no_body_or_query_makes_the_rest_routes_fail(
    app_client: tuple[httpx.AsyncClient, Settings],
    world_engine: tuple[AsyncEngine, World],
    backend: Any,
) -> None:
    client, settings = app_client
    _, world = world_engine
    rng = random.Random(f"{SEED}-rest-{backend.name}")
    token = signer_for(settings).issue(
        account_id=world["parent"],
        session_id=world.sessions["parent"],
        now=dt.datetime.now(dt.UTC),
    )
    for number in range(FUZZ_REQUESTS // 5):
        headers = {"authorization": f"Bearer {token}"} if rng.random() < 0.5 else {}
        if rng.random() < 0.6:
            path = rng.choice(REST_POSTS)
            body = {name: _json_value(rng) for name in rng.sample(FIELDS, k=rng.randint(0, 4))}
            response = await client.post(path, json=body, headers=headers)
            where = f"seed {SEED}, request {number}: POST {path} {body!r}"
        else:
            path, name = rng.choice(REST_GETS)
            value = rng.choice(STRINGS)
            response = await client.get(path, params={name: value}, headers=headers)
            where = f"seed {SEED}, request {number}: GET {path} {name}={value!r}"
        assert response.status_code != 500, where
