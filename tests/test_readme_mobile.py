"""The README's mobile flow, step by step: the app's Home.graphql is
registered with ``accessgraph documents register``, its hash is the SHA-256
of the file's bytes (``sha256sum Home.graphql``), and the app sends
``{"documentId": "sha256:<hash>", "variables": ...}`` with a bearer token
to a server that runs trusted documents only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.commands import register_documents
from gql.http.app import create_app, signer_for
from gql.settings import Settings
from tests.lifespan import started
from tests.test_readme_queries import DOCUMENTS
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

(HOME,) = [d for d in DOCUMENTS if d.startswith("query Home(")]
VARIABLES = {"from": "2026-11-02", "to": "2026-11-06"}


async def _post(settings: Settings, body: dict[str, object], bearer: str) -> httpx.Response:
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/graphql", json=body, headers={"authorization": f"Bearer {bearer}"}
            )


async def test_the_mobile_app_registers_home_and_sends_its_hash(
    world_engine: tuple[AsyncEngine, World], tmp_path: Path
) -> None:
    engine, world = world_engine
    url = engine.url.render_as_string(hide_password=False)
    open_settings = Settings(env="dev", database_url=url)
    trusted_only = Settings(env="dev", database_url=url, trusted_documents_only=True)
    home = tmp_path / "Home.graphql"
    home.write_text(HOME)
    assert await register_documents(trusted_only, str(home), client="ios-app") == 0
    sha = hashlib.sha256(home.read_bytes()).hexdigest()
    bearer = signer_for(trusted_only).issue(
        account_id=world["parent"],
        session_id=world.sessions["parent"],
        now=dt.datetime.now(dt.UTC),
    )

    by_id = await _post(
        trusted_only, {"documentId": f"sha256:{sha}", "variables": VARIABLES}, bearer
    )
    as_text = await _post(open_settings, {"query": HOME, "variables": VARIABLES}, bearer)
    raw = await _post(trusted_only, {"query": HOME, "variables": VARIABLES}, bearer)

    assert by_id.status_code == 200
    assert "errors" not in by_id.json()
    students = by_id.json()["data"]["viewer"]["students"]["edges"]
    assert [s["node"]["displayName"] for s in students] == ["Ada Lovelace", "Byron Lovelace"]
    # the same answer as the text would give, but for the access log, where
    # the registered document's reads are logged like any other
    assert [_log(s) for s in students] == [[], []]
    logged = [_log(s) for s in as_text.json()["data"]["viewer"]["students"]["edges"]]
    assert logged == [[("Mary Lovelace", "STUDENT_PROFILE")]] * 2
    assert _without_logs(by_id.json()) == _without_logs(as_text.json())
    assert raw.status_code == 400
    assert raw.json()["errors"][0]["extensions"] == {"code": "TRUSTED_DOCUMENTS_ONLY"}


def _log(student: dict[str, Any]) -> list[tuple[str, str]]:
    edges = student["node"]["accessReview"]["accessLog"]["edges"]
    return [(e["node"]["actorName"], e["node"]["action"]) for e in edges]


def _without_logs(body: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    for student in copy["data"]["viewer"]["students"]["edges"]:
        del student["node"]["accessReview"]["accessLog"]
    return copy  # type: ignore[no-any-return]
