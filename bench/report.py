"""Results as Markdown tables, and the issue's targets with a verdict each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runner import Cell

PEER_ORDER = {"P0": 0, "P2": 1, "P3": 2}
WORKLOAD_ORDER = {"W0": 0, "W1": 1, "W2": 2, "W3p1": 3, "W3p50": 4, "W4": 5}


def rps(value: float) -> str:
    """Requests per second: whole above 10, two decimals below (1,000,000
    students' W3 runs at a fraction of one)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def _find(cells: Iterable[Cell], backend: str, workload: str, peer: str) -> Cell | None:
    return next(
        (c for c in cells if c.backend == backend and c.workload == workload and c.peer == peer),
        None,
    )


def table(cells: list[Cell]) -> str:
    """One table per database and number of students."""
    out: list[str] = []
    groups = sorted({(c.backend, c.students) for c in cells})
    for backend, students in groups:
        group = sorted(
            (c for c in cells if c.backend == backend and c.students == students),
            key=lambda c: (WORKLOAD_ORDER.get(c.workload, 9), PEER_ORDER.get(c.peer, 9)),
        )
        pg = backend == "postgres"
        out.append(f"### {backend}, {students:,} students\n")
        header = (
            "| workload | peer | req/s at saturation | ÷ P0 | fixed rate req/s | p50 ms | p99 ms "
            "| statements/req | server CPU ms/req |"
            + (" PostgreSQL CPU ms/req |" if pg else "")
            + " max RSS MiB |"
        )
        out.append(header)
        out.append("|" + "---|" * (header.count("|") - 1))
        for cell in group:
            floor = _find(cells, backend, cell.workload, "P0")
            ratio = (
                f"{cell.saturation_rps / floor.saturation_rps:.3f}"
                if floor is not None and floor.saturation_rps
                else "-"
            )
            latency = (
                f"{cell.p50_ms:.2f}{' ‡' if cell.overloaded else ''}",
                f"{cell.p99_ms:.2f}{' ‡' if cell.overloaded else ''}",
            )
            pg_cpu = (
                f" {cell.postgres_cpu_ms_per_request:.3f} |"
                if pg and cell.postgres_cpu_ms_per_request is not None
                else (" - |" if pg else "")
            )
            out.append(
                f"| {cell.workload} | {cell.peer} | {rps(cell.saturation_rps)} | {ratio} | {cell.rate:g} "
                f"| {latency[0]} | {latency[1]} | {cell.statements_per_request:g} "
                f"| {cell.cpu_ms_per_request:.3f} |{pg_cpu} {cell.max_rss_mib:.0f} |"
            )
        out.append("")
    if any(c.overloaded for c in cells):
        out.append(
            "‡ overloaded: the peer's saturation throughput is below the fixed rate or within "
            "10% of it, so its latencies measure a queue, not its service time (see the notes "
            "for its latency at half its own saturation).\n"
        )
    notes = [c for c in cells if c.notes]
    if notes:
        out.append("Notes:\n")
        out += [f"- {c.backend} {c.workload} {c.peer}: {'; '.join(c.notes)}" for c in notes]
        out.append("")
    return "\n".join(out)


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured


def _ratio_target(
    cells: list[Cell],
    backend: str,
    workload: str,
    numerator: str,
    denominator: str,
    at_least: float,
    label: str,
) -> Verdict:
    top = _find(cells, backend, workload, numerator)
    bottom = _find(cells, backend, workload, denominator)
    if top is None or bottom is None or not bottom.saturation_rps:
        return Verdict(label, "not measured", None)
    ratio = top.saturation_rps / bottom.saturation_rps
    return Verdict(
        label,
        f"{ratio:.3f} ({rps(top.saturation_rps)} / {rps(bottom.saturation_rps)} req/s)",
        ratio >= at_least,
    )


def verdicts(cells: list[Cell], small: list[Cell], large: list[Cell]) -> list[Verdict]:
    """``cells`` for the ratio targets; ``small``/``large``: P3 on PostgreSQL
    at 10,000 and 1,000,000 students for the scale target."""
    found: list[Verdict] = [
        _ratio_target(cells, "sqlite", "W2", "P3", "P2", 5.0, "P3 ≥ 5x P2 on W2, SQLite"),
    ]
    for backend in ("sqlite", "postgres"):
        for workload, floor in (
            ("W0", 0.10),
            ("W1", 0.10),
            ("W2", 0.07),
            ("W3p1", 0.07),
            ("W3p50", 0.07),
        ):
            found.append(
                _ratio_target(
                    cells,
                    backend,
                    workload,
                    "P3",
                    "P0",
                    floor,
                    f"P3 ≥ {floor:.2f} x P0 on {workload}, {backend}",
                )
            )
    for workload in WORKLOAD_ORDER:
        before = _find(small, "postgres", workload, "P3")
        after = _find(large, "postgres", workload, "P3")
        label = f"P3 on {workload}, PostgreSQL: 1,000,000 students within 1.5x of 10,000"
        if before is None or after is None or not before.saturation_rps:
            found.append(Verdict(label, "not measured", None))
            continue
        if not after.saturation_rps:
            found.append(Verdict(label, f"{rps(before.saturation_rps)} -> 0 req/s", False))
            continue
        # Throughput decides: the fixed rates of the two runs differ (half of
        # each run's own P3 saturation), so their latencies are context only.
        slower = before.saturation_rps / after.saturation_rps
        found.append(
            Verdict(
                label,
                f"throughput {rps(before.saturation_rps)} -> {rps(after.saturation_rps)} req/s "
                f"({slower:.2f}x); p50 at saturation {before.saturation_p50_ms:.1f} -> "
                f"{after.saturation_p50_ms:.1f} ms",
                slower <= 1.5,
            )
        )
    return found


def verdict_table(found: list[Verdict]) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    for verdict in found:
        mark = {True: "met", False: "**missed**", None: "not measured"}[verdict.met]
        lines.append(f"| {verdict.target} | {verdict.measured} | {mark} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- techniques


def techniques_table(cells: list[Cell]) -> str:
    """P3 and each variant with one technique off: throughput against P3's,
    statements and CPU per request, per database and size."""
    from bench.techniques import VARIANTS

    out: list[str] = []
    for backend, students in sorted({(c.backend, c.students) for c in cells}):
        group = [c for c in cells if c.backend == backend and c.students == students]
        workloads = sorted({c.workload for c in group}, key=lambda w: WORKLOAD_ORDER.get(w, 9))
        out.append(f"### Techniques, {backend}, {students:,} students\n")
        out.append(
            "Each cell: req/s at saturation (÷ P3's), statements/request, server CPU ms/request.\n"
        )
        out.append("| technique | switched off by | " + " | ".join(workloads) + " |")
        out.append("|---|---|" + "---|" * len(workloads))
        rows = [("P3", ("this server, every technique on", "-")), *VARIANTS.items()]
        for peer, (technique, how) in rows:
            name = peer.upper()
            if not any(c.peer == name for c in group):
                continue
            entries = []
            for workload in workloads:
                cell = _find(group, backend, workload, name)
                base = _find(group, backend, workload, "P3")
                if cell is None:
                    entries.append("-")
                    continue
                ratio = (
                    f" ({cell.saturation_rps / base.saturation_rps:.2f}x)"
                    if base is not None and base.saturation_rps and name != "P3"
                    else ""
                )
                entries.append(
                    f"{rps(cell.saturation_rps)}{ratio}, {cell.statements_per_request:g} st, "
                    f"{cell.cpu_ms_per_request:.2f} ms"
                )
            label = technique if name != "P3" else "P3 as it is"
            out.append(
                f"| {label} | {how if name != 'P3' else '-'} | " + " | ".join(entries) + " |"
            )
        out.append("")
        notes = [c for c in group if c.notes or c.errors]
        if notes:
            out += [f"- {c.workload} {c.peer}: {'; '.join(c.notes)}" for c in notes]
            out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- 1,000,000 vs 10,000


def scale_table(small: list[Cell], large: list[Cell]) -> str:
    """Every peer on PostgreSQL at 10,000 and at 1,000,000 students."""
    if not small or not large:
        return "Not measured yet: run both PostgreSQL sizes.\n"
    lines = [
        "| workload | peer | req/s, 10,000 | req/s, 1,000,000 | slower by | p50 ms at saturation, "
        "10k → 1M | statements/req, 10k → 1M | PostgreSQL CPU ms/req, 10k → 1M |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(
        {(c.workload, c.peer) for c in large},
        key=lambda k: (WORKLOAD_ORDER.get(k[0], 9), PEER_ORDER.get(k[1], 9)),
    )
    for workload, peer in keys:
        before = _find(small, "postgres", workload, peer)
        after = _find(large, "postgres", workload, peer)
        if before is None or after is None:
            continue
        slower = (
            f"{before.saturation_rps / after.saturation_rps:.2f}x" if after.saturation_rps else "∞"
        )

        def pg(cell: Cell) -> str:
            value = cell.postgres_cpu_ms_per_request
            return "-" if value is None else f"{value:.2f}"

        lines.append(
            f"| {workload} | {peer} | {rps(before.saturation_rps)} | {rps(after.saturation_rps)} "
            f"| {slower} | {before.saturation_p50_ms:.1f} → {after.saturation_p50_ms:.1f} "
            f"| {before.statements_per_request:g} → {after.statements_per_request:g} "
            f"| {pg(before)} → {pg(after)} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- RESULTS.md

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
ANALYSIS_BEGIN = "<!-- analysis: kept by --write-results -->"
ANALYSIS_END = "<!-- end of analysis -->"
RUNS = (
    ("sqlite", 10_000, "peers"),
    ("postgres", 10_000, "peers"),
    ("postgres", 1_000_000, "peers"),
    ("sqlite", 10_000, "techniques"),
    ("postgres", 10_000, "techniques"),
)


def _machine_section(runs: list[tuple[str, int, str, dict[str, Any]]]) -> list[str]:
    machines = [payload["machine"] for *_, payload in runs]
    first = machines[0]
    postgres = next((m["postgresql"] for m in machines if m.get("postgresql")), "not measured")
    lines = [
        "## Machine",
        "",
        f"- CPU: {first.get('cpu') or 'unknown'} ({first.get('cores') or first.get('nproc')} "
        f"cores, /proc/cpuinfo), {first.get('memory_gib')} GiB RAM",
        f"- Kernel {first.get('kernel')}, Python {first.get('python')}, PostgreSQL {postgres}, "
        f"SQLite {first.get('sqlite')}",
        f"- strawberry-graphql {first.get('strawberry')}, graphql-core "
        f"{first.get('graphql-core')}, SQLAlchemy {first.get('sqlalchemy')}, uvicorn "
        f"{first.get('uvicorn')}",
        f"- Pinning: {first.get('pinning')}. Each server under test is one uvicorn process "
        "(one worker, uvloop, httptools, no access log) with `os.sched_setaffinity` to its core; "
        "the load generator is this benchmark's own process, on the other core.",
        "",
        "| run | date (UTC) | commit | server code uncommitted | load average at start |"
        " window (s) | warm-up (s) | connections |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, students, kind, payload in runs:
        machine, options = payload["machine"], payload["options"]
        load = machine.get("load_average") or [0.0]
        lines.append(
            f"| {kind}, {backend}, {students:,} students | {machine.get('date')} "
            f"| {machine.get('commit')} | {'yes' if machine.get('server_changes_uncommitted') else 'no'} "
            f"| {load[0]:.2f} | {options.get('duration')} | {options.get('warmup')} "
            f"| {options.get('concurrency')} |"
        )
    lines.append("")
    return lines


def _kept_analysis(path: Path, missed: list[Verdict]) -> str:
    if path.exists():
        text = path.read_text()
        start, end = text.find(ANALYSIS_BEGIN), text.find(ANALYSIS_END)
        if 0 <= start < end:
            return text[start : end + len(ANALYSIS_END)]
    stub = [ANALYSIS_BEGIN, "", "## Why a target is missed, and what would close it", ""]
    stub += [f"- {v.target}: TODO (measured {v.measured})." for v in missed] or [
        "- Every measured target is met."
    ]
    return "\n".join([*stub, "", ANALYSIS_END])


def results_markdown(path: Path = RESULTS_PATH) -> str:
    """bench/RESULTS.md from the latest saved runs: machine, date, pinning,
    every workload x peer x database, the targets, 1,000,000 against 10,000,
    the techniques, and the analysis kept from the file as it was."""
    from bench.runner import load_latest_run

    runs = [
        (backend, students, kind, payload)
        for backend, students, kind in RUNS
        if (payload := load_latest_run(backend, students, kind)) is not None
    ]
    if not runs:
        raise SystemExit("no saved results under bench/.data/results: run python -m bench first")
    peers = {(b, n): p["cells"] for b, n, k, p in runs if k == "peers"}
    techniques = [c for b, n, k, p in runs if k == "techniques" for c in p["cells"]]
    small = peers.get(("postgres", 10_000), [])
    large = peers.get(("postgres", 1_000_000), [])
    at_10k = [*peers.get(("sqlite", 10_000), []), *small]
    found = verdicts(at_10k, small, large)
    missed = [v for v in found if v.met is False]
    out = [
        "# Benchmark results",
        "",
        "Written by `python -m bench --write-results` from the latest saved runs "
        "(bench/.data/results); how they are measured is in bench/README.md. Throughput is "
        "requests per second completed at saturation (closed loop); p50/p99 are at one fixed "
        "rate per workload, half of P3's saturation throughput, the same for every peer "
        "(open loop, latency from each request's scheduled start). Statements per request "
        "are counted exactly over requests sent one at a time; CPU per request is the server "
        "process's (and, on PostgreSQL, the backends') over the saturation window; RSS is the "
        "server process's peak.",
        "",
        *_machine_section(runs),
        "## Targets",
        "",
        verdict_table(found),
        _kept_analysis(path, missed),
        "",
        "## Every workload x peer x database",
        "",
    ]
    out += [
        table(peers[key])
        for key in (("sqlite", 10_000), ("postgres", 10_000), ("postgres", 1_000_000))
        if key in peers
    ]
    out += ["## 1,000,000 students against 10,000 (PostgreSQL)", "", scale_table(small, large)]
    out += ["## The techniques, one by one", ""]
    if techniques:
        from bench.techniques import __doc__ as how

        out.append(techniques_table(techniques))
        out.append("How each is switched off (bench/techniques.py):\n")
        text = (how or "").strip().replace("``", "`")
        out.append("\n".join(f"> {line}".rstrip() for line in text.splitlines()))
        out.append("")
    else:
        out.append("Not measured yet: `python -m bench --techniques`.\n")
    return "\n".join(out).rstrip() + "\n"


def write_results(path: Path = RESULTS_PATH) -> Path:
    path.write_text(results_markdown(path))
    return path
