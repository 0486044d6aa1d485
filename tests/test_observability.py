"""Operations through the real app (docs/architecture.md section 7): request ids on every log line,
an access line per request that never carries a secret, and /metrics.

The app runs over the module's permission world (SQLite and PostgreSQL);
log records are caught by a handler on the ``accessgraph`` loggers that
carries the production filter and formatter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.auth.passwords import Argon2Cost, Passwords
from gql.http.app import signer_for
from gql.http.observability import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    accepted_request_id,
    describe_operation,
)
from gql.settings import Settings
from resolvers.directory import schools as school_data
from resolvers.tables import ACCOUNTS
from tests.auth_client import AppClient, auth_settings, serving
from tests.client import gid
from tests.world import World

METRICS_TOKEN = "scrape-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"
DISTRICTS = "query Districts { districts { totalCount } }"


@pytest.fixture(scope="module")
def engine(world_engine: tuple[AsyncEngine, World]) -> AsyncEngine:
    return world_engine[0]


@pytest.fixture(scope="module")
def settings(engine: AsyncEngine) -> Settings:
    return auth_settings(engine, metrics_enabled=True, metrics_token=METRICS_TOKEN)


@pytest.fixture(scope="module")
async def http(settings: Settings) -> AsyncIterator[AppClient]:
    async with serving(settings) as client:
        yield client


class Captured(logging.Handler):
    """Every record of the ``accessgraph`` loggers, as production formats it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def entries(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]

    def access(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["logger"] == "accessgraph.access"]


@pytest.fixture
def logs() -> Iterator[Captured]:
    logger = logging.getLogger("accessgraph")
    handler = Captured()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def bearer(settings: Settings, world: World, who: str) -> dict[str, str]:
    token = signer_for(settings).issue(
        account_id=world[who], session_id=world.sessions[who], now=dt.datetime.now(dt.UTC)
    )
    return {"authorization": f"Bearer {token}"}


def scrape_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {METRICS_TOKEN}"}


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await http.get("/metrics", headers=scrape_headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- request ids ----------------------------------------------------------


async def test_the_access_line_carries_the_request_id_the_response_header_shows(
    http: AppClient, logs: Captured
) -> None:
    response = await http.post(
        "/graphql", json={"query": "query Me { viewer { isAuthenticated } }"}
    )
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    [line] = logs.access()
    assert {k: v for k, v in line.items() if k not in {"time", "duration_ms"}} == {
        "level": "INFO",
        "logger": "accessgraph.access",
        "message": f"POST /graphql 200 {line['duration_ms']:.1f}ms",
        "request_id": request_id,
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "operation_type": "query",
        "operation_name": "Me",
    }
    assert isinstance(line["duration_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


async def test_a_sane_incoming_request_id_is_kept_and_an_unsafe_one_replaced(
    http: AppClient, logs: Captured
) -> None:
    kept = await http.get("/healthz", headers={"x-request-id": "lb-7f3a.2:abc_D-9"})
    assert kept.headers["x-request-id"] == "lb-7f3a.2:abc_D-9"
    for unsafe in ["has space", "x" * 129, "new\\nline", "<script>", ""]:
        replaced = await http.get("/healthz", headers={"x-request-id": unsafe})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), unsafe
    assert logs.access()[0]["request_id"] == "lb-7f3a.2:abc_D-9"
    # Probes log their access line at DEBUG, not INFO.
    assert {e["level"] for e in logs.access()} == {"DEBUG"}


async def test_every_line_of_a_failing_request_carries_its_id_and_the_traceback(
    http: AppClient,
    settings: Settings,
    world: World,
    logs: Captured,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        # Logged inside a resolver, which strawberry may run in a task of its own.
        logging.getLogger("accessgraph.test").warning("about to fail")
        raise RuntimeError("boom in district_page")

    monkeypatch.setattr(school_data, "district_page", broken)
    response = await http.post(
        "/graphql",
        json={"query": DISTRICTS},
        headers=bearer(settings, world, "admin_a") | {"x-request-id": "trace-42"},
    )
    assert response.headers["x-request-id"] == "trace-42"
    [error] = response.json()["errors"]
    assert error == {
        "message": "Internal error. Quote request id trace-42 when reporting it.",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "trace-42"},
        "path": ["districts"],
    }
    entries = logs.entries()
    assert [(e["logger"], e["message"]) for e in entries] == [
        ("accessgraph.test", "about to fail"),
        ("accessgraph", "unexpected error at ['districts']"),
        ("accessgraph.access", entries[-1]["message"]),
    ]
    assert {e["request_id"] for e in entries} == {"trace-42"}
    assert {r.request_id for r in logs.records} == {"trace-42"}  # type: ignore[attr-defined]
    failure = entries[1]
    assert failure["level"] == "ERROR"
    assert failure["exception"].startswith("Traceback (most recent call last):")
    assert failure["exception"].endswith("RuntimeError: boom in district_page")
    assert entries[-1]["error_codes"] == ["INTERNAL_SERVER_ERROR"]


async def test_an_exception_outside_graphql_is_masked_with_the_request_id(
    http: AppClient, engine: AsyncEngine, logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom in login")

    email = "broken.login@home.example.com"
    await _person(engine, email)
    # The sign-in route checks the password through Passwords: break it there.
    monkeypatch.setattr(Passwords, "verify", broken)
    response = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.json() == {
        "errors": [
            {
                "message": f"Internal error. Quote request id {request_id} when reporting it.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }
    entries = logs.entries()
    assert [(e["message"], e["request_id"]) for e in entries] == [
        ("unexpected error", request_id),
        (f"POST /auth/login 500 {entries[1]['duration_ms']:.1f}ms", request_id),
    ]
    assert entries[0]["exception"].endswith("RuntimeError: boom in login")


# --- secrets never logged -------------------------------------------------


async def _person(engine: AsyncEngine, email: str) -> None:
    hashed = await Passwords(Argon2Cost(1, 64, 1)).hash(PASSWORD)
    async with engine.begin() as c:
        await c.execute(
            sa.insert(ACCOUNTS).values(
                kind="GUARDIAN",
                email=email,
                email_verified_at=dt.datetime.now(dt.UTC),
                display_name="Logged Person",
                password_hash=hashed,
                created_at=dt.datetime.now(dt.UTC),
            )
        )


REDEEM = """
mutation Redeem($code: String!) {
  redeemAccessCode(input: {code: $code}) { grant { id } userErrors { code } }
}
"""
ACTIVATE = """
mutation Activate($token: String!, $pin: String!) {
  activateConnection(input: {token: $token, pin: $pin}) { grant { id } userErrors { code } }
}
"""


async def test_passwords_tokens_codes_and_pins_never_reach_the_logs(
    http: AppClient, engine: AsyncEngine, logs: Captured
) -> None:
    email = "logged.person@home.example.com"
    await _person(engine, email)
    wrong = await http.post("/auth/login", json={"email": email, "password": "wrong " + PASSWORD})
    assert wrong.status_code == 401
    signed_in = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    access, refresh = tokens["accessToken"], tokens["refreshToken"]
    auth = {"authorization": f"Bearer {access}"}
    code, pin, link_token = "QWERTYUPKLMN", "482913", "activation-link-token-5f1e2d"
    redeemed = await http.post(
        "/graphql", json={"query": REDEEM, "variables": {"code": code}}, headers=auth
    )
    activated = await http.post(
        "/graphql",
        json={"query": ACTIVATE, "variables": {"token": link_token, "pin": pin}},
        headers=auth,
    )
    assert redeemed.status_code == activated.status_code == 200
    refreshed = await http.post("/auth/refresh", json={"refreshToken": refresh})
    assert refreshed.status_code == 200, refreshed.text

    everything = "\n".join(logs.lines)
    for secret in [PASSWORD, access, refresh, code, pin, link_token, refreshed.text[10:40]]:
        assert secret not in everything
    assert [(e["path"], e["status"], e.get("operation_name")) for e in logs.access()] == [
        ("/auth/login", 401, None),
        ("/auth/login", 200, None),
        ("/graphql", 200, "Redeem"),
        ("/graphql", 200, "Activate"),
        ("/auth/refresh", 200, None),
    ]


# --- metrics --------------------------------------------------------------


async def test_request_counts_and_latency_grow_by_exactly_the_requests_made(
    http: AppClient,
) -> None:
    before = await scrape(http)
    for _ in range(3):
        assert (
            await http.post("/graphql", json={"query": "{ viewer { isAuthenticated } }"})
        ).status_code == 200
    mutation = await http.post("/graphql", json={"query": REDEEM, "variables": {"code": "X"}})
    assert mutation.status_code == 200
    assert (await http.get("/healthz")).status_code == 200
    after = await scrape(http)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    query = {"route": "/graphql", "method": "POST", "operation_type": "query", "status": "200"}
    assert grew("accessgraph_http_requests_total", **query) == 3
    assert grew("accessgraph_http_requests_total", **(query | {"operation_type": "mutation"})) == 1
    health = {"route": "/healthz", "method": "GET", "operation_type": "none", "status": "200"}
    assert grew("accessgraph_http_requests_total", **health) == 1
    latency = {"route": "/graphql", "operation_type": "query"}
    assert grew("accessgraph_http_request_duration_seconds_count", **latency) == 3
    assert grew("accessgraph_http_request_duration_seconds_bucket", **latency, le="+Inf") == 3
    assert grew("accessgraph_http_request_duration_seconds_sum", **latency) > 0


GUARDIAN_CONTACT = (
    "query($id: ID!) { node(id: $id) { ... on Guardian { displayName email phone portalStatus } } }"
)


async def test_errors_are_counted_by_their_code(
    http: AppClient, settings: Settings, world: World
) -> None:
    before = await scrape(http)
    anonymous = await http.post("/graphql", json={"query": DISTRICTS})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forbidden = await http.post(
        "/graphql",
        json={"query": GUARDIAN_CONTACT, "variables": {"id": gid("Guardian", world["g_mother"])}},
        headers=bearer(settings, world, "t_maths"),
    )
    assert [e["extensions"]["code"] for e in forbidden.json()["errors"]] == ["FORBIDDEN"] * 3
    bad_json = await http.post(
        "/graphql", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    not_json = await http.post("/auth/login", content=b"x", headers={"content-type": "text/plain"})
    assert not_json.status_code == 415
    after = await scrape(http)

    def grew(route: str, code: str) -> float:
        return sample(after, "accessgraph_errors_total", route=route, code=code) - sample(
            before, "accessgraph_errors_total", route=route, code=code
        )

    assert grew("/graphql", "UNAUTHENTICATED") == 1
    assert grew("/graphql", "FORBIDDEN") == 3
    assert grew("/graphql", "BAD_REQUEST") == 1
    assert grew("/auth/login", "UNSUPPORTED_MEDIA_TYPE") == 1


async def test_pool_gauges_are_exposed(http: AppClient, backend: Any) -> None:
    samples = await scrape(http)
    assert sample(samples, "accessgraph_db_pool_info", pool="AsyncAdaptedQueuePool") == 1
    size = 10 if backend.name == "postgres" else 5
    assert sample(samples, "accessgraph_db_pool_size") == size
    checked_out = sample(samples, "accessgraph_db_pool_checked_out")
    assert 0 <= checked_out <= size
    assert sample(samples, "accessgraph_db_pool_overflow") == 0
    assert ("accessgraph_db_pool_checked_in", ()) in samples


async def test_metrics_need_the_bearer_token(http: AppClient) -> None:
    assert (await http.get("/metrics")).status_code == 401
    wrong = await http.get("/metrics", headers={"authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == {
        "errors": [
            {
                "message": "Metrics need the bearer token (ACCESSGRAPH_METRICS_TOKEN).",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
    assert (await http.get("/metrics", headers=scrape_headers())).status_code == 200


async def test_metrics_are_off_unless_enabled(engine: AsyncEngine) -> None:
    async with serving(auth_settings(engine)) as client:
        response = await client.get("/metrics", headers=scrape_headers())
        assert response.status_code == 404


async def test_two_apps_keep_their_own_counts(engine: AsyncEngine) -> None:
    settings = auth_settings(engine, metrics_enabled=True)
    async with serving(settings) as first, serving(settings) as second:
        await first.get("/healthz")
        await first.get("/healthz")
        labels = {"route": "/healthz", "method": "GET", "operation_type": "none", "status": "200"}
        assert sample(await scrape_open(first), "accessgraph_http_requests_total", **labels) == 2
        assert sample(await scrape_open(second), "accessgraph_http_requests_total", **labels) == 0


async def scrape_open(
    http: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


# --- settings and formatting (no database) --------------------------------


def test_prod_refuses_public_metrics() -> None:
    prod = {
        "env": "prod",
        "secret_key": "s" * 40,
        "argon2_memory_kib": 19456,
        "argon2_time_cost": 2,
    }
    with pytest.raises(ValidationError, match="ACCESSGRAPH_METRICS_TOKEN"):
        Settings(**prod, metrics_enabled=True)
    assert Settings(**prod, metrics_enabled=True, metrics_token=METRICS_TOKEN).metrics_enabled
    assert Settings(log_level="debug").log_level == "DEBUG"  # type: ignore[arg-type]


def test_request_ids_from_clients_are_bounded_and_plain() -> None:
    assert accepted_request_id("abc-123") == "abc-123"
    assert accepted_request_id("a\r\nb") != "a\r\nb"
    assert len(accepted_request_id(None)) == 32


def test_operation_types_come_from_the_document() -> None:
    assert describe_operation("{ viewer { isAuthenticated } }", None) == (None, "query")
    assert describe_operation("mutation M { x }", None) == ("M", "mutation")
    two = "query A { a } mutation B { b }"
    assert describe_operation(two, "B") == ("B", "mutation")
    assert describe_operation(two, "C") == ("C", "unknown")
    assert describe_operation(two, None) == (None, "unknown")
    assert describe_operation("{ not closed", None) == (None, "unknown")


def test_text_lines_carry_the_request_id_and_extras() -> None:
    record = logging.makeLogRecord(
        {
            "name": "accessgraph.access",
            "levelname": "INFO",
            "msg": "GET /healthz 200",
            "status": 200,
        }
    )
    line = TextFormatter().format(record)
    assert line.endswith(" INFO accessgraph.access [-] GET /healthz 200 status=200")


async def test_accessgraph_serve_writes_uvicorns_lines_and_the_apps_as_json(
    engine: AsyncEngine,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = os.environ | {
        "ACCESSGRAPH_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "ACCESSGRAPH_LOG_FORMAT": "json",
        "ACCESSGRAPH_LOG_LEVEL": "info",
    }
    server = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("accessgraph")),
        "serve",
        "--port",
        str(port),
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            response = await client.post(
                "/graphql",
                json={"query": "query Me { viewer { isAuthenticated } }"},
                headers={"x-request-id": "served-1"},
            )
            assert response.headers["x-request-id"] == "served-1"
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(server.communicate(), timeout=20)
    entries = [orjson.loads(line) for line in stderr.decode().splitlines()]
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "accessgraph.access"} <= loggers
    assert "uvicorn.access" not in loggers
    assert any(e["message"] == "Application startup complete." for e in entries)
    [served] = [e for e in entries if e["logger"] == "accessgraph.access"]
    assert (served["request_id"], served["operation_name"], served["status"]) == (
        "served-1",
        "Me",
        200,
    )
