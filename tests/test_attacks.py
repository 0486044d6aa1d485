"""The attack suite (docs/architecture.md section 7), through the real app over HTTP: each attack
gets its exact refusal. The id tricks (out-of-scope ids, relabelled ids) are
in tests/test_read_matrix.py; ids in mutation inputs in each workflow's
permission matrix."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import GraphQLSyntaxError
from graphql.language import Lexer, Source, TokenKind
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import create_app, signer_for
from gql.http.limits import WORK
from gql.settings import Settings
from schema.node import to_global_id
from tests.lifespan import started
from tests.snapshots import snapshot
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")
SECRET = "a-test-secret-that-is-long-enough-for-prod-0123456789"


def _settings(world_engine: tuple[AsyncEngine, World], **overrides: object) -> Settings:
    engine, _ = world_engine
    url = engine.url.render_as_string(hide_password=False)
    return Settings(database_url=url, secret_key=SECRET, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def prod(
    world_engine: tuple[AsyncEngine, World],
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = _settings(world_engine, env="prod")
    app = create_app(settings)
    _, world = world_engine
    token = signer_for(settings).issue(
        account_id=world["da_north"],
        session_id=world.sessions["da_north"],
        now=dt.datetime.now(dt.UTC),
    )
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, token


async def ask(client: httpx.AsyncClient, token: str, query: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"}
    )


def codes(response: httpx.Response) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in response.json()["errors"]]


async def test_introspection_is_off_in_prod(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, token = prod
    response = await ask(client, token, "{ __schema { types { name } } }")
    body = response.json()
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        "GraphQL introspection has been disabled, but the requested query contained the field '__schema'.",
        "GraphQL introspection has been disabled, but the requested query contained the field 'types'.",
    ]


async def test_graphiql_is_off_in_prod(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = prod
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 405


async def test_field_suggestions_are_off(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, token = prod
    response = await ask(client, token, "{ studnts { totalCount } }")
    assert [e["message"] for e in response.json()["errors"]] == [
        "Cannot query field 'studnts' on type 'Query'."
    ]


# Each place graphql-core suggests a name of the schema, misspelt on purpose:
# the request, its variables, and the prod answer (no "Did you mean").
HINTS = {
    "argument": (
        "{ guardians(frist: 1) { totalCount } }",
        {},
        "Unknown argument 'frist' on field 'Query.guardians'.",
    ),
    "directive argument": (
        "{ viewer @include(if: true, iff: true) { isAuthenticated } }",
        {},
        "Unknown argument 'iff' on directive '@include'.",
    ),
    "type": (
        "query($f: GuardianFiltr) { guardians(filter: $f) { totalCount } }",
        {},
        "Unknown type 'GuardianFiltr'.",
    ),
    "fragment type": (
        "{ viewer { ...F } } fragment F on Viewr { isAuthenticated }",
        {},
        "Unknown type 'Viewr'.",
    ),
    "enum value": (
        "{ guardians(filter: {portalStatus: ACTIV}) { totalCount } }",
        {},
        "Value 'ACTIV' does not exist in 'PortalStatus' enum.",
    ),
    "input field": (
        "{ guardians(filter: {portalStatu: ACTIVE}) { totalCount } }",
        {},
        "Expected value of type 'GuardianFilter' not to include unknown field 'portalStatu'."
        " Found: { portalStatu: ACTIVE }.",
    ),
    "enum value in a variable": (
        "query($f: GuardianFilter) { guardians(filter: $f) { totalCount } }",
        {"f": {"portalStatus": "ACTIV"}},
        "Variable '$f' has invalid value at .portalStatus:"
        " Value 'ACTIV' does not exist in 'PortalStatus' enum.",
    ),
    "input field in a variable": (
        "query($f: GuardianFilter) { guardians(filter: $f) { totalCount } }",
        {"f": {"portalStatu": "ACTIVE"}},
        "Variable '$f' has invalid value: Expected value of type 'GuardianFilter' not to"
        " include unknown field 'portalStatu'. Found: {'portalStatu': 'ACTIVE'}.",
    ),
    "field on an interface": (
        '{ node(id: "x") { displayName } }',
        {},
        "Cannot query field 'displayName' on type 'Node'.",
    ),
}


@pytest.mark.parametrize("source", list(HINTS))
async def test_prod_gives_no_hint_of_the_schema(
    prod: tuple[httpx.AsyncClient, str], source: str
) -> None:
    client, token = prod
    query, variables, message = HINTS[source]
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [message]


async def test_101_aliases_are_refused(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, token = prod
    query = "{ " + " ".join(f"a{i}: viewer {{ isAuthenticated }}" for i in range(101)) + " }"
    response = await ask(client, token, query)
    assert response.json()["data"] is None
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["message"] == (
        "The query is too large: more than 30 aliases."
    )


async def test_aliases_multiplied_through_fragments_are_counted(
    prod: tuple[httpx.AsyncClient, str],
) -> None:
    client, token = prod
    fragment = (
        "fragment F on Viewer { " + " ".join(f"x{i}: isAuthenticated" for i in range(10)) + " }"
    )
    query = "{ " + " ".join(f"v{i}: viewer {{ ...F }}" for i in range(5)) + " } " + fragment
    response = await ask(client, token, query)
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["message"] == (
        "The query is too large: more than 30 aliases."
    )


async def test_500_repeated_typenames_are_refused(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, token = prod
    response = await ask(client, token, "{ " + "__typename " * 500 + "}")
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["message"] == (
        "The query is too large: more than 250 fields."
    )


async def test_directive_flooding_is_refused(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, token = prod
    response = await ask(
        client, token, "{ viewer { isAuthenticated" + " @include(if: true)" * 50 + " } }"
    )
    assert response.json()["data"] is None
    assert "QUERY_TOO_COMPLEX" in codes(response)


async def test_deep_nesting_is_refused_and_aliases_do_not_dodge_it(
    prod: tuple[httpx.AsyncClient, str],
) -> None:
    client, token = prod
    inner = "id"
    for level in range(12):
        inner = f"l{level}: school {{ district {{ schools(first: 1) {{ edges {{ node {{ {inner} }} }} }} }} }}"
    query = "{ schools(first: 1) { edges { node { " + inner + " } } } }"
    response = await ask(client, token, query)
    assert response.json()["data"] is None
    messages = [e["message"] for e in response.json()["errors"]]
    assert any("exceeds maximum operation depth of 10" in m for m in messages)


async def test_circular_fragments_are_refused(prod: tuple[httpx.AsyncClient, str]) -> None:
    client, token = prod
    query = "{ viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ...A }"
    response = await ask(client, token, query)
    assert response.json()["data"] is None
    assert [e["message"] for e in response.json()["errors"]] == [
        "Cannot spread fragment 'A' within itself via 'B'."
    ]


async def test_nested_100_by_100_by_100_lists_are_refused(
    prod: tuple[httpx.AsyncClient, str],
) -> None:
    client, token = prod
    query = (
        "{ districts(first: 100) { edges { node { schools(first: 100) { edges { node {"
        " students(first: 100) { edges { node { displayName } } } } } } } } } }"
    )
    response = await ask(client, token, query)
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["message"] == (
        "The query is too large: it costs more than 25000 (nested lists multiply)."
    )


async def test_a_connection_without_first_costs_its_default_page(
    prod: tuple[httpx.AsyncClient, str],
) -> None:
    # Without `first` a connection returns 20 (the argument's default), so it
    # costs what `first: 20` costs: here 25,261, over the 25,000 budget.
    client, token = prod
    for first in ["", "(first: 20)"]:
        query = (
            f"{{ districts{first} {{ edges {{ node {{ schools{first} {{ edges {{ node {{"
            f" students{first} {{ edges {{ node {{ displayName }} }} }} }} }} }} }} }} }} }}"
        )
        response = await ask(client, token, query)
        assert codes(response) == ["QUERY_TOO_COMPLEX"], first
        assert "cost" in response.json()["errors"][0]["message"]
    fits = "{ districts { edges { node { schools { edges { node { name } } } } } } }"
    response = await ask(client, token, fits)
    assert "errors" not in response.json()


# ---------------------------------------------------------------- limits in linear time
# Each limit (depth, aliases, fields, directives, cost) is computed once per
# fragment and stops at the first budget exceeded, so the work of the limit
# rules grows with the document's tokens, never with its expansion. The
# documents below expand to millions of fields from a few hundred tokens.


def fragment_chain(links: int, spreads: int) -> str:
    """F0 is one field; each further fragment spreads the previous one
    ``spreads`` times, so the operation expands to spreads**links fields."""
    fragments = ["fragment F0 on Viewer { isAuthenticated }"]
    for i in range(1, links + 1):
        body = " ".join([f"...F{i - 1}"] * spreads)
        fragments.append(f"fragment F{i} on Viewer {{ {body} }}")
    return f"{{ viewer {{ ...F{links} }} }} " + " ".join(fragments)


def aliased_chain(links: int) -> str:
    """As ``fragment_chain`` with two spreads, each under an alias of its own
    (aliases, fields and nesting double at every link)."""
    fragments = ["fragment F0 on Viewer { isAuthenticated }"]
    fragments += [
        f"fragment F{i} on Viewer {{ a: students {{ totalCount }} ...F{i - 1} ...F{i - 1} }}"
        for i in range(1, links + 1)
    ]
    return f"{{ viewer {{ ...F{links} }} }} " + " ".join(fragments)


def fan_out(width: int) -> str:
    """One fragment of ``width`` fields spread ``width`` times."""
    fields = " ".join(f"f{i}: isAuthenticated" for i in range(width))
    spreads = " ".join(["...F"] * width)
    return f"{{ viewer {{ {spreads} }} }} fragment F on Viewer {{ {fields} }}"


def deep(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = (
            f"school {{ district {{ schools(first: 1) {{ edges {{ node {{ {inner} }} }} }} }} }}"
        )
    return "{ schools(first: 1) { edges { node { " + inner + " } } } }"


def deep_fragments(levels: int) -> str:
    """Each fragment nests the previous one a level deeper."""
    fragments = ["fragment D0 on School { id }"]
    fragments += [
        f"fragment D{i} on School {{ district {{ schools(first: 1) {{ edges {{ node {{"
        f" ...D{i - 1} ...D{i - 1} }} }} }} }} }}"
        for i in range(1, levels + 1)
    ]
    operation = f"{{ schools(first: 1) {{ edges {{ node {{ ...D{levels} }} }} }} }} "
    return operation + " ".join(fragments)


def token_count(document: str) -> int:
    """The tokens of a document, as the parser counts them (up to the first
    one that does not lex: the document does not parse, nothing is walked)."""
    lexer = Lexer(Source(document))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
    except GraphQLSyntaxError:
        pass
    return count


ATTACKS = {
    "doubling chain 20": fragment_chain(20, 2),
    "doubling chain 60": fragment_chain(60, 2),
    "tripling chain 20": fragment_chain(20, 3),
    "tripling chain 40": fragment_chain(40, 3),
    "aliased doubling chain 30": aliased_chain(30),
    "fan-out 40 by 40": fan_out(40),
    "deep nesting 30": deep(30),
    "deep fragments 30": deep_fragments(30),
}


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_expanding_documents_are_refused_with_linear_work(
    prod: tuple[httpx.AsyncClient, str], name: str
) -> None:
    client, token = prod
    document = ATTACKS[name]
    before = WORK.visits
    response = await ask(client, token, document)
    visits = WORK.visits - before
    assert response.json()["data"] is None
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    # Each selection of the document is looked at once at most.
    assert 0 < visits <= token_count(document)


@pytest.mark.parametrize(
    ("document", "answer"),
    [
        (fragment_chain(40, 2), {"isAuthenticated": True}),
        (fragment_chain(25, 3), {"isAuthenticated": True}),
        (aliased_chain(25), {"a": {"totalCount": 4}, "isAuthenticated": True}),
        (fan_out(60), {f"f{i}": True for i in range(60)}),
    ],
    ids=["doubling", "tripling", "aliased", "fan-out"],
)
async def test_limit_work_is_linear_even_when_nothing_is_exceeded(
    world_engine: tuple[AsyncEngine, World], document: str, answer: dict[str, object]
) -> None:
    # With budgets no document reaches, nothing stops the walk early: the
    # memoised fragments alone keep it linear (and the document then runs).
    settings = _settings(
        world_engine,
        env="prod",
        max_aliases=10**30,
        max_fields=10**30,
        max_directives=10**30,
        max_cost=10**30,
    )
    app = create_app(settings)
    _, world = world_engine
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = WORK.visits
            response = await ask(client, token_for(settings, world, "da_north"), document)
            visits = WORK.visits - before
    assert "errors" not in response.json()
    assert response.json() == {"data": {"viewer": answer}}
    assert 0 < visits <= token_count(document)


@pytest.mark.parametrize(("levels", "refused"), [(0, False), (1, False), (2, True)])
async def test_depth_through_a_fragment_counts_where_it_is_spread(
    prod: tuple[httpx.AsyncClient, str], levels: int, refused: bool
) -> None:
    # One fragment two fields deep, spread at every nesting: the deepest
    # spread decides, 3 + 4 * levels below the root fields plus the
    # fragment's 2 (as strawberry's QueryDepthLimiter counted); the limit is 10.
    client, token = prod
    fragment = "fragment S on School { district { schools(first: 1) { totalCount } } }"
    inner = "...S"
    for _ in range(levels):
        inner = f"...S district {{ schools(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    query = "{ schools(first: 1) { edges { node { " + inner + " } } } } " + fragment
    response = await ask(client, token, query)
    if refused:
        assert codes(response) == ["QUERY_TOO_COMPLEX"]
        assert "exceeds maximum operation depth of 10" in response.json()["errors"][0]["message"]
    else:
        assert "errors" not in response.json()


@pytest.mark.parametrize(
    ("outer", "inner"),
    [("last: 100", "last: 100"), ("last: 100", ""), ("", "")],
    ids=["last-last", "last-default", "default-default"],
)
async def test_backward_and_default_pages_cost_what_forward_pages_cost(
    prod: tuple[httpx.AsyncClient, str], outer: str, inner: str
) -> None:
    # 100 x 100 x 20 (the default page) = 200,000 > 25,000; 20 x 20 x 100 too.
    client, token = prod
    query = (
        f"{{ districts{outer and f'({outer})'} {{ edges {{ node {{ schools{inner and f'({inner})'}"
        " { edges { node { students(first: 100) { edges { node { displayName } } } } } } } } } }"
    )
    response = await ask(client, token, query)
    assert codes(response) == ["QUERY_TOO_COMPLEX"]


async def test_an_oversized_body_is_refused_before_it_is_read(
    prod: tuple[httpx.AsyncClient, str],
) -> None:
    client, token = prod
    response = await ask(client, token, "{ viewer { isAuthenticated } }" + " " * 70_000)
    assert response.status_code == 413
    assert codes(response) == ["PAYLOAD_TOO_LARGE"]


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("GET", {"params": {"query": "{ viewer { isAuthenticated } }"}}, 405),
        ("POST", {"data": {"query": "{ viewer { isAuthenticated } }"}}, 415),
        ("POST", {"files": {"query": ("q.graphql", b"{ viewer { isAuthenticated } }")}}, 415),
        ("POST", {"json": [{"query": "{ viewer { isAuthenticated } }"}] * 2}, 400),
    ],
    ids=["get", "form", "multipart", "batch"],
)
async def test_other_transports_are_refused(
    prod: tuple[httpx.AsyncClient, str], method: str, kwargs: dict[str, object], status: int
) -> None:
    client, _ = prod
    response = await client.request(method, "/graphql", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status


async def test_a_slow_request_is_cancelled_with_a_clear_error(
    world_engine: tuple[AsyncEngine, World],
) -> None:
    settings = _settings(world_engine, env="prod", request_timeout_seconds=0.000001)
    _, world = world_engine
    app = create_app(settings)
    token = signer_for(settings).issue(
        account_id=world["da_north"],
        session_id=world.sessions["da_north"],
        now=dt.datetime.now(dt.UTC),
    )
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await ask(client, token, "{ students(first: 100) { totalCount } }")
    assert response.status_code == 503
    assert codes(response) == ["TIMEOUT"]


# ---------------------------------------------------------------- on a world of their own
# Attacks that would write when they succeed run on a fresh database each.


@pytest.fixture
async def fresh_app(
    fresh: tuple[object, World, AsyncEngine],
) -> AsyncIterator[tuple[httpx.AsyncClient, World, AsyncEngine, Settings]]:
    _, world, engine = fresh
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, secret_key=SECRET, env="prod")
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, world, engine, settings


def token_for(settings: Settings, world: World, who: str) -> str:
    return signer_for(settings).issue(
        account_id=world[who], session_id=world.sessions[who], now=dt.datetime.now(dt.UTC)
    )


HOMEWORK_THEN_READ = """
mutation Write($input: CreateHomeworkInput!) { createHomework(input: $input) {
  homework { title } userErrors { code } } }
query Read { viewer { isAuthenticated } }
"""


def _homework(world: World) -> dict[str, str]:
    return {
        "sectionId": str(to_global_id("Section", world["a_maths"])),
        "title": "Worksheet",
        "dueOn": "2026-11-10",
    }


@pytest.mark.parametrize(
    ("operation_name", "message"),
    [
        (None, "Must provide operation name if query contains multiple operations."),
        ("Nothing", "Unknown operation named 'Nothing'."),
    ],
    ids=["several-operations-no-name", "unknown-name"],
)
async def test_operation_selection_is_a_request_error_and_runs_nothing(
    fresh_app: tuple[httpx.AsyncClient, World, AsyncEngine, Settings],
    operation_name: str | None,
    message: str,
) -> None:
    client, world, engine, settings = fresh_app
    before = await snapshot(engine)
    body: dict[str, object] = {
        "query": HOMEWORK_THEN_READ,
        "variables": {"input": _homework(world)},
    }
    if operation_name is not None:
        body["operationName"] = operation_name
    response = await client.post(
        "/graphql",
        json=body,
        headers={"authorization": f"Bearer {token_for(settings, world, 't_maths')}"},
    )
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}],
        "data": None,
    }
    assert await snapshot(engine) == before
    # The same document with the mutation named does write: the refusal above
    # is the operation selection, not the mutation.
    chosen = await client.post(
        "/graphql",
        json=body | {"operationName": "Write"},
        headers={"authorization": f"Bearer {token_for(settings, world, 't_maths')}"},
    )
    assert chosen.json() == {
        "data": {"createHomework": {"homework": {"title": "Worksheet"}, "userErrors": []}}
    }


async def test_a_document_without_an_operation_is_a_request_error(
    prod: tuple[httpx.AsyncClient, str],
) -> None:
    client, token = prod
    response = await ask(client, token, "fragment F on Query { __typename }")
    assert response.json() == {
        "errors": [
            {
                "message": "The document has no operation to run.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ],
        "data": None,
    }


# ---------------------------------------------------------------- malformed ids
# Only the exact string the server gives out names an object: anything else
# decoding to the same words (other digits, leading zeros, padding, spare
# bits) is not found, and nothing is an internal error.


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _spare_bits(global_id: str) -> str:
    """The same bytes with the unused low bits of the last character set."""
    data = global_id.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(data[-1]) | 1]
    variant = data[:-1] + last + global_id[len(data) :]
    assert variant != global_id
    assert base64.b64decode(variant) == base64.b64decode(global_id)
    return variant


def malformed_ids(type_name: str, pk: int) -> dict[str, str]:
    canonical = str(to_global_id(type_name, pk))
    arabic = "".join(chr(0x0660 + int(d)) for d in str(pk))  # ARABIC-INDIC DIGIT ...
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(pk))  # FULLWIDTH DIGIT ...
    variants = {
        "superscript": _b64(f"{type_name}:²"),
        "arabic-indic digits": _b64(f"{type_name}:{arabic}"),
        "fullwidth digits": _b64(f"{type_name}:{fullwidth}"),
        "leading zero": _b64(f"{type_name}:0{pk}"),
        "plus sign": _b64(f"{type_name}:+{pk}"),
        "spaces": _b64(f"{type_name}: {pk}"),
        "extra padding": canonical + "=" * (2 if not canonical.endswith("=") else 1),
        "huge": _b64(f"{type_name}:{'9' * 40}"),
        "not base64": "Student:1",
        "empty": "",
    }
    if canonical.endswith("="):  # only a padded id has spare bits
        variants["spare bits"] = _spare_bits(canonical)
    return variants


async def test_only_the_ids_the_server_gives_out_resolve_in_node(
    prod: tuple[httpx.AsyncClient, str], world_engine: tuple[AsyncEngine, World]
) -> None:
    client, token = prod
    _, world = world_engine
    query = "query($id: ID!) { node(id: $id) { id ... on Student { displayName } } }"
    canonical = str(to_global_id("Student", world["s1"]))
    found = await client.post(
        "/graphql",
        json={"query": query, "variables": {"id": canonical}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert found.json()["data"]["node"]["id"] == canonical
    answers = {}
    for name, global_id in malformed_ids("Student", world["s1"]).items():
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": global_id}},
            headers={"authorization": f"Bearer {token}"},
        )
        answers[name] = response.json()
    assert answers == {name: {"data": {"node": None}} for name in answers}


async def test_malformed_ids_in_mutation_inputs_are_user_errors(
    fresh_app: tuple[httpx.AsyncClient, World, AsyncEngine, Settings],
) -> None:
    client, world, engine, settings = fresh_app
    before = await snapshot(engine)
    mutation = """mutation($input: CreateHomeworkInput!) { createHomework(input: $input) {
      homework { title } userErrors { code field } } }"""
    answers = {}
    for name, global_id in malformed_ids("Section", world["a_maths"]).items():
        response = await client.post(
            "/graphql",
            json={
                "query": mutation,
                "variables": {"input": _homework(world) | {"sectionId": global_id}},
            },
            headers={"authorization": f"Bearer {token_for(settings, world, 't_maths')}"},
        )
        answers[name] = response.json()
    not_found = {
        "data": {
            "createHomework": {
                "homework": None,
                "userErrors": [{"code": "NOT_FOUND", "field": ["input", "sectionId"]}],
            }
        }
    }
    assert answers == dict.fromkeys(answers, not_found)
    assert await snapshot(engine) == before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/verify", {"token": "²."}),
        ("/verify", {"token": "1.²."}),
        ("/verify", {"token": "²1.1.mac"}),
        ("/access-codes/1/login-instructions.pdf", {"expires": "²", "signature": "x"}),
        ("/access-codes/1/login-instructions.pdf", {"expires": "9999999999", "signature": "é"}),
        ("/verify", {"token": "1." + "9" * 5000 + ".mac"}),
        ("/access-codes/1/login-instructions.pdf", {"expires": "9" * 5000, "signature": "x"}),
    ],
    ids=[
        "verify-account",
        "verify-expires",
        "verify-both",
        "pdf-expires",
        "pdf-signature",
        "verify-huge",
        "pdf-huge",
    ],
)
async def test_signed_links_with_other_digits_are_refused_as_any_bad_link(
    prod: tuple[httpx.AsyncClient, str], path: str, params: dict[str, str]
) -> None:
    client, _ = prod
    headers = {"accept": "application/json"}
    baseline = await client.get(path, params=dict.fromkeys(params, "1"), headers=headers)
    response = await client.get(path, params=params, headers=headers)
    assert baseline.status_code in {400, 403, 404}
    assert (response.status_code, response.json()) == (baseline.status_code, baseline.json())
