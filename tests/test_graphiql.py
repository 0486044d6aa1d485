"""GraphiQL comes with the project: no CDN, a strict CSP, dev only.

The page references only same-origin assets, each of which is served, and
runs no inline script (docs/architecture.md section 7: the CSP allows
scripts from this origin only).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import get_introspection_query
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.http.app import create_app
from gql.http.graphiql import CONTENT_SECURITY_POLICY, installed
from gql.settings import Settings
from tests.lifespan import started
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")
SECRET = "a-test-secret-that-is-long-enough-for-prod-0123456789"


async def _client(
    world_engine: tuple[AsyncEngine, World], env: str
) -> AsyncIterator[httpx.AsyncClient]:
    engine, _ = world_engine
    settings = Settings(
        env=env,  # type: ignore[arg-type]
        secret_key=SECRET,
        database_url=engine.url.render_as_string(hide_password=False),
    )
    app = create_app(settings)
    async with started(app) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture(scope="module")
async def dev(world_engine: tuple[AsyncEngine, World]) -> AsyncIterator[httpx.AsyncClient]:
    assert installed(), "GraphiQL's assets are missing: run `make install` (npm ci in tools/)"
    async for client in _client(world_engine, "dev"):
        yield client


@pytest.fixture(scope="module")
async def prod(world_engine: tuple[AsyncEngine, World]) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(world_engine, "prod"):
        yield client


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_the_page_loads_only_same_origin_assets_and_each_is_served(
    dev: httpx.AsyncClient,
) -> None:
    page = await dev.get("/graphql", headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    html = page.text
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references == [
        "/graphiql/graphiql.min.css",
        "/graphiql/graphiql-page.css",
        "/graphiql/react.production.min.js",
        "/graphiql/react-dom.production.min.js",
        "/graphiql/graphiql.min.js",
        "/graphiql/graphiql-init.js",
    ]
    # No inline script or style, nothing from elsewhere.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert " style=" not in html
    assert "//" not in "".join(references)
    kinds = {"css": "text/css", "js": "text/javascript"}
    for reference in references:
        asset = await dev.get(reference)
        assert asset.status_code == 200, reference
        assert asset.headers["content-type"].startswith(kinds[reference.rsplit(".", 1)[1]])
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 30


@pytest.mark.parametrize(
    "path",
    ["/graphiql/package.json", "/graphiql/..%2Fpackage.json", "/graphiql/", "/graphiql/x.js"],
)
async def test_nothing_else_is_served_from_the_assets(dev: httpx.AsyncClient, path: str) -> None:
    assert (await dev.get(path)).status_code == 404


async def test_the_csp_allows_scripts_from_this_origin_only() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


async def test_there_is_no_graphiql_in_prod(prod: httpx.AsyncClient) -> None:
    page = await prod.get("/graphql", headers=BROWSER)
    assert page.status_code == 405
    assert (await prod.get("/graphiql/graphiql.min.js")).status_code == 404


async def test_graphiqls_introspection_query_passes_the_limits_in_dev(
    dev: httpx.AsyncClient,
) -> None:
    # What GraphiQL sends on load: deep (TypeRef nests ofType seven times),
    # through fragments on introspection types, which do not count as depth.
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    response = await dev.post(
        "/graphql",
        json={"query": query, "operationName": "IntrospectionQuery"},
        headers={"accept": "application/graphql-response+json, application/json;q=0.9"},
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"] == {"name": "Query", "kind": "OBJECT"}
