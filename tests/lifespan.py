"""Running an ASGI app's lifespan as a server does, for httpx's transport.

httpx's ``ASGITransport`` sends requests but runs no lifespan, and the app's
state (``gql.http.state``) reaches requests only as the lifespan state a
server copies into each request's scope. ``started(app)`` speaks the ASGI
lifespan protocol to the app (startup, later shutdown), as uvicorn does,
and gives back the app wrapped so that every request carries a copy of
that state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@asynccontextmanager
async def started(app: ASGIApp) -> AsyncIterator[ASGIApp]:
    state: dict[str, Any] = {}
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    running = asyncio.create_task(app(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    started_message = await from_app.get()
    if started_message["type"] != "lifespan.startup.complete":
        await running  # raises what failed the startup
        raise RuntimeError(started_message.get("message", "the lifespan did not start"))

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    try:
        yield with_state
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await from_app.get()
        await running
        if stopped["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(stopped.get("message", "the lifespan did not stop"))
