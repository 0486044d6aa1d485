"""GraphiQL without a CDN: its assets come with the project (dev only).

``make install`` installs graphiql, react and react-dom from
``tools/package.json`` (``npm ci``); the app serves the four files it needs
from ``tools/node_modules`` and its own start-up script from
``gql/http/static``, under ``/graphiql/``. The page allows nothing from
elsewhere (``CONTENT_SECURITY_POLICY``): no inline script, no CDN, so it
works offline and an injected script would not run. In prod there is no
GraphiQL and no route.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent.parent
NODE_MODULES = ROOT / "tools" / "node_modules"
STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/graphiql/"

# What the page loads: name under /graphiql/ -> file and media type.
ASSETS: dict[str, tuple[Path, str]] = {
    "graphiql.min.css": (NODE_MODULES / "graphiql" / "graphiql.min.css", "text/css"),
    "react.production.min.js": (
        NODE_MODULES / "react" / "umd" / "react.production.min.js",
        "text/javascript",
    ),
    "react-dom.production.min.js": (
        NODE_MODULES / "react-dom" / "umd" / "react-dom.production.min.js",
        "text/javascript",
    ),
    "graphiql.min.js": (NODE_MODULES / "graphiql" / "graphiql.min.js", "text/javascript"),
    "graphiql-init.js": (STATIC / "graphiql-init.js", "text/javascript"),
    "graphiql-page.css": (STATIC / "graphiql-page.css", "text/css"),
}

# Same origin only. Styles: GraphiQL's editors set style attributes as they
# lay text out, so inline styles are allowed (scripts never are); its fonts
# are data: URLs inside its stylesheet.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Access Graph · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/graphiql/graphiql-page.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/react.production.min.js"></script>
<script src="/graphiql/react-dom.production.min.js"></script>
<script src="/graphiql/graphiql.min.js"></script>
<script src="/graphiql/graphiql-init.js"></script>
</body>
</html>
"""

MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GraphiQL is not installed</title></head>
<body><p>GraphiQL's assets are not installed: run <code>make install</code>
(it runs <code>npm ci</code> in <code>tools/</code>).</p></body></html>
"""


def installed() -> bool:
    return all(path.is_file() for path, _ in ASSETS.values())


def graphiql_page() -> Response:
    if not installed():
        return HTMLResponse(MISSING, status_code=503, headers=SECURITY_HEADERS)
    return HTMLResponse(PAGE, headers={**SECURITY_HEADERS, "cache-control": "no-cache"})


async def _asset(request: Request) -> Response:
    found = ASSETS.get(request.path_params["name"])
    if found is None or not found[0].is_file():
        return PlainTextResponse("Not found", status_code=404)
    path, media_type = found
    # Versions change only with package-lock.json: an hour in the browser.
    return FileResponse(
        path,
        media_type=media_type,
        headers={**SECURITY_HEADERS, "cache-control": "public, max-age=3600"},
    )


def graphiql_routes() -> list[Route]:
    return [Route(PREFIX + "{name}", _asset, methods=["GET"])]
