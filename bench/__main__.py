"""``python -m bench``: the workloads x peers x databases, in one command.

    python -m bench                          # SQLite and PostgreSQL, 10,000 students
    python -m bench --quick                  # a smoke run of a few seconds (SQLite, 1,000)
    python -m bench --db postgres --students 1000000
    python -m bench --workloads W1,W2 --peers P0,P3 --duration 20
    python -m bench --profile --workloads W2 # where P3's time goes (pyinstrument)
    python -m bench --report                 # the last results again, with the targets

This process is the load generator: it pins itself to core 1 and each server
under test to core 0. Prepared databases are cached in bench/.data/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from bench import fixtures, report, runner
from bench.workloads import ALIASES, WORKLOADS

# P3X: P3 with the fixes RESULTS.md proposes, patched in (bench/experiment.py).
PEERS = ("p0", "p2", "p3", "p3x")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default=None)
    parser.add_argument("--students", type=int, default=None, help="demo size (default 10000)")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds measured per phase (default 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before each window (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated: W0,W1,W2,W3 (both pages) or W3p1,W3p50, W4",
    )
    parser.add_argument("--peers", default="P0,P2,P3", help="comma-separated: P0,P2,P3")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at saturation")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="the fixed rate, req/s (default: half of P3's saturation)",
    )
    parser.add_argument("--rate-fraction", type=float, default=0.5)
    parser.add_argument(
        "--profile", action="store_true", help="profile P3 with pyinstrument instead of measuring"
    )
    parser.add_argument("--rebuild", action="store_true", help="drop the cached database first")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument(
        "--report", action="store_true", help="print the latest results and the targets"
    )
    return parser


def _workloads(text: str) -> list[str]:
    keys: list[str] = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        expanded = ALIASES.get(item.upper(), [item])
        for key in expanded:
            match = next((k for k in WORKLOADS if k.lower() == key.lower()), None)
            if match is None:
                raise SystemExit(
                    f"unknown workload {item!r}; choose from {', '.join(WORKLOADS)} or W3"
                )
            keys.append(match)
    return list(dict.fromkeys(keys))


def _peers(text: str) -> list[str]:
    peers = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; choose from P0, P2, P3 (P3X)")
    return sorted(set(peers), key=PEERS.index)


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    db = args.db or ("sqlite" if args.quick else "both")
    backends = ["sqlite", "postgres"] if db == "both" else [db]
    students = args.students or (1000 if args.quick else 10_000)
    options = runner.Options(
        backends=backends,
        students=students,
        duration=args.duration or (0.5 if args.quick else 10.0),
        warmup=args.warmup or (0.2 if args.quick else 2.0),
        workloads=_workloads(args.workloads),
        peers=_peers(args.peers),
        concurrency=args.concurrency,
        rate_fraction=args.rate_fraction,
        fixed_rate=args.rate,
        restart_per_workload=not args.quick,
        profile=args.profile,
    )
    if args.report:
        return _print_report(options)
    # The load generator's core; each server pins itself to the other.
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {runner.LOADGEN_CORE})
    import uvloop

    cells: list[runner.Cell] = []
    info = runner.machine()
    if "postgres" in backends:
        info["postgresql"] = asyncio.run(runner.postgres_version())
    for backend in backends:
        if args.rebuild:
            fixtures.drop(backend, students)
        cast = fixtures.prepare(backend, students, log=_say)
        info[f"prepare_seconds_{backend}"] = cast.prepare_seconds
        info[f"rows_{backend}"] = cast.counts
        if args.prepare_only:
            continue
        try:
            if options.profile:
                uvloop.run(runner.profile_backend(cast, options, _say))
                continue
            cells += uvloop.run(runner.run_backend(cast, options, _say))
        except runner.BenchError as error:
            print(f"\nBENCHMARK FAILED: {error}", file=sys.stderr)
            return 1
    if not cells:
        return 0
    path = runner.save(cells, options, info)
    _say("")
    _say(report.table(cells))
    _say(_targets(options, cells))
    _say(f"results: {path}")
    return 0


def _targets(options: runner.Options, cells: list[runner.Cell]) -> str:
    small = runner.load_latest("postgres", 10_000)
    large = runner.load_latest("postgres", 1_000_000)
    return report.verdict_table(report.verdicts(cells, small, large))


def _print_report(options: runner.Options) -> int:
    cells = [c for b in options.backends for c in runner.load_latest(b, options.students)]
    if not cells:
        print("no results yet: run python -m bench first", file=sys.stderr)
        return 1
    print(report.table(cells))
    print(_targets(options, cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
