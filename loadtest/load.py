"""The load run: a realistic read mix against ``accessgraph serve --workers N``.

    python -m loadtest.load --duration 60 --workers 2 --clients 32

Makes a fresh PostgreSQL database, loads the demo district, signs in a mix
of viewers, serves it on a free loopback port and drives closed-loop clients
(each sends its next request when the last one answers) from this process.
Passes when there was no error at all (non-200, or a GraphQL error other
than the FORBIDDEN fields the role expects), and no worker's memory grew by
more than ``--max-memory-growth`` between the first and last thirds of the
measured window. Prints throughput and latency either way; exits 1 on
failure. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtest.clients import Behaviour, Client, Exchange, Tally, read_loop
from loadtest.harness import (
    DEFAULT_ADMIN_URL,
    ROLES,
    Server,
    Viewer,
    configure_environment,
    create_database,
    create_viewers,
    database_url,
    drop_database,
    latency_line,
    load_demo,
    log,
    role_mix,
)
from loadtest.procfs import (
    MemoryGrowth,
    MemorySample,
    child_pids,
    cpu_snapshot,
    database_backends_cpu,
    machine_cpu,
    memory_growth,
    other_busy_processes,
    sample_memory,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, default=60, help="measured seconds (60)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=20,
        help="seconds of load before measuring (20): pools open, statement caches fill",
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--students", type=int, default=2000, help="demo size (2000)")
    parser.add_argument(
        "--max-memory-growth",
        type=float,
        default=0.10,
        help="largest allowed RSS growth of a worker, first third to last (0.10)",
    )
    parser.add_argument("--sample-interval", type=float, default=2.0, help="RSS sampling (2 s)")
    parser.add_argument(
        "--max-requests-per-client",
        type=int,
        default=100_000,
        help="a second bound on every client's loop besides time (100000)",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL, help="a maintenance DB URL")
    parser.add_argument("--seed", type=int, default=6, help="who signs in and what they ask")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return parser


@dataclass(frozen=True)
class Outcome:
    exchanges: list[Exchange]
    samples: list[MemorySample]
    window: tuple[float, float]
    client_cpu_seconds: float
    worker_cpu_seconds: dict[int, float]
    workers_before: list[int]
    workers_after: list[int]
    server_alive: bool
    # What else ran on the machine while we measured, and its load average.
    other_processes: list[str]
    load_average: tuple[float, float]
    postgres_cpu: float
    # Share of all CPUs busy over the window, and of it stolen by the host.
    machine_busy: float
    machine_steal: float


async def _drive(
    server: Server, viewers: Sequence[Viewer], args: argparse.Namespace, database: str
) -> Outcome:
    start = time.monotonic()
    window = (args.warmup, args.warmup + args.duration)
    until = start + window[1]
    workers = server.worker_pids()
    ours = {server.pid, *child_pids(server.pid)}
    log(f"workers {workers}; {len(viewers)} clients for {args.warmup:.0f} + {args.duration:.0f} s")
    exchanges: list[Exchange] = []
    samples: list[MemorySample] = []
    clients = []
    loops = []
    for index, viewer in enumerate(viewers):
        client = Client(server.base_url, viewer, timeout=30, start=start)
        clients.append(client)
        # Each client its own seeded generator: the same run asks the same
        # questions in the same order per client.
        behaviour = Behaviour(viewer.role, random.Random(args.seed * 1000 + index))  # noqa: S311
        loops.append(
            read_loop(
                client,
                behaviour,
                until=until,
                max_requests=args.max_requests_per_client,
                pause=0,
                exchanges=exchanges,
                delay=args.warmup / 2 * index / len(viewers),
            )
        )
    at_window: dict[str, Any] = {}

    async def mark_window_start() -> None:
        await asyncio.sleep(args.warmup)
        at_window.update(
            time=time.monotonic(),
            process_time=time.process_time(),
            snapshot=cpu_snapshot(),
            load=os.getloadavg()[0],
            machine=machine_cpu(),
        )
        log("warm-up over: measuring")

    try:
        # A hard stop well past the planned end, in case a request hangs.
        async with asyncio.timeout(window[1] + 60):
            await asyncio.gather(
                *loops,
                sample_memory(
                    workers,
                    interval=args.sample_interval,
                    until=until,
                    start=start,
                    samples=samples,
                ),
                mark_window_start(),
            )
    finally:
        for client in clients:
            await client.close()
    elapsed = time.monotonic() - at_window["time"]
    before, after = at_window["snapshot"], cpu_snapshot()
    busy_before, steal_before, total_before = at_window["machine"]
    busy_after, steal_after, total_after = machine_cpu()
    total = max(1.0, total_after - total_before)
    return Outcome(
        exchanges=exchanges,
        samples=samples,
        window=window,
        client_cpu_seconds=time.process_time() - at_window["process_time"],
        worker_cpu_seconds={
            pid: after.get(pid, (0.0, ""))[0] - before.get(pid, (0.0, ""))[0] for pid in workers
        },
        workers_before=workers,
        workers_after=server.worker_pids(),
        server_alive=server.running(),
        other_processes=other_busy_processes(
            before, after, seconds=elapsed, ours=ours, our_database=database
        ),
        load_average=(at_window["load"], os.getloadavg()[0]),
        postgres_cpu=database_backends_cpu(before, after, seconds=elapsed, our_database=database),
        machine_busy=(busy_after - busy_before) / total,
        machine_steal=(steal_after - steal_before) / total,
    )


def _report(
    args: argparse.Namespace, outcome: Outcome, *, roles: Sequence[str], students: int
) -> tuple[list[str], list[str]]:
    """The report's lines and the reasons the run failed (none: it passed)."""
    low, high = outcome.window
    measured = [e for e in outcome.exchanges if low <= e.started and e.ended <= high]
    failed = [e for e in outcome.exchanges if not e.ok]
    lines: list[str] = []
    failures: list[str] = []
    say = lines.append

    say(f"Load run, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    say(
        f"Machine: {os.cpu_count()} CPUs, {_memory_gib():.0f} GiB, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )
    say(f"Command: python -m loadtest.load {' '.join(sys.argv[1:])}".rstrip())
    say(
        f"Data: accessgraph demo --students {args.students} ({students:,} students); "
        f"server: accessgraph serve --workers {args.workers}"
    )
    counts = ", ".join(f"{roles.count(role)} {role}" for role in ROLES)
    say(f"Clients: {len(roles)} ({counts}), closed loop, no think time")
    say(f"Warm-up {args.warmup:.0f} s (not measured), measured {args.duration:.0f} s")
    say("")
    throughput = len(measured) / args.duration
    say(f"Requests measured: {len(measured):,}  throughput {throughput:,.1f} req/s")
    say(f"Errors: {len(failed)} (whole run, warm-up included: {len(outcome.exchanges):,} requests)")
    forbidden = sum(e.expected_forbidden for e in outcome.exchanges)
    say(f"Expected FORBIDDEN fields (teacher/guardian on a student's page): {forbidden:,}")
    say(f"Latency, all measured: {latency_line([e.seconds for e in measured])}")
    say("")
    say("By operation:")
    for name in sorted({e.operation for e in measured}):
        of = [e.seconds for e in measured if e.operation == name]
        say(f"  {name:<17} {len(of):7,}  {len(of) / args.duration:6.1f}/s  {latency_line(of)}")
    say("By role:")
    for role in ROLES:
        of = [e.seconds for e in measured if e.role == role]
        if of:
            say(f"  {role:<17} {len(of):7,}  {len(of) / args.duration:6.1f}/s  {latency_line(of)}")
    say(_slowest_stretch(measured, outcome.samples))
    if failed:
        failures.append(f"{len(failed)} requests failed")
        tally = Tally()
        for exchange in failed:
            tally.add(exchange)
        say("Failures:")
        lines.extend(f"  {line}" for line in tally.lines())
    if not measured:
        failures.append("no request completed in the measured window")

    say("")
    growth = memory_growth(outcome.samples, window_start=low, window_end=high)
    say(
        "Memory (VmRSS of each worker: median of the measured window's first third "
        f"against its last third; {len(outcome.samples)} samples every "
        f"{args.sample_interval:g} s):"
    )
    per_worker_requests = len(measured) / max(1, len(growth))
    for item in growth:
        verdict = "ok" if item.growth <= args.max_memory_growth else "TOO MUCH"
        say(
            f"  pid {item.pid}: {_mib(item.first_kib)} -> {_mib(item.last_kib)} "
            f"({item.growth:+.1%}), peak {_mib(item.peak_kib)}, "
            f"trend {item.kib_per_minute:+,.0f} KiB/min  {verdict}"
        )
        if item.growth > args.max_memory_growth:
            failures.append(
                f"worker {item.pid} grew {item.growth:+.1%} (bound {args.max_memory_growth:.0%})"
            )
    say(
        f"  bound: +{args.max_memory_growth:.0%} per worker; "
        f"{_sensitivity(growth, per_worker_requests, args.max_memory_growth)}"
    )
    say("")
    cpu = ", ".join(
        f"pid {pid} {seconds / args.duration:.0%}"
        for pid, seconds in outcome.worker_cpu_seconds.items()
    )
    say(f"CPU over the measured window (share of one core): workers {cpu}")
    say(f"  load generator (this process) {outcome.client_cpu_seconds / args.duration:.0%}")
    say(f"  PostgreSQL backends of the run's database {outcome.postgres_cpu:.0%}")
    say(
        f"Machine: all CPUs {outcome.machine_busy:.0%} busy over the window "
        f"(steal {outcome.machine_steal:.0%}); load average (1 min) at its start and end "
        f"{outcome.load_average[0]:.2f}, {outcome.load_average[1]:.2f}"
    )
    if outcome.other_processes:
        say("Other processes busy during the window (share of one core):")
        lines.extend(f"  {line}" for line in outcome.other_processes[:6])
    if outcome.workers_before != outcome.workers_after or not outcome.server_alive:
        failures.append(
            f"workers changed during the run: {outcome.workers_before} -> "
            f"{outcome.workers_after} (server alive: {outcome.server_alive})"
        )
    say("")
    say("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return lines, failures


def _slowest_stretch(
    measured: Sequence[Exchange], samples: Sequence[MemorySample], width: float = 5.0
) -> str:
    """The ``width``-second stretch with the slowest median latency, with
    what the workers and the machine did meanwhile: a stall with idle
    workers and a high load average was the machine, not the server."""
    buckets: dict[int, list[float]] = {}
    for exchange in measured:
        buckets.setdefault(int(exchange.started // width), []).append(exchange.seconds)
    if not buckets:
        return ""
    typical = sorted(e.seconds for e in measured)[len(measured) // 2]
    slot, slowest = max(buckets.items(), key=lambda item: sorted(item[1])[len(item[1]) // 2])
    low, high = slot * width, (slot + 1) * width
    inside = [s for s in samples if low - 2 <= s.at <= high + 2]
    busy = ""
    if len(inside) >= 2:
        first, last = inside[0], inside[-1]
        span = last.at - first.at
        shares = [
            (last.cpu_seconds[pid] - first.cpu_seconds[pid]) / span for pid in first.cpu_seconds
        ]
        busy = (
            f"; workers' CPU meanwhile {', '.join(f'{share:.0%}' for share in shares)}, "
            f"load average {max(s.load_average for s in inside):.1f}"
        )
    return (
        f"Slowest {width:g} s: {low:.0f}-{high:.0f} s after start, {len(slowest)} requests sent, "
        f"median {sorted(slowest)[len(slowest) // 2] * 1000:.0f} ms "
        f"(whole window {typical * 1000:.0f} ms){busy}"
    )


def _sensitivity(growth: Sequence[MemoryGrowth], requests: float, bound: float) -> str:
    """What leak per request the bound would catch: the bound's bytes spread
    over the requests a worker serves between the two thirds' middles."""
    if not growth or requests <= 0:
        return ""
    smallest = min(item.first_kib for item in growth) * 1024
    between = requests * 2 / 3
    return f"a leak above ~{smallest * bound / between:,.0f} bytes per request would fail it"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


async def run(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM unwinds like Ctrl-C: the finally blocks stop the server (it
    # runs in a session of its own) and drop the database.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    name = await create_database(args.postgres_url, "ag_load")
    workdir = Path(tempfile.mkdtemp(prefix="accessgraph-load-"))
    log(f"database {name}; server log in {workdir}")
    try:
        settings = configure_environment(database_url(args.postgres_url, name))
        demo = await asyncio.to_thread(load_demo, args.students)
        roles = role_mix(args.clients)
        viewers = await create_viewers(settings, roles, seed=args.seed)
        server = Server(workers=args.workers, log_path=workdir / "server.log")
        server.start()
        try:
            await server.wait_ready()
            outcome = await _drive(server, viewers, args, name)
        finally:
            server.stop()
    finally:
        await drop_database(args.postgres_url, name)
        log(f"dropped {name}")
    lines, failures = _report(args, outcome, roles=roles, students=demo.students)
    print("\n".join(lines))
    # The server's log is worth reading only when something failed.
    if failures:
        log(f"server log kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(  # noqa: ASYNC240  once, after the run
            json.dumps(
                {
                    "report": lines,
                    "failures": failures,
                    "exchanges": [asdict(e) for e in outcome.exchanges],
                    "memory": [asdict(s) for s in outcome.samples],
                },
                default=str,
            )
        )
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.workers < 1 or args.clients < 1:
        print("duration > 0, warmup >= 0, workers >= 1 and clients >= 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
