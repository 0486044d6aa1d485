"""``accessgraph sync oneroster-api`` against a OneRoster 1.2 REST provider
the tests serve on loopback (OAuth 2.0 client credentials, limit/offset
paging, dateLastModified filters), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gql.cli.errors import CliError
from gql.cli.sync_api import read_secret, run_sync_api
from gql.settings import Settings
from resolvers import tables

CLIENT_ID, CLIENT_SECRET, TOKEN = "accessgraph", "s3cret-value", "token-1"
OLD = "2025-08-01T00:00:00.000Z"
STUDENTS = tables.Student.__table__
ENROLMENTS = tables.SectionEnrolment.__table__


def _ref(sourced_id: str, kind: str) -> dict[str, str]:
    return {"sourcedId": sourced_id, "type": kind, "href": f"/{kind}s/{sourced_id}"}


def _user(sourced_id: str, role: str, given: str, **extra: Any) -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": OLD,
        "enabledUser": True,
        "username": sourced_id,
        "givenName": given,
        "familyName": "Birch",
        "roles": [{"roleType": "primary", "role": role, "org": _ref("birch-es", "org")}],
        **extra,
    }


def _enrolment(sourced_id: str, user: str, role: str) -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": OLD,
        "role": role,
        "class": _ref("birch-3a", "class"),
        "school": _ref("birch-es", "org"),
        "user": _ref(user, "user"),
    }


class Provider:
    """A OneRoster 1.2 rostering service with a client-credentials token endpoint."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[dict[str, str]] = []
        self.data: dict[str, list[dict[str, Any]]] = {
            "orgs": [
                {
                    "sourcedId": "birch",
                    "status": "active",
                    "dateLastModified": OLD,
                    "name": "Birch District",
                    "type": "district",
                },
                {
                    "sourcedId": "birch-es",
                    "status": "active",
                    "dateLastModified": OLD,
                    "name": "Birch Elementary",
                    "type": "school",
                    "parent": _ref("birch", "org"),
                    "metadata": {"yearGroupNames": "03=Year 3"},
                },
            ],
            "academicSessions": [
                {
                    "sourcedId": "y2026",
                    "status": "active",
                    "dateLastModified": OLD,
                    "title": "2025-2026",
                    "type": "schoolYear",
                    "startDate": "2025-08-15",
                    "endDate": "2026-06-12",
                    "schoolYear": "2026",
                }
            ],
            "classes": [
                {
                    "sourcedId": "birch-3a",
                    "status": "active",
                    "dateLastModified": OLD,
                    "title": "Class 3A",
                    "classType": "homeroom",
                    "school": _ref("birch-es", "org"),
                    "terms": [_ref("y2026", "academicSession")],
                }
            ],
            "users": [
                _user("t-oak", "teacher", "Olive"),
                _user("s-ash", "student", "Ash", grades=["03"]),
                _user("s-elm", "student", "Elm", grades=["03"]),
                _user(
                    "p-ash",
                    "parent",
                    "Pat",
                    agents=[_ref("s-ash", "user")],
                    metadata={"contactType": "Mother", "portalEligible": "true"},
                ),
            ],
            "enrollments": [
                _enrolment("e-1", "t-oak", "teacher"),
                _enrolment("e-2", "s-ash", "student"),
                _enrolment("e-3", "s-elm", "student"),
            ],
        }
        self.app = Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/ims/oneroster/rostering/v1p2/{collection}", self.collection),
            ]
        )

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        return JSONResponse({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})

    async def collection(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        name = request.path_params["collection"]
        query = request.query_params
        self.requests.append({"collection": name, **query})
        records = self.data[name]
        found = query.get("filter", "")
        if found:
            assert found.startswith("dateLastModified>'")
            assert found.endswith("'")
            since = dt.datetime.fromisoformat(found.removeprefix("dateLastModified>'")[:-1])
            records = [
                r for r in records if dt.datetime.fromisoformat(r["dateLastModified"]) > since
            ]
        offset, limit = int(query["offset"]), int(query["limit"])
        return JSONResponse({name: records[offset : offset + limit]})


@asynccontextmanager
async def running_provider() -> AsyncIterator[Provider]:
    provider = Provider()
    config = uvicorn.Config(
        provider.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    provider.base_url = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        server.should_exit = True
        await task


async def pull(
    database_url: str,
    provider: Provider,
    capsys: pytest.CaptureFixture[str],
    *,
    secret: str = CLIENT_SECRET,
) -> tuple[int, dict[str, Any] | str]:
    code = await run_sync_api(
        Settings(database_url=database_url),
        base_url=provider.base_url,
        client_id=CLIENT_ID,
        client_secret=secret,
        token_url=None,
        full=False,
        dry_run=False,
        as_json=True,
        page_size=2,
    )
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else captured.err


async def fetch(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


def students_query() -> sa.Select[Any]:
    return sa.select(STUDENTS.c.sourced_id, STUDENTS.c.status).order_by(STUDENTS.c.sourced_id)


async def test_the_first_pull_reads_everything_page_by_page_and_imports_it(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider() as provider:
        code, printed = await pull(database_url, provider, capsys)

    assert code == 0
    assert isinstance(printed, dict)
    assert printed["since"] is None
    assert printed["problems"] == []
    assert printed["changes"]["students"]["added"] == 2
    assert await fetch(engine, students_query()) == [("s-ash", "ENROLLED"), ("s-elm", "ENROLLED")]
    # Two records a page: users (4) took three requests, the last one short.
    assert [(r["offset"], r["limit"]) for r in provider.requests if r["collection"] == "users"] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "2"),
    ]
    assert all("filter" not in r for r in provider.requests)
    states = tables.SisSyncState.__table__
    assert await fetch(engine, sa.select(states.c.source)) == [(provider.base_url,)]


async def test_a_later_pull_asks_for_changes_only_and_imports_them_as_a_delta(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider() as provider:
        await pull(database_url, provider, capsys)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elm = next(u for u in provider.data["users"] if u["sourcedId"] == "s-elm")
        elm.update(status="tobedeleted", dateLastModified=now)
        provider.data["users"].append(
            _user("s-fir", "student", "Fir", grades=["03"], dateLastModified=now)
        )
        provider.data["enrollments"].append(
            {**_enrolment("e-4", "s-fir", "student"), "dateLastModified": now}
        )
        provider.requests.clear()

        code, printed = await pull(database_url, provider, capsys)

    assert code == 0
    assert isinstance(printed, dict)
    assert printed["since"] is not None
    since = dt.datetime.fromisoformat(printed["since"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Every collection, every page, asks only for what changed since the last pull.
    assert {r.get("filter") for r in provider.requests} == {f"dateLastModified>'{since}'"}
    assert {r["collection"] for r in provider.requests} == {
        "orgs",
        "academicSessions",
        "classes",
        "users",
        "enrollments",
    }
    assert {k: v for k, v in printed["changes"].items() if any(v.values())} == {
        "students": {"added": 1, "changed": 0, "deactivated": 1, "removed": 0},
        "enrolments": {"added": 1, "changed": 0, "deactivated": 0, "removed": 0},
    }
    # Ash, whom the provider did not send again, is untouched.
    assert await fetch(engine, students_query()) == [
        ("s-ash", "ENROLLED"),
        ("s-elm", "WITHDRAWN"),
        ("s-fir", "ENROLLED"),
    ]


async def test_a_refused_client_is_one_line_and_nothing_is_written(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider() as provider:
        with pytest.raises(CliError) as refused:
            await pull(database_url, provider, capsys, secret="wrong")

    # gql.cli.main prints it as one line on stderr.
    assert refused.value.exit_code == 1
    assert refused.value.message.startswith(
        f"{provider.base_url}/token: the provider refused the client ("
    )
    assert refused.value.message.endswith("); nothing was written.")
    assert "\n" not in refused.value.message
    assert await fetch(engine, students_query()) == []


def test_the_client_secret_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("  s3cret-value\n")
    assert read_secret(str(secret)) == "s3cret-value"
    with pytest.raises(CliError) as missing:
        read_secret(str(tmp_path / "none"))
    assert missing.value.message == (
        f"{tmp_path / 'none'}: No such file or directory; give the file holding the client secret."
    )
