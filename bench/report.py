"""Results as Markdown tables, and the issue's targets with a verdict each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.runner import Cell

PEER_ORDER = {"P0": 0, "P2": 1, "P3": 2, "P3X": 3}
WORKLOAD_ORDER = {"W0": 0, "W1": 1, "W2": 2, "W3p1": 3, "W3p50": 4, "W4": 5}


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
                f"| {cell.workload} | {cell.peer} | {cell.saturation_rps:,.0f} | {ratio} | {cell.rate:g} "
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
        f"{ratio:.3f} ({top.saturation_rps:,.0f} / {bottom.saturation_rps:,.0f} req/s)",
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
            found.append(Verdict(label, f"{before.saturation_rps:,.0f} -> 0 req/s", False))
            continue
        # Throughput decides: the fixed rates of the two runs differ (half of
        # each run's own P3 saturation), so their latencies are context only.
        slower = before.saturation_rps / after.saturation_rps
        found.append(
            Verdict(
                label,
                f"throughput {before.saturation_rps:,.0f} -> {after.saturation_rps:,.0f} req/s "
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
