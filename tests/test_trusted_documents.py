"""Trusted documents: registered by hash from a file, sent by hash, and with
the setting on, the only thing that runs."""

from __future__ import annotations

import json
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
