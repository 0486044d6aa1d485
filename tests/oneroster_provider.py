"""A OneRoster 1.2 REST provider for the tests, served by uvicorn on loopback.

Its records are read from a OneRoster CSV export (``tests/fixtures/oneroster/``)
and answered as the 1.2 rostering service's JSON: GUIDRefs for references,
lists for grades, a user's roles in its ``roles`` array. Its token endpoint
grants OAuth 2.0 client credentials (HTTP Basic) and its resources check the
bearer token, so the client under test runs the real protocol. Behaviours
the tests turn on: short-lived tokens, tokens revoked mid-pull, failing
pages, and how pages are announced (``X-Total-Count``, ``Link``, or only a
short page).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID, CLIENT_SECRET = "accessgraph", "s3cret-value"
ROSTERING = "/ims/oneroster/rostering/v1p2"


def _rows(directory: Path, name: str) -> list[dict[str, str]]:
    path = directory / name
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _ref(sourced_id: str, kind: str) -> dict[str, str]:
    return {"sourcedId": sourced_id, "type": kind, "href": f"{ROSTERING}/{kind}s/{sourced_id}"}


def _refs(value: str, kind: str) -> list[dict[str, str]]:
    return [_ref(item, kind) for item in value.replace(",", " ").split()]


def _stamp(value: str) -> str:
    """A CSV date as the API's dateLastModified (an ISO time in UTC)."""
    return f"{value}T00:00:00.000Z" if len(value) == 10 else value


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _base(row: dict[str, str], *names: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "sourcedId": row["sourcedId"],
        "status": row.get("status") or "active",
        "dateLastModified": _stamp(row.get("dateLastModified") or "2025-08-01"),
    }
    record.update({name: row[name] for name in names if row.get(name)})
    metadata = {k.removeprefix("metadata."): v for k, v in row.items() if k.startswith("metadata.")}
    if any(metadata.values()):
        record["metadata"] = {k: v for k, v in metadata.items() if v}
    return record


def records_from_export(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """A OneRoster 1.2 CSV export as the rostering service answers it."""
    orgs = []
    for row in _rows(directory, "orgs.csv"):
        org = _base(row, "name", "type", "identifier")
        if row.get("parentSourcedId"):
            org["parent"] = _ref(row["parentSourcedId"], "org")
        orgs.append(org)
    sessions = []
    for row in _rows(directory, "academicSessions.csv"):
        session = _base(row, "title", "type", "startDate", "endDate", "schoolYear")
        if row.get("parentSourcedId"):
            session["parent"] = _ref(row["parentSourcedId"], "academicSession")
        sessions.append(session)
    classes = [
        {
            **_base(row, "title", "classType"),
            "school": _ref(row["schoolSourcedId"], "org"),
            "terms": _refs(row.get("termSourcedIds", ""), "academicSession"),
        }
        for row in _rows(directory, "classes.csv")
    ]
    roles: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(directory, "roles.csv"):
        roles.setdefault(row["userSourcedId"], []).append(
            {
                "roleType": row["roleType"],
                "role": row["role"],
                "org": _ref(row["orgSourcedId"], "org"),
            }
        )
    users = []
    for row in _rows(directory, "users.csv"):
        user = _base(row, "username", "givenName", "familyName", "email", "phone")
        user["enabledUser"] = row.get("enabledUser", "true") != "false"
        user["roles"] = roles.get(row["sourcedId"], [])
        user["agents"] = _refs(row.get("agentSourcedIds", ""), "user")
        user["grades"] = row.get("grades", "").replace(",", " ").split()
        users.append(user)
    enrollments = [
        {
            **_base(row, "role"),
            "class": _ref(row["classSourcedId"], "class"),
            "school": _ref(row["schoolSourcedId"], "org"),
            "user": _ref(row["userSourcedId"], "user"),
        }
        for row in _rows(directory, "enrollments.csv")
    ]
    demographics = [_base(row, "birthDate", "sex") for row in _rows(directory, "demographics.csv")]
    return {
        "orgs": orgs,
        "academicSessions": sessions,
        "classes": classes,
        "users": users,
        "enrollments": enrollments,
        "demographics": demographics,
    }


@dataclass
class Provider:
    """The provider's data and behaviour; what it was asked, in order."""

    data: dict[str, list[dict[str, Any]]]
    base_url: str = ""
    # How a page says what follows: "total" (X-Total-Count), "link" (Link:
    # rel="next"), or "none" (the client stops on a short page).
    paging: str = "total"
    # The most records a page holds, whatever the client asks for.
    max_limit: int | None = None
    token_seconds: int = 3600
    # Seconds each resource request takes.
    delay: float = 0.0
    # After this many resource requests, every token issued so far is revoked.
    revoke_after: int | None = None
    # (collection, offset) → how many requests of that page answer 503
    # (None: every one).
    failing: dict[tuple[str, int], int | None] = field(default_factory=dict)
    offers_demographics: bool = True
    # A token request must ask for this scope.
    required_scope: str | None = None
    # (collection or "token", query parameters, status answered)
    requests: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)
    _served: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route(f"{ROSTERING}/users/{{sourced_id}}", self.one_user),
                Route(f"{ROSTERING}/{{collection}}", self.collection),
            ]
        )

    def asked(self, collection: str) -> list[dict[str, str]]:
        return [query for name, query, _ in self.requests if name == collection]

    def statuses(self, collection: str) -> list[int]:
        return [status for name, _, status in self.requests if name == collection]

    def _answer(self, name: str, query: dict[str, str], response: Response) -> Response:
        self.requests.append((name, query, response.status_code))
        return response

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return self._answer("token", form, JSONResponse({"error": "invalid_client"}, 401))
        if form.get("grant_type") != "client_credentials":
            return self._answer(
                "token", form, JSONResponse({"error": "unsupported_grant_type"}, 400)
            )
        if self.required_scope is not None and form.get("scope") != self.required_scope:
            return self._answer("token", form, JSONResponse({"error": "invalid_scope"}, 400))
        token = secrets.token_urlsafe(16)
        self._tokens[token] = time.monotonic() + self.token_seconds
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}
        return self._answer("token", form, JSONResponse(answer))

    def _authorized(self, request: Request) -> bool:
        self._served += 1
        if self.revoke_after is not None and self._served > self.revoke_after:
            self.revoke_after = None
            self._tokens.clear()
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        expires = self._tokens.get(bearer)
        return expires is not None and time.monotonic() < expires

    async def one_user(self, request: Request) -> Response:
        sourced_id = request.path_params["sourced_id"]
        if not self._authorized(request):
            return self._answer("user", {}, JSONResponse({"error": "invalid_token"}, 401))
        found = [u for u in self.data["users"] if u["sourcedId"] == sourced_id]
        if not found:
            return self._answer("user", {"sourcedId": sourced_id}, JSONResponse({}, 404))
        return self._answer("user", {"sourcedId": sourced_id}, JSONResponse({"user": found[0]}))

    async def collection(self, request: Request) -> Response:
        name = request.path_params["collection"]
        query = dict(request.query_params)
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._authorized(request):
            return self._answer(name, query, JSONResponse({"error": "invalid_token"}, 401))
        if name not in self.data or (name == "demographics" and not self.offers_demographics):
            return self._answer(name, query, JSONResponse({"error": "not found"}, 404))
        offset, limit = int(query["offset"]), int(query["limit"])
        limit = min(limit, self.max_limit or limit)
        left = self.failing.get((name, offset), 0)
        if left is None or left > 0:
            if left is not None:
                self.failing[(name, offset)] = left - 1
            return self._answer(name, query, Response("upstream unavailable", 503))
        records = self.data[name]
        condition = query.get("filter", "")
        if condition:
            assert condition.startswith("dateLastModified>'")
            assert condition.endswith("'")
            since = dt.datetime.fromisoformat(condition.removeprefix("dateLastModified>'")[:-1])
            records = [
                r for r in records if dt.datetime.fromisoformat(r["dateLastModified"]) > since
            ]
        page = records[offset : offset + limit]
        headers: dict[str, str] = {}
        if self.paging == "total":
            headers["X-Total-Count"] = str(len(records))
        elif self.paging == "link":
            links = [f'<{request.url.replace_query_params(**{**query, "offset": 0})}>; rel="first"']
            if offset + limit < len(records):
                following = {**query, "offset": offset + limit}
                links.append(f'<{request.url.replace_query_params(**following)}>; rel="next"')
            headers["Link"] = ", ".join(links)
        return self._answer(name, query, JSONResponse({name: page}, headers=headers))


@asynccontextmanager
async def running_provider(export: Path, **behaviour: Any) -> AsyncIterator[Provider]:
    """The provider serving ``export`` on a free loopback port, in this event loop."""
    provider = Provider(records_from_export(export), **behaviour)
    config = uvicorn.Config(
        provider.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
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
