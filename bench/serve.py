"""One server under test, as its own process: ``python -m bench.serve``.

Pins itself to one core before importing anything heavy, builds the peer's
ASGI app inside ``bench.stats.Instrumented`` and runs it under uvicorn (one
worker, no access log: the same for every peer). With ``--profile`` it samples
itself with pyinstrument and writes the report when it is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

# The secret every peer signs and verifies tokens with (bench data only).
BENCH_SECRET = "bench-only-secret-not-for-production-0123456789abcdef"


def settings_for(database_url: str) -> Any:
    """P3's settings: production mode, as deployed; tokens that outlive a
    run; depth 12, because W2 (the revoke view as the issue specifies it) is
    12 levels deep and the default limit is 10."""
    from gql.settings import Settings

    return Settings(
        env="prod",
        database_url=database_url,
        secret_key=BENCH_SECRET,
        access_token_minutes=24 * 60,
        max_depth=12,
    )


def build(peer: str, database_url: str) -> Any:
    from bench.stats import Instrumented, listen_to_sqlalchemy
    from gql.http.app import signer_for

    settings = settings_for(database_url)
    signer = signer_for(settings)
    if peer == "p0":
        from bench.peer_p0 import create_app as p0

        return Instrumented(p0(database_url, signer, settings.cursor_key()))
    listen_to_sqlalchemy()
    if peer == "p2":
        from bench.peer_p2 import create_app as p2

        return Instrumented(p2(database_url, signer, settings.cursor_key()))
    from bench.techniques import apply, is_p3_variant

    if is_p3_variant(peer):
        # P3 itself, or P3 with one technique switched off (bench/techniques.py).
        apply(peer)
        from gql.http.app import create_app as p3

        return Instrumented(p3(settings))
    raise ValueError(f"unknown peer {peer}")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--peer", required=True, help="p0, p2, p3 or a P3 variant (techniques)")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"])
    parser.add_argument("--http", default="httptools", choices=["httptools", "h11"])
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report here on exit")
    args = parser.parse_args(argv)
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})

    import logging

    # Requests that fail are counted by the load generator; per-request log
    # lines would cost every peer the same and tell nothing.
    logging.getLogger("accessgraph").setLevel(logging.ERROR)
    app = build(args.peer, args.database_url)
    profiler = None
    if args.profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop=args.loop,
        http=args.http,
        log_level="warning",
        access_log=False,
        # The open loop keeps idle connections for a queueing server's peaks:
        # uvicorn's 5 s default would close them under the load generator.
        timeout_keep_alive=120,
        lifespan="on",
    )
    server = _Server(config)
    # A graceful stop on SIGTERM that returns here (uvicorn's own handler
    # re-raises the signal after shutdown, which would lose the profile).
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
