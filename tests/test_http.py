"""Through the real ASGI app: credentials, the edge rules, health checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import create_app, signer_for
from gql.settings import Settings
from resolvers.tables import SESSIONS
from tests.lifespan import started
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def settings(world_engine: tuple[AsyncEngine, World]) -> Settings:
    engine, _ = world_engine
    return Settings(env="dev", database_url=engine.url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def token(settings: Settings, world: World, who: str, *, now: dt.datetime | None = None) -> str:
    return signer_for(settings).issue(
        account_id=world[who], session_id=world.sessions[who], now=now or dt.datetime.now(dt.UTC)
    )


async def post(http: httpx.AsyncClient, query: str, bearer: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    return await http.post("/graphql", json={"query": query}, headers=headers)


async def test_a_valid_bearer_token_signs_the_request_in(
    http: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    response = await post(
        http,
        "{ viewer { isAuthenticated account { displayName kind } } }",
        token(settings, world, "admin_a"),
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "viewer": {
                "isAuthenticated": True,
                "account": {"displayName": "Anna Head", "kind": "STAFF"},
            }
        }
    }
    assert response.headers["x-request-id"]


async def test_no_credential_is_the_anonymous_viewer(http: httpx.AsyncClient) -> None:
    response = await post(http, "{ viewer { isAuthenticated } }")
    assert response.json() == {"data": {"viewer": {"isAuthenticated": False}}}


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-jwt",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwic2lkIjoieCJ9.",  # alg none
    ],
)
async def test_a_bad_token_is_unauthenticated_never_anonymous(
    http: httpx.AsyncClient, bad: str
) -> None:
    response = await post(http, "{ viewer { isAuthenticated } }", bad)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "data" not in response.json()


async def test_an_expired_token_is_unauthenticated(
    http: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    old = token(settings, world, "admin_a", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    response = await post(http, "{ viewer { isAuthenticated } }", old)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_a_token_signed_with_another_secret_is_unauthenticated(
    http: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    other = Settings(env="dev", secret_key="another-secret-of-enough-length-0123456789")
    forged = signer_for(other).issue(
        account_id=world["da_north"],
        session_id=world.sessions["da_north"],
        now=dt.datetime.now(dt.UTC),
    )
    response = await post(http, "{ viewer { isAuthenticated } }", forged)
    assert response.status_code == 401


async def test_a_token_for_an_ended_session_stops_working_on_the_next_request(
    http: httpx.AsyncClient,
    settings: Settings,
    world: World,
    world_engine: tuple[AsyncEngine, World],
) -> None:
    engine, _ = world_engine
    live = token(settings, world, "support_a")
    assert (await post(http, "{ viewer { isAuthenticated } }", live)).status_code == 200
    async with engine.begin() as c:
        await c.execute(
            sa.update(SESSIONS)
            .where(SESSIONS.c.id == world.sessions["support_a"])
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    try:
        response = await post(http, "{ viewer { isAuthenticated } }", live)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    finally:
        async with engine.begin() as c:
            await c.execute(
                sa.update(SESSIONS)
                .where(SESSIONS.c.id == world.sessions["support_a"])
                .values(revoked_at=None)
            )


async def test_queries_over_get_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ viewer { isAuthenticated } }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}


async def test_form_posts_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", data={"query": "{ viewer { isAuthenticated } }"})
    assert response.status_code == 415


async def test_batched_operations_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json=[{"query": "{ viewer { isAuthenticated } }"}] * 2)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Batched operations are off."


async def test_field_suggestions_are_off(http: httpx.AsyncClient) -> None:
    response = await post(http, "{ viewer { isAuthenticatd } }")
    message = response.json()["errors"][0]["message"]
    assert message == "Cannot query field 'isAuthenticatd' on type 'Viewer'."


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ok", "database": "reachable"}


# ---------------------------------------------------------------- GraphQL over HTTP media types

GRAPHQL_RESPONSE = "application/graphql-response+json"
REQUEST_ERRORS = {
    "parse": ({"query": "{"}, "Syntax Error: Expected Name, found <EOF>."),
    "validation": (
        {"query": "{ nope }"},
        "Cannot query field 'nope' on type 'Query'.",
    ),
    "variables": (
        {"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}},
        "Variable '$id' has invalid value: Expected value of non-null type 'ID!' not to be None.",
    ),
}


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, f"{GRAPHQL_RESPONSE}; charset=utf-8"),
        (f"application/json, {GRAPHQL_RESPONSE}", f"{GRAPHQL_RESPONSE}; charset=utf-8"),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", "application/json"),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", f"{GRAPHQL_RESPONSE}; charset=utf-8"),
        ("text/html, */*;q=0.1", "application/json"),
    ],
)
async def test_the_answer_is_in_the_media_type_the_client_prefers(
    http: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    headers = {"accept": accept} if accept is not None else {}
    request = http.build_request(
        "POST", "/graphql", json={"query": "{ __typename }"}, headers=headers
    )
    if accept is None:
        del request.headers["accept"]
    response = await http.send(request)
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert response.headers["vary"] == "Accept"
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json;q=0"])
async def test_an_accept_the_server_cannot_serve_is_406(
    http: httpx.AsyncClient, accept: str
) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": accept}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_ACCEPTABLE"}


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
async def test_request_errors_are_400_without_data_in_the_graphql_response_type(
    http: httpx.AsyncClient, kind: str
) -> None:
    body, message = REQUEST_ERRORS[kind]
    response = await http.post("/graphql", json=body, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    answer = response.json()
    assert "data" not in answer
    assert [e["message"] for e in answer["errors"]] == [message]


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
async def test_request_errors_stay_200_with_data_null_in_plain_json(
    http: httpx.AsyncClient, kind: str
) -> None:
    body, message = REQUEST_ERRORS[kind]
    response = await http.post("/graphql", json=body, headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["data"] is None
    assert [e["message"] for e in answer["errors"]] == [message]


async def test_a_field_error_is_200_with_data_in_the_graphql_response_type(
    http: httpx.AsyncClient,
) -> None:
    # Anonymous: students needs a sign-in, an error at a path once execution began.
    response = await http.post(
        "/graphql",
        json={"query": "{ __typename students { totalCount } }"},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["data"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (["students"], "UNAUTHENTICATED")
    ]
