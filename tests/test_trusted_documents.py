"""Trusted documents: registered by hash from a file, sent by hash, and with
the setting on, the only thing that runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.commands import register_documents
from gql.cli.errors import CliError
from gql.http.app import create_app
from gql.settings import Settings
from resolvers.documents import document_hash
from tests.lifespan import started
from tests.snapshots import snapshot

QUERY = "query Me { viewer { isAuthenticated } }"


async def _post(settings: Settings, body: dict[str, object]) -> httpx.Response:
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/graphql", json=body)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(env="dev", database_url=database_url)


async def test_a_registered_document_runs_by_its_hash(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "me.graphql").write_text(QUERY)
    assert await register_documents(settings, str(tmp_path / "me.graphql"), client="ios-app") == 0
    sha = document_hash(QUERY)
    by_id = await _post(settings, {"documentId": f"sha256:{sha}"})
    assert by_id.json() == {"data": {"viewer": {"isAuthenticated": False}}}
    apollo = await _post(
        settings, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}
    )
    assert apollo.json() == {"data": {"viewer": {"isAuthenticated": False}}}


async def test_an_unknown_hash_is_refused(settings: Settings) -> None:
    response = await _post(settings, {"documentId": "sha256:" + "0" * 64})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}


async def test_with_trusted_documents_only_raw_queries_are_refused(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(env="dev", database_url=database_url, trusted_documents_only=True)
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": document_hash(QUERY), "name": "Me", "type": "query", "body": QUERY}],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert (
        await register_documents(settings, str(tmp_path / "manifest.json"), client="android") == 0
    )
    raw = await _post(settings, {"query": QUERY})
    assert raw.status_code == 400
    assert raw.json()["errors"][0]["extensions"] == {"code": "TRUSTED_DOCUMENTS_ONLY"}
    trusted = await _post(settings, {"documentId": document_hash(QUERY)})
    assert trusted.json() == {"data": {"viewer": {"isAuthenticated": False}}}


async def test_a_hash_that_does_not_match_its_document_registers_nothing(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({document_hash(QUERY): QUERY, "f" * 64: "{ x }"}))
    before = await snapshot(engine)
    with pytest.raises(CliError) as refused:
        await register_documents(settings, str(tmp_path / "bad.json"), client="web")
    assert refused.value.exit_code == 1
    assert refused.value.message == (
        f"refused: the hash {'f' * 64} does not match its document; nothing was registered."
    )
    assert await snapshot(engine) == before


# ---------------------------------------------------------------- over GET

STUDENTS = (
    "query Students($n: Int!) { viewer { isAuthenticated students(first: $n) { totalCount } } }"
)
MUTATION = 'mutation Redeem { redeemAccessCode(input: {code: "X"}) { userErrors { code } } }'
BOTH = STUDENTS + "\n" + MUTATION


async def _get(
    settings: Settings, params: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/graphql", params=params, headers=headers or {})


async def _registered(settings: Settings, tmp_path: Path, *documents: str) -> None:
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({document_hash(d): d for d in documents}))
    assert await register_documents(settings, str(path), client="web") == 0


async def test_a_registered_query_runs_over_get_and_can_be_revalidated(
    settings: Settings, tmp_path: Path
) -> None:
    await _registered(settings, tmp_path, STUDENTS)
    params = {"documentId": f"sha256:{document_hash(STUDENTS)}", "variables": '{"n": 1}'}
    first = await _get(settings, params)
    assert first.status_code == 200
    assert first.json() == {
        "data": {"viewer": {"isAuthenticated": False, "students": {"totalCount": 0}}}
    }
    assert first.headers["cache-control"] == "private, no-cache"
    assert first.headers["vary"] == "Accept, Authorization, Cookie"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = await _get(settings, params, {"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"

    other = await _get(settings, params, {"if-none-match": '"0123"'})
    assert other.status_code == 200
    assert other.content == first.content


async def test_apollo_persisted_query_gets_run_too(settings: Settings, tmp_path: Path) -> None:
    await _registered(settings, tmp_path, QUERY)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(QUERY)}}
    response = await _get(settings, {"extensions": json.dumps(extensions)})
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"isAuthenticated": False}}}
    assert "etag" in response.headers


@pytest.mark.parametrize("operation", [None, "Redeem"])
async def test_a_mutation_over_get_is_405_and_does_not_run(
    settings: Settings, engine: AsyncEngine, tmp_path: Path, operation: str | None
) -> None:
    document = MUTATION if operation is None else BOTH
    await _registered(settings, tmp_path, document)
    params = {"documentId": f"sha256:{document_hash(document)}"}
    if operation is not None:
        params["operationName"] = operation
    before = await snapshot(engine)
    response = await _get(settings, params)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    assert "etag" not in response.headers
    assert await snapshot(engine) == before


async def test_the_query_of_a_document_with_a_mutation_runs_over_get(
    settings: Settings, tmp_path: Path
) -> None:
    await _registered(settings, tmp_path, BOTH)
    response = await _get(
        settings,
        {
            "documentId": document_hash(BOTH),
            "operationName": "Students",
            "variables": '{"n": 1}',
        },
    )
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["isAuthenticated"] is False


@pytest.mark.parametrize(
    ("params", "status", "code", "message"),
    [
        (
            {"documentId": "sha256:" + "0" * 64},
            400,
            "PERSISTED_QUERY_NOT_FOUND",
            "No trusted document has that id; register it first (accessgraph documents register).",
        ),
        (
            {"documentId": "sha256:" + "0" * 64, "variables": "[1]"},
            400,
            "BAD_REQUEST",
            "'variables' must be a URL-encoded JSON object.",
        ),
        (
            {"documentId": "sha256:" + "0" * 64, "variables": "{"},
            400,
            "BAD_REQUEST",
            "'variables' must be a URL-encoded JSON object.",
        ),
        (
            {"documentId": "sha256:" + "0" * 64, "query": "{ __typename }"},
            400,
            "BAD_REQUEST",
            "A query text runs only over POST; GET runs registered documents.",
        ),
        (
            {"query": "{ __typename }"},
            405,
            "METHOD_NOT_ALLOWED",
            "Send queries as POST with a JSON body (GET runs registered documents only).",
        ),
    ],
    ids=["unknown", "variables-array", "variables-not-json", "query-and-id", "query"],
)
async def test_bad_gets_are_clear_errors(
    settings: Settings, params: dict[str, str], status: int, code: str, message: str
) -> None:
    response = await _get(settings, params)
    assert response.status_code == status
    assert response.json()["errors"] == [{"message": message, "extensions": {"code": code}}]
    assert "etag" not in response.headers


async def test_a_get_that_does_not_say_which_operation_runs_nothing(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _registered(settings, tmp_path, BOTH)
    before = await snapshot(engine)
    response = await _get(settings, {"documentId": document_hash(BOTH)})
    assert response.status_code == 200  # application/json: a request error is 200
    assert response.json() == {
        "errors": [
            {
                "message": "Must provide operation name if query contains multiple operations.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ],
        "data": None,
    }
    assert "etag" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert await snapshot(engine) == before
