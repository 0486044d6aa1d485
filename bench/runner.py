"""Runs the benchmark: servers, identity check, saturation, fixed rate, results.

For each database and workload, every peer's server is started fresh (its own
process pinned to core 0, while this process, the load generator, is pinned
to core 1), every request variant is sent once to every peer and the response
bodies are hash-compared (a mismatch stops the run), and then each peer in
turn is measured: first at saturation (closed loop), then at one fixed rate
for all peers (open loop; by default half of P3's saturation throughput).
W4 writes: its data is reset before each peer and phase, and each request
revokes a grant no earlier request of the phase revoked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine.url import make_url

from bench import fixtures, loadgen
from bench.fixtures import Cast
from bench.serve import settings_for
from bench.stats import STATS_PATH
from bench.techniques import DATABASE_VARIANTS
from bench.workloads import (
    W3_CURSORS,
    WORKLOADS,
    Workload,
    body,
    global_id,
    requests_for,
    variant_count,
)

RESULTS_DIR = fixtures.DATA_DIR / "results"
LOG_DIR = fixtures.DATA_DIR / "logs"
SERVER_CORE = 0
LOADGEN_CORE = 1
BASE_PORT = 18300
# A request slower than this alone (1,000,000 students' W3 takes seconds of
# PostgreSQL time) is database-bound: two connections, one per core, already
# saturate, and more would only queue into the server's statement timeout.
SLOW_REQUEST_SECONDS = 0.25
SLOW_CONCURRENCY = 2
# Windows are stretched to see at least this many requests, up to MAX_WINDOW.
MIN_REQUESTS_PER_WINDOW = 12
MAX_WINDOW_SECONDS = 20.0


class BenchError(Exception):
    """The run cannot produce honest numbers (a mismatch, a failing peer)."""


@dataclass
class Options:
    backends: list[str]
    students: int
    duration: float
    warmup: float
    workloads: list[str]
    peers: list[str]
    concurrency: int = 16
    rate_fraction: float = 0.5
    fixed_rate: float | None = None
    restart_per_workload: bool = True
    loop: str = "uvloop"
    http: str = "httptools"
    profile: bool = False
    # The fixed-rate phase (off for --techniques: throughput, statements, CPU).
    latency: bool = True
    # What the results are saved as: "peers" (P0, P2, P3) or "techniques".
    kind: str = "peers"


@dataclass
class Cell:
    """One workload x peer x database."""

    backend: str
    students: int
    workload: str
    peer: str
    saturation_rps: float = 0.0
    saturation_p50_ms: float = 0.0
    saturation_p99_ms: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    achieved_rate: float = 0.0
    # The server could not keep up with the fixed rate (its saturation is
    # below it, or within 10% of it): its latencies are a queue, not a service time.
    overloaded: bool = False
    # Counted over the identity check's requests, sent one at a time: exact.
    statements_per_request: float = 0.0
    # Over the saturation window (requests in flight at its edges blur it).
    statements_per_request_at_saturation: float = 0.0
    background_statements: int = 0
    cpu_ms_per_request: float = 0.0
    postgres_cpu_ms_per_request: float | None = None
    max_rss_mib: float = 0.0
    errors: int = 0
    first_error: str | None = None
    response_sha256: str = ""
    # Connections at saturation and the windows' lengths, when they differ
    # from the run's (slow, database-bound requests: see runner.SLOW_REQUEST_SECONDS).
    concurrency: int = 0
    saturation_seconds: float = 0.0
    rate_seconds: float = 0.0
    # The slowest of the identity check's requests, sent one at a time.
    single_request_ms: float = 0.0
    # The machine is shared: the 1-minute load average when the cell ended.
    load_average: float = 0.0
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- servers


class Server:
    def __init__(
        self, peer: str, backend: str, database_url: str, port: int, options: Options
    ) -> None:
        self.peer = peer
        self.port = port
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{peer}-{backend}.log"
        self.profile_path: Path | None = None
        self.command = [
            sys.executable,
            "-m",
            "bench.serve",
            "--peer",
            peer,
            "--database-url",
            database_url,
            "--port",
            str(port),
            "--core",
            str(SERVER_CORE),
            "--loop",
            options.loop,
            "--http",
            options.http,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, profile_path: Path | None = None) -> None:
        command = list(self.command)
        if profile_path is not None:
            command += ["--profile", str(profile_path)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=fixtures.ROOT, stdout=log, stderr=subprocess.STDOUT
        )

    async def ready(self, within: float = 90.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"{self.peer} exited at start; see {self.log_path}")
            if await self._answers():
                return
            await asyncio.sleep(0.1)
        raise BenchError(f"{self.peer} did not start in {within:.0f} s; see {self.log_path}")

    async def _answers(self) -> bool:
        try:
            await self.stats()
        except OSError:
            return False
        return True

    async def stats(self) -> dict[str, float]:
        status, raw = await loadgen.fetch(
            self.port, loadgen.http_request(self.port, STATS_PATH, b"", method="GET")
        )
        if status != 200:
            raise OSError(f"stats answered {status}")
        stats: dict[str, float] = orjson.loads(raw)
        return stats

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


async def start_all(servers: list[Server]) -> None:
    for server in servers:
        server.start()
    await asyncio.gather(*(server.ready() for server in servers))


# ---------------------------------------------------------------- PostgreSQL's own CPU


async def postgres_cpu(database_url: str) -> float | None:
    """CPU seconds the whole PostgreSQL cluster has used so far: the
    postmaster, its live children (backends, parallel workers, background
    processes) and the children that have exited (the postmaster's cutime
    and cstime). PostgreSQL runs outside the pinned server process, and
    counting the cluster catches parallel workers and short-lived backends
    that no per-backend reading sees; it also counts any other database's
    work, which is why the full run needs a quiet machine."""
    if not database_url.startswith("postgres"):
        return None
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        backend = int(await connection.fetchval("SELECT pg_backend_pid()"))
        postmaster = int(_stat(backend)[1])
        return _cluster_cpu_seconds(postmaster)
    except (OSError, IndexError, ValueError):
        # PostgreSQL on another machine (or in a container): not measured.
        return None
    finally:
        await connection.close()


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (stat(5) from field 3)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cluster_cpu_seconds(postmaster: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    own = _stat(postmaster)
    # utime, stime, cutime, cstime: fields 14-17 of stat(5).
    total = sum(int(v) for v in own[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# ---------------------------------------------------------------- requests


def _check_for(workload: Workload) -> loadgen.Check:
    def check(status: int, raw: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {raw[:300]!r}"
        if b'"errors"' in raw:
            return f"GraphQL errors: {raw[:300]!r}"
        if workload.mutates and b'"userErrors":[]' not in raw:
            return f"user errors (a grant revoked twice?): {raw[:300]!r}"
        return None

    return check


@dataclass
class Target:
    """How to reach one peer: its server and the path of this workload."""

    server: Server
    path: str


def request_maker(
    workload: Workload,
    cast: Cast,
    tokens: dict[int, str],
    target: Target,
    page_50_after: str | None,
) -> loadgen.MakeRequest:
    nth = requests_for(workload, cast, page_50_after=page_50_after)
    port, path = target.server.port, target.path

    def build(index: int) -> bytes:
        request = nth(index)
        return loadgen.http_request(port, path, request.body, token=tokens[request.account_id])

    if workload.mutates:
        return build
    prebuilt = [build(i) for i in range(variant_count(workload, cast))]
    return lambda index: prebuilt[index % len(prebuilt)]


async def walk_to_page_50(server: Server, cast: Cast, tokens: dict[int, str]) -> str:
    """Page 50's ``after``: the end cursor of page 49, walking from page 1."""
    after: str | None = None
    token = tokens[cast.district_admin.account_id]
    for _ in range(49):
        variables = {"id": global_id("District", cast.district_id), "after": after}
        status, raw = await loadgen.fetch(
            server.port,
            loadgen.http_request(server.port, "/graphql", body(W3_CURSORS, variables), token=token),
        )
        payload = orjson.loads(raw)
        if status != 200 or payload.get("errors"):
            raise BenchError(f"walking the cursors failed: {raw[:500]!r}")
        after = payload["data"]["node"]["crossSchoolLinks"]["pageInfo"]["endCursor"]
        if after is None:
            raise BenchError("the district has fewer than 50 pages of cross-school links")
    assert after is not None
    return after


# ---------------------------------------------------------------- one workload


async def identity_check(
    workload: Workload,
    cast: Cast,
    makers: dict[str, loadgen.MakeRequest],
    targets: dict[str, Target],
) -> tuple[dict[str, str], dict[str, float], dict[str, float]]:
    """Every variant, every peer, byte for byte; W4 from the same state.
    Also each peer's statements per request over these requests, sent one
    at a time (the stats requests themselves run none)."""
    count = variant_count(workload, cast)
    digests: dict[str, str] = {}
    check = _check_for(workload)
    before = {peer: await targets[peer].server.stats() for peer in makers}
    slowest = dict.fromkeys(makers, 0.0)
    for index in range(count):
        bodies: dict[str, bytes] = {}
        for peer, make in makers.items():
            if workload.mutates:
                await fixtures.reset(cast)
            began = time.perf_counter()
            status, raw = await loadgen.fetch(targets[peer].server.port, make(index))
            slowest[peer] = max(slowest[peer], time.perf_counter() - began)
            problem = check(status, raw)
            if problem is not None:
                raise BenchError(f"{workload.key} on {peer} ({cast.backend}): {problem}")
            bodies[peer] = raw
        hashes = {peer: hashlib.sha256(raw).hexdigest() for peer, raw in bodies.items()}
        if len(set(hashes.values())) > 1:
            dump = fixtures.DATA_DIR / f"mismatch-{cast.backend}-{workload.key}-{index}.json"
            dump.write_bytes(
                orjson.dumps(
                    {peer: raw.decode() for peer, raw in bodies.items()}, option=orjson.OPT_INDENT_2
                )
            )
            raise BenchError(
                f"{workload.key} variant {index} on {cast.backend}: the peers' responses differ "
                f"({', '.join(f'{p} {h[:12]}' for p, h in hashes.items())}); bodies in {dump}"
            )
        for peer, digest in hashes.items():
            digests.setdefault(peer, digest)
    if workload.mutates:
        await fixtures.reset(cast)
    statements: dict[str, float] = {}
    for peer in makers:
        after = await targets[peer].server.stats()
        served = max(1.0, after["requests"] - before[peer]["requests"])
        statements[peer] = round((after["statements"] - before[peer]["statements"]) / served, 2)
    return digests, statements, slowest


async def measure_workload(
    workload: Workload,
    cast: Cast,
    options: Options,
    targets: dict[str, Target],
    tokens: dict[int, str],
    page_50_after: str | None,
    say: Callable[[str], None],
) -> list[Cell]:
    makers = {
        peer: request_maker(workload, cast, tokens, targets[peer], page_50_after)
        for peer in options.peers
    }
    digests, exact_statements, slowest = await identity_check(workload, cast, makers, targets)
    say(
        f"  {workload.key}: identical responses from {', '.join(makers)} ({variant_count(workload, cast)} variant(s))"
    )
    check = _check_for(workload)
    limit = len(cast.pool) if workload.mutates else None
    cells: dict[str, Cell] = {}
    for peer in options.peers:
        server = targets[peer].server
        if workload.mutates:
            await fixtures.reset(cast)
        marks: dict[str, Any] = {}
        dropped = await fixtures.drop_indexes(cast) if peer in DATABASE_VARIANTS else None
        concurrency, duration = options.concurrency, options.duration
        if slowest[peer] > SLOW_REQUEST_SECONDS:
            concurrency = min(concurrency, SLOW_CONCURRENCY)
            duration = min(
                MAX_WINDOW_SECONDS,
                max(duration, MIN_REQUESTS_PER_WINDOW * slowest[peer] / concurrency),
            )

        async def window_start(server: Server = server, marks: dict[str, Any] = marks) -> None:
            marks["stats"] = await server.stats()
            marks["pg"] = await postgres_cpu(cast.database_url)

        try:
            measured = await loadgen.closed_loop(
                server.port,
                makers[peer],
                check,
                concurrency=concurrency,
                warmup=options.warmup,
                duration=duration,
                limit=limit,
                on_window_start=window_start,
            )
            after = await server.stats()
            pg_after = await postgres_cpu(cast.database_url)
        finally:
            if dropped is not None:
                await fixtures.restore_indexes(cast)
        before = marks["stats"]
        served = max(1.0, after["requests"] - before["requests"])
        cell = Cell(
            backend=cast.backend,
            students=cast.students,
            workload=workload.key,
            peer=peer.upper(),
            saturation_rps=round(measured.rate, 2),
            saturation_p50_ms=round(measured.percentile(0.5) * 1000, 2),
            saturation_p99_ms=round(measured.percentile(0.99) * 1000, 2),
            statements_per_request=exact_statements[peer],
            statements_per_request_at_saturation=round(
                (after["statements"] - before["statements"]) / served, 2
            ),
            background_statements=int(
                after["background_statements"] - before["background_statements"]
            ),
            cpu_ms_per_request=round(
                (after["cpu_seconds"] - before["cpu_seconds"]) / served * 1000, 3
            ),
            errors=measured.errors,
            first_error=measured.first_error,
            response_sha256=digests[peer],
            concurrency=concurrency,
            saturation_seconds=round(measured.seconds, 1),
            single_request_ms=round(slowest[peer] * 1000, 1),
        )
        if concurrency != options.concurrency or duration != options.duration:
            cell.notes.append(
                f"one request alone took {slowest[peer] * 1000:.0f} ms: saturation with "
                f"{concurrency} connections over {duration:.0f} s"
            )
        if pg_after is not None and marks["pg"] is not None:
            cell.postgres_cpu_ms_per_request = round((pg_after - marks["pg"]) / served * 1000, 3)
        if measured.stopped_early:
            cell.notes.append(
                f"saturation window cut to {measured.seconds:.1f} s: W4's pool ran out"
            )
        if measured.errors:
            # Counted, shown, not fatal: a server that fails under load (a
            # statement timeout, say) is a result. Wrong answers stop the run
            # in the identity check instead.
            cell.notes.append(
                f"{measured.errors} failed requests at saturation, first: {measured.first_error}"
            )
        if dropped is not None:
            cell.notes.append(f"measured without {len(dropped)} secondary indexes")
        cell.max_rss_mib = round(after["max_rss_kib"] / 1024, 1)
        cell.load_average = round(os.getloadavg()[0], 2)
        cells[peer] = cell
        say(
            f"    {peer.upper()} saturation {cell.saturation_rps:8.1f} req/s, "
            f"{cell.statements_per_request:g} statements/req, {cell.cpu_ms_per_request:.3f} ms CPU/req"
        )
    if not options.latency:
        if workload.mutates:
            await fixtures.reset(cast)
        return list(cells.values())
    rate = options.fixed_rate
    if rate is None:
        basis = cells.get("p3") or max(cells.values(), key=lambda c: c.saturation_rps)
        rate = max(0.1, round(basis.saturation_rps * options.rate_fraction, 2))
    # A slow workload's fixed rate is low: its window is stretched to see
    # enough requests for a p50 (its p99 stays a few requests' worth).
    rate_window = min(MAX_WINDOW_SECONDS, max(options.duration, MIN_REQUESTS_PER_WINDOW / rate))
    for peer in options.peers:
        server = targets[peer].server
        if workload.mutates:
            await fixtures.reset(cast)
        measured = await loadgen.open_loop(
            server.port,
            makers[peer],
            check,
            rate=rate,
            warmup=options.warmup,
            duration=rate_window,
            limit=limit,
        )
        cell = cells[peer]
        cell.rate = rate
        cell.rate_seconds = rate_window
        cell.p50_ms = round(measured.percentile(0.5) * 1000, 2)
        cell.p99_ms = round(measured.percentile(0.99) * 1000, 2)
        cell.achieved_rate = round(measured.rate, 1)
        # Within 10% of its saturation a peer's queue already dominates its latency.
        cell.overloaded = cell.saturation_rps < rate * 1.1
        if measured.errors:
            cell.errors += measured.errors
            cell.notes.append(
                f"{measured.errors} failed requests at {rate:g} req/s, first: {measured.first_error}"
            )
        if measured.stopped_early:
            cell.notes.append("fixed-rate window cut short: W4's pool ran out")
        if cell.overloaded and cell.saturation_rps > 0:
            # Its own service time too: at half its own saturation throughput.
            own = max(0.1, round(cell.saturation_rps * options.rate_fraction, 2))
            if workload.mutates:
                await fixtures.reset(cast)
            relaxed = await loadgen.open_loop(
                server.port,
                makers[peer],
                check,
                rate=own,
                warmup=options.warmup,
                duration=min(
                    MAX_WINDOW_SECONDS, max(options.duration, MIN_REQUESTS_PER_WINDOW / own)
                ),
                limit=limit,
            )
            cell.notes.append(
                f"at {own:g} req/s (half its own saturation): p50 "
                f"{relaxed.percentile(0.5) * 1000:.2f} ms, p99 {relaxed.percentile(0.99) * 1000:.2f} ms"
            )
        cell.max_rss_mib = round((await server.stats())["max_rss_kib"] / 1024, 1)
        cell.load_average = round(os.getloadavg()[0], 2)
        say(
            f"    {peer.upper()} at {rate:g} req/s: p50 {cell.p50_ms:.2f} ms, p99 {cell.p99_ms:.2f} ms"
            + (" (overloaded)" if cell.overloaded else "")
        )
    if workload.mutates:
        await fixtures.reset(cast)
    return list(cells.values())


# ---------------------------------------------------------------- one database


def tokens_for(cast: Cast) -> dict[int, str]:
    from gql.http.app import signer_for

    signer = signer_for(settings_for(cast.database_url))
    now = dt.datetime.now(dt.UTC)
    return {
        viewer.account_id: signer.issue(
            account_id=viewer.account_id, session_id=viewer.session_id, now=now
        )
        for viewer in cast.viewers()
    }


async def run_backend(cast: Cast, options: Options, say: Callable[[str], None]) -> list[Cell]:
    tokens = tokens_for(cast)
    await fixtures.reset(cast)
    peers = list(options.peers)
    # P3 walks the cursors for page 50 even when it is not measured.
    wanted = [*peers, *(["p3"] if "p3" not in peers and "W3p50" in options.workloads else [])]
    servers = {
        peer: Server(peer, cast.backend, cast.database_url, BASE_PORT + index, options)
        for index, peer in enumerate(wanted)
    }
    targets = {peer: Target(servers[peer], "/graphql" if peer != "p0" else "") for peer in servers}
    cells: list[Cell] = []
    page_50_after: str | None = None
    try:
        await start_all(list(servers.values()))
        if "W3p50" in options.workloads:
            page_50_after = await walk_to_page_50(servers["p3"], cast, tokens)
        for key in options.workloads:
            workload = WORKLOADS[key]
            for peer in peers:
                targets[peer].path = workload.p0_path if peer == "p0" else "/graphql"
            if options.restart_per_workload:
                for server in servers.values():
                    server.stop()
                await start_all(list(servers.values()))
            say(f"{cast.backend}, {cast.students:,} students, {key}: {workload.title}")
            cells += await measure_workload(
                workload, cast, options, targets, tokens, page_50_after, say
            )
    finally:
        for server in servers.values():
            server.stop()
        await fixtures.reset(cast)
    return cells


async def profile_backend(cast: Cast, options: Options, say: Callable[[str], None]) -> list[Path]:
    """P3 alone under pyinstrument, at saturation, one report per workload."""
    tokens = tokens_for(cast)
    await fixtures.reset(cast)
    server = Server("p3", cast.backend, cast.database_url, BASE_PORT, options)
    written: list[Path] = []
    page_50_after: str | None = None
    out = fixtures.DATA_DIR / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    try:
        for key in options.workloads:
            workload = WORKLOADS[key]
            path = out / f"p3-{cast.backend}-n{cast.students}-{key}.txt"
            server.start(profile_path=path)
            await server.ready()
            if key == "W3p50":
                page_50_after = await walk_to_page_50(server, cast, tokens)
            make = request_maker(workload, cast, tokens, Target(server, "/graphql"), page_50_after)
            await loadgen.closed_loop(
                server.port,
                make,
                _check_for(workload),
                concurrency=options.concurrency,
                warmup=options.warmup,
                duration=options.duration,
                limit=len(cast.pool) if workload.mutates else None,
            )
            server.stop()
            if workload.mutates:
                await fixtures.reset(cast)
            written.append(path)
            say(f"  profile of P3 {key} on {cast.backend}: {path}")
    finally:
        server.stop()
        await fixtures.reset(cast)
    return written


# ---------------------------------------------------------------- the machine


def _command(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    import sqlite3
    from importlib.metadata import version

    import sqlalchemy

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), ""
    )
    cores = sum(1 for line in cpuinfo if line.startswith("processor"))
    memory = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "",
    )
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": cores,
        "nproc": os.cpu_count(),
        "memory_gib": round(int(memory or 0) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "strawberry": version("strawberry-graphql"),
        "graphql-core": version("graphql-core"),
        "sqlalchemy": sqlalchemy.__version__,
        "uvicorn": version("uvicorn"),
        "sqlite": sqlite3.sqlite_version,
        "load_average": os.getloadavg(),
        # What was measured: the commit, and whether the server's packages
        # had uncommitted changes (read-only git commands).
        "commit": _command("git", "-C", str(fixtures.ROOT), "rev-parse", "--short", "HEAD"),
        "server_changes_uncommitted": bool(
            _command(
                "git",
                "-C",
                str(fixtures.ROOT),
                "status",
                "--porcelain",
                "--",
                "gql",
                "schema",
                "resolvers",
                "permissions",
            )
        ),
        "pinning": f"server process on core {SERVER_CORE}, load generator on core {LOADGEN_CORE}; "
        "PostgreSQL not pinned",
    }


async def postgres_version() -> str:
    dsn = (
        make_url(fixtures.POSTGRES_ADMIN_URL)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def save(cells: list[Cell], options: Options, info: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"run-{stamp}.json"
    payload = {"machine": info, "options": asdict(options), "cells": [asdict(c) for c in cells]}
    path.write_text(json.dumps(payload, indent=2))
    for backend in {c.backend for c in cells}:
        latest = latest_path(backend, options.students, options.kind)
        subset = {**payload, "cells": [asdict(c) for c in cells if c.backend == backend]}
        latest.write_text(json.dumps(subset, indent=2))
    return path


def latest_path(backend: str, students: int, kind: str = "peers") -> Path:
    prefix = "latest" if kind == "peers" else f"latest-{kind}"
    return RESULTS_DIR / f"{prefix}-{backend}-n{students}.json"


def load_latest_run(backend: str, students: int, kind: str = "peers") -> dict[str, Any] | None:
    """The saved payload (machine, options, cells) of the latest run, if any."""
    path = latest_path(backend, students, kind)
    if not path.exists():
        return None
    payload: dict[str, Any] = json.loads(path.read_text())
    fields = set(Cell.__dataclass_fields__)
    payload["cells"] = [
        Cell(**{k: v for k, v in raw.items() if k in fields}) for raw in payload["cells"]
    ]
    return payload


def load_latest(backend: str, students: int, kind: str = "peers") -> list[Cell]:
    payload = load_latest_run(backend, students, kind)
    return [] if payload is None else list(payload["cells"])


Runner = Callable[[Cast, Options, Callable[[str], None]], Awaitable[Any]]
