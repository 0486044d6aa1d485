"""What a server under test reports about itself: requests, statements, CPU, memory.

Every peer runs inside ``Instrumented``, the same thin ASGI wrapper, so the
numbers are taken the same way for all three. Statements are counted only
while a request is being handled (a context variable set around it): the
server's own background work (the outbox mailer of P3) is counted apart, so
statements per request are the request's own.

P2 and P3 reach the database through SQLAlchemy: a ``before_cursor_execute``
listener on the ``Engine`` class sees every statement of every engine the
process makes. P0 talks to the drivers directly and calls ``count_statement``.
"""

from __future__ import annotations

import contextvars
import resource
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

STATS_PATH = "/__bench/stats"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_IN_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


@dataclass
class Counters:
    requests: int = 0
    statements: int = 0
    background_statements: int = 0


COUNTERS = Counters()


def count_statement() -> None:
    if _IN_REQUEST.get():
        COUNTERS.statements += 1
    else:
        COUNTERS.background_statements += 1


def listen_to_sqlalchemy() -> None:
    """Count every statement any SQLAlchemy engine of this process executes."""

    def before_cursor_execute(*_: Any) -> None:
        count_statement()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before_cursor_execute)


def snapshot() -> dict[str, float | int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "requests": COUNTERS.requests,
        "statements": COUNTERS.statements,
        "background_statements": COUNTERS.background_statements,
        # All threads of the process: aiosqlite's worker threads included.
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "process_time": time.process_time(),
        "max_rss_kib": usage.ru_maxrss,
    }


class Instrumented:
    """Counts finished HTTP requests and answers ``GET /__bench/stats``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATS_PATH:
            body = orjson.dumps(snapshot())
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        token = _IN_REQUEST.set(True)
        try:
            await self.app(scope, receive, send)
        finally:
            _IN_REQUEST.reset(token)
            COUNTERS.requests += 1
