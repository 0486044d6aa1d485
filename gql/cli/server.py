"""``accessgraph serve``: the app under uvicorn."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from gql.auth.rate_limits import MEMORY_WITH_WORKERS
from gql.cli.errors import EXIT_USAGE, CliError
from gql.http.observability import logging_config
from gql.settings import Settings


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    # uvicorn's loggers and the app's through one formatter (JSON lines with
    # the request id); uvicorn's access log is off, the app writes its own.
    logs: dict[str, Any] = {
        "log_config": logging_config(settings.log_format, settings.log_level),
        "access_log": False,
        **proxy_options(settings),
    }
    if workers > 1:
        if settings.rate_limit_backend == "memory":
            # Each worker would count on its own: refused in prod, a
            # warning in dev (load tests on one machine).
            message = MEMORY_WITH_WORKERS.format(workers=workers)
            if not settings.is_dev:
                raise CliError(f"refusing to start: {message}", EXIT_USAGE)
            print(f"warning: {message}", file=sys.stderr)
        # Each worker process builds its own app from the environment.
        uvicorn.run(
            "gql.cli.server:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **logs,
        )
        return 0
    from gql.http.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, **logs)
    return 0


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, so anything
    on the machine could choose the address its attempts count against. Only
    the proxies ACCESSGRAPH_FORWARDED_ALLOW_IPS names are trusted; none when
    it is empty."""
    trusted = settings.forwarded_allow_ips.strip()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def app_from_environment() -> object:
    from gql.http.app import create_app

    return create_app(Settings())
