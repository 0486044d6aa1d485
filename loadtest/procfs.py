"""Processes seen through /proc (Linux): who runs, how much memory and CPU.

The load run samples the workers' memory and says what else kept the
machine busy; nothing here needs a package beyond the standard library.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def child_pids(parent: int) -> list[int]:
    """Direct children of ``parent``, from /proc (Linux)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


def process_command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (VmRSS), None if it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class MemorySample:
    at: float  # seconds since the run's start
    rss_kib: Mapping[int, int | None]
    # Taken alongside, to explain a slow stretch afterwards: were the
    # workers busy, or waiting while the machine did something else?
    cpu_seconds: Mapping[int, float]
    load_average: float


async def sample_memory(
    pids: Sequence[int],
    *,
    interval: float,
    until: float,
    start: float,
    samples: list[MemorySample],
) -> None:
    """Append a sample of every pid's RSS (and CPU time, and the machine's
    load average) every ``interval`` s until the monotonic time ``until``.
    Reading /proc costs microseconds: it does not disturb the clients
    sharing this loop."""
    while time.monotonic() < until:
        samples.append(
            MemorySample(
                time.monotonic() - start,
                {pid: rss_kib(pid) for pid in pids},
                {pid: cpu_seconds(pid) for pid in pids},
                os.getloadavg()[0],
            )
        )
        await asyncio.sleep(min(interval, max(0.0, until - time.monotonic())))


@dataclass(frozen=True)
class MemoryGrowth:
    pid: int
    first_kib: int
    last_kib: int
    peak_kib: int
    # Least-squares slope over the whole window: the trend, where the
    # thirds give the pass/fail.
    kib_per_minute: float

    @property
    def growth(self) -> float:
        return (self.last_kib - self.first_kib) / self.first_kib


def memory_growth(
    samples: Sequence[MemorySample], *, window_start: float, window_end: float
) -> list[MemoryGrowth]:
    """Per process: the median RSS of the window's first third against the
    median of its last third. Medians, because one sample can land in the
    middle of a large response being built and freed."""
    third = (window_end - window_start) / 3
    pids = sorted({pid for sample in samples for pid in sample.rss_kib})
    result = []
    for pid in pids:

        def values(low: float, high: float, pid: int = pid) -> list[int]:
            return [
                value
                for sample in samples
                if low <= sample.at <= high and (value := sample.rss_kib.get(pid)) is not None
            ]

        first = values(window_start, window_start + third)
        last = values(window_end - third, window_end)
        everything = values(window_start, window_end)
        if not first or not last:
            raise RuntimeError(f"too few memory samples of pid {pid} to compare")
        points = [
            (sample.at, float(value))
            for sample in samples
            if window_start <= sample.at <= window_end
            and (value := sample.rss_kib.get(pid)) is not None
        ]
        result.append(
            MemoryGrowth(pid, median(first), median(last), max(everything), slope(points) * 60)
        )
    return result


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than two points)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 once it has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot() -> dict[int, tuple[float, str]]:
    """Every process's CPU seconds and command line, to say afterwards what
    else kept the machine busy during a run (a shared machine skews
    latency and throughput; the report says by how much)."""
    snapshot = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            snapshot[pid] = (cpu_seconds(pid), process_command_line(pid))
    return snapshot


def machine_cpu() -> tuple[float, float, float]:
    """Busy, steal and total jiffies of all CPUs so far (/proc/stat): the
    difference of two readings says how saturated the machine was."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return float(total - idle), float(steal), float(total)


def other_busy_processes(
    before: Mapping[int, tuple[float, str]],
    after: Mapping[int, tuple[float, str]],
    *,
    seconds: float,
    ours: set[int],
    our_database: str,
    threshold: float = 0.05,
) -> list[str]:
    """Processes outside the run that used more than ``threshold`` of a
    core between the snapshots, busiest first. PostgreSQL backends serving
    our database are part of the run (their title names it)."""
    busy = []
    for pid, (cpu_after, command) in after.items():
        if pid in ours or our_database in command or pid == os.getpid():
            continue
        share = (cpu_after - before.get(pid, (0.0, ""))[0]) / seconds
        if share > threshold:
            busy.append((share, f"{share:.0%} {command.strip()[:90]}"))
    return [line for _, line in sorted(busy, reverse=True)]


def database_backends_cpu(
    before: Mapping[int, tuple[float, str]],
    after: Mapping[int, tuple[float, str]],
    *,
    seconds: float,
    our_database: str,
) -> float:
    """Share of one core the PostgreSQL backends of our database used
    between the snapshots (backends that ended in between are missed)."""
    used = sum(
        cpu - before.get(pid, (0.0, ""))[0]
        for pid, (cpu, command) in after.items()
        if f" {our_database} " in command
    )
    return used / seconds


def median(values: Sequence[int]) -> int:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
