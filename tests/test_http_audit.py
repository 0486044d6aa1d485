"""GraphQL over HTTP: graphql-http's ``auditServer`` against the real server.

The server runs as it does in production (``accessgraph serve``, uvicorn on
a free loopback port) on the test world's database; node runs
``tools/http_audit.mjs`` (the npm packages come from ``tools/package.json``,
installed by ``make install`` with ``npm ci``). Every MUST and every SHOULD
holds, anonymous and with a token; the MAYs left are GET with a query text
(only registered documents run over GET) and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import signer_for
from gql.settings import Settings
from tests.databases import in_ci
from tests.world import World

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
SECRET = "a-test-secret-that-is-long-enough-for-prod-0123456789"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        message = "node (v18 or later) is not installed: the GraphQL-over-HTTP audit needs it"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    if not (TOOLS / "node_modules" / "graphql-http").is_dir():
        pytest.fail("tools/node_modules is missing: run `make install` (npm ci in tools/)")
    return node


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(
    world_engine: tuple[AsyncEngine, World], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The app under uvicorn, and a live token of a district admin."""
    engine, world = world_engine
    database_url = engine.url.render_as_string(hide_password=False)
    port = _free_port()
    env = {
        **os.environ,
        "ACCESSGRAPH_DATABASE_URL": database_url,
        "ACCESSGRAPH_ENV": "dev",
        "ACCESSGRAPH_SECRET_KEY": SECRET,
        "ACCESSGRAPH_LOG_LEVEL": "WARNING",
    }
    accessgraph = Path(sys.executable).parent / "accessgraph"
    log = tmp_path_factory.mktemp("served") / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(accessgraph), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the server did not start within 60 s")
            time.sleep(0.2)
        token = signer_for(Settings(secret_key=SECRET)).issue(
            account_id=world["da_north"],
            session_id=world.sessions["da_north"],
            now=dt.datetime.now(dt.UTC),
        )
        yield f"{base}/graphql", token
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "token"])
def test_the_server_passes_the_graphql_over_http_audit(
    served: tuple[str, str], with_token: bool
) -> None:
    node = _node()
    url, token = served
    if with_token:
        # The token works: the audit's requests are a signed-in viewer's.
        answer = httpx.post(
            url,
            json={"query": "{ viewer { isAuthenticated } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert answer.json() == {"data": {"viewer": {"isAuthenticated": True}}}
    env = (
        {**os.environ, "TOKEN": token}
        if with_token
        else {k: v for k, v in os.environ.items() if k != "TOKEN"}
    )
    run = subprocess.run(
        [node, str(TOOLS / "http_audit.mjs"), url],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    lines = run.stdout.strip().splitlines()
    assert lines, run.stderr
    counts = json.loads(lines[-1])
    assert (counts.get("error", 0), counts.get("warn", 0)) == (0, 0), run.stdout
    assert counts["ok"] >= 50
    assert run.returncode == 0


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found is not None:
            return found
    message = (
        "chromium is not installed: the offline GraphiQL check needs it "
        "(apt-get install chromium; .ci/run installs it)"
    )
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def test_graphiql_renders_in_headless_chromium_with_the_network_cut_off(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """The page's scripts come from this server alone: with every other host
    unresolvable and every non-loopback request sent to a dead proxy, React
    still renders GraphiQL's editor (the served HTML has only a placeholder).
    A screenshot is left in the test's output as evidence."""
    url, _ = served
    offline = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>;127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    served_html = httpx.get(url, headers={"accept": "text/html"}, timeout=10).text
    assert "graphiql-container" not in served_html
    dom = subprocess.run(
        [*offline, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "graphiql-container" in dom
    assert "graphiql-editor" in dom
    screenshot = tmp_path / "graphiql-offline.png"
    subprocess.run(
        [*offline, "--window-size=1400,900", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert screenshot.stat().st_size > 10_000
    print(f"GraphiQL rendered offline; screenshot: {screenshot}")
