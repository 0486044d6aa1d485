"""``python -m bench``: the workloads x peers x databases, in one command.

    python -m bench --all                    # everything RESULTS.md reports, then RESULTS.md
    python -m bench                          # SQLite and PostgreSQL, 10,000 students
    python -m bench --quick                  # a smoke run (SQLite, 1,000 students)
    python -m bench --db postgres --students 1000000
    python -m bench --techniques             # P3 with each technique switched off in turn
    python -m bench --workloads W1,W2 --peers P0,P3 --duration 20
    python -m bench --profile --workloads W2 # where P3's time goes (pyinstrument)
    python -m bench --report                 # the last results again, with the targets
    python -m bench --write-results          # bench/RESULTS.md from the saved results
    python -m bench --db postgres --students 1000000 --prepare-only

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
from bench.techniques import VARIANTS
from bench.workloads import ALIASES, WORKLOADS

# The p3-* variants: P3 patched at start-up (bench/techniques.py).
PEERS = ("p0", "p2", "p3", *VARIANTS)


DEFAULT_PEERS = "P0,P2,P3"
# Seconds per window: 8 measured after 2 of warm-up keeps the full run
# (README: "How long") near half an hour.
DEFAULT_DURATION = 8.0
DEFAULT_WARMUP = 1.5
# --techniques: eight P3s x six workloads, saturation only, shorter windows.
TECHNIQUES_DURATION = 3.0
TECHNIQUES_WARMUP = 1.0

# --all: the runs bench/RESULTS.md reports, in order, then the file itself.
ALL_RUNS = (
    ["--db", "both", "--students", "10000"],
    ["--db", "postgres", "--students", "1000000"],
    ["--techniques", "--db", "both", "--students", "10000"],
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default=None)
    parser.add_argument("--students", type=int, default=None, help="demo size (default 10000)")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds measured per window (default 8; --techniques 3)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of warm-up before each window (default 1.5; --techniques 1)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated: W0,W1,W2,W3 (both pages) or W3p1,W3p50, W4",
    )
    parser.add_argument(
        "--peers",
        default=DEFAULT_PEERS,
        help="comma-separated: P0,P2,P3 (and P3-NOCACHE, ...: bench/techniques.py)",
    )
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
        "--techniques",
        action="store_true",
        help="P3 with each technique switched off in turn (saturation only; default: SQLite "
        "and PostgreSQL, 10,000 students)",
    )
    parser.add_argument(
        "--report", action="store_true", help="print the latest results and the targets"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="the full run: 10,000 students on both databases, 1,000,000 on PostgreSQL, the "
        "techniques, then bench/RESULTS.md (about 35 minutes once the data is prepared)",
    )
    parser.add_argument(
        "--write-results",
        action="store_true",
        help="write bench/RESULTS.md from the latest saved runs (no measuring)",
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
        raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    return sorted(set(peers), key=PEERS.index)


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.all:
        extra = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--all"]
        for run in ALL_RUNS:
            _say(f"\n==== python -m bench {' '.join([*run, *extra])}")
            status = main([*run, *extra])
            if status:
                return status
        args.write_results = True
    if args.write_results:
        path = report.write_results()
        print(f"wrote {path}")
        return 0
    db = args.db or ("sqlite" if args.quick else "both")
    backends = ["sqlite", "postgres"] if db == "both" else [db]
    students = args.students or (1000 if args.quick else 10_000)
    peers = _peers(args.peers)
    if args.techniques:
        peers = _peers(args.peers) if args.peers != DEFAULT_PEERS else ["p3", *VARIANTS]
        if "p3" not in peers:
            peers.insert(0, "p3")
    options = runner.Options(
        backends=backends,
        students=students,
        duration=args.duration
        or (0.5 if args.quick else TECHNIQUES_DURATION if args.techniques else DEFAULT_DURATION),
        warmup=args.warmup
        or (0.2 if args.quick else TECHNIQUES_WARMUP if args.techniques else DEFAULT_WARMUP),
        workloads=_workloads(args.workloads),
        peers=peers,
        concurrency=args.concurrency,
        rate_fraction=args.rate_fraction,
        fixed_rate=args.rate,
        # Fresh servers per workload (a clean heap for peak RSS); the
        # techniques run measures no memory and skips the restarts.
        restart_per_workload=not (args.quick or args.techniques),
        profile=args.profile,
        latency=not args.techniques,
        kind="techniques" if args.techniques else "peers",
    )
    if args.report:
        return _print_report(options)
    import uvloop

    cells: list[runner.Cell] = []
    info = runner.machine()
    if "postgres" in backends:
        info["postgresql"] = asyncio.run(runner.postgres_version())
    # Preparing uses both cores (the CLI, the database); measuring does not.
    casts = []
    for backend in backends:
        if args.rebuild:
            fixtures.drop(backend, students)
        cast = fixtures.prepare(backend, students, log=_say)
        info[f"prepare_seconds_{backend}"] = cast.prepare_seconds
        info[f"rows_{backend}"] = cast.counts
        casts.append(cast)
    if args.prepare_only:
        return 0
    # The load generator's core; each server pins itself to the other.
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {runner.LOADGEN_CORE})
    for cast in casts:
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
    if options.kind == "techniques":
        _say(report.techniques_table(cells))
    else:
        _say(report.table(cells))
        _say(_targets(options, cells))
    _say(f"results: {path}")
    return 0


def _targets(options: runner.Options, cells: list[runner.Cell]) -> str:
    small = runner.load_latest("postgres", 10_000)
    large = runner.load_latest("postgres", 1_000_000)
    return report.verdict_table(report.verdicts(cells, small, large))


def _print_report(options: runner.Options) -> int:
    cells = [
        c for b in options.backends for c in runner.load_latest(b, options.students, options.kind)
    ]
    if not cells:
        print("no results yet: run python -m bench first", file=sys.stderr)
        return 1
    if options.kind == "techniques":
        print(report.techniques_table(cells))
        return 0
    print(report.table(cells))
    print(_targets(options, cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
