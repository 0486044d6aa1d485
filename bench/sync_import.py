"""How long the OneRoster import takes at scale (docs/architecture.md section 4).

``python -m bench.sync_import --students 100000 --db sqlite`` writes the demo
export for that many students (the generator ``accessgraph demo`` uses),
imports it into a fresh database through ``import_directory`` (what
``accessgraph sync oneroster`` runs), and times four syncs:

- first: every record added;
- again: the same files, nothing to change (read-only);
- skipped rows: 1% of the user rows spoiled (skipped, listed, the rest written);
- delta: a delta export of 1,000 changed users and 1,000 ended enrolments.

Results are printed as a Markdown table and saved as
``bench/.data/results/sync-<db>-n<students>.json``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.fixtures import DATA_DIR, POSTGRES_ADMIN_URL, _recreate, _upgrade
from gql.cli.demo_files import write_demo_files
from gql.cli.sync import import_directory
from resolvers.db import create_engine
from resolvers.oneroster.importer import SyncSummary


def _url(backend: str, students: int) -> str:
    if backend == "sqlite":
        return f"sqlite:///{DATA_DIR / f'sync-{students}.sqlite3'}"
    admin = make_url(POSTGRES_ADMIN_URL)
    return admin.set(database=f"accessgraph_bench_sync_{students}").render_as_string(
        hide_password=False
    )


def _spoil(source: Path, target: Path, every: int) -> int:
    """A copy of the export with every ``every``-th user row's enabledUser spoiled."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    path = target / "users.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("enabledUser")
    spoiled = [row for index, row in enumerate(rows[1:], start=1) if index % every == 0]
    for row in spoiled:
        row[column] = "perhaps"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return len(spoiled)


def _delta(source: Path, target: Path, changes: int) -> None:
    """A delta export: ``changes`` users renamed, ``changes`` enrolments ended."""
    target.mkdir(parents=True, exist_ok=True)
    for name in target.glob("*.csv"):
        name.unlink()

    def rows(name: str) -> list[list[str]]:
        with (source / name).open(newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))

    users = rows("users.csv")
    given = users[0].index("givenName")
    changed = [[*row[:given], f"{row[given]}-renamed", *row[given + 1 :]] for row in users[1:]]
    enrolments = rows("enrollments.csv")
    status = enrolments[0].index("status")
    ended = [[*row[:status], "tobedeleted", *row[status + 1 :]] for row in enrolments[1:]]
    for name, header, body in (
        ("users.csv", users[0], changed[-changes:]),
        ("enrollments.csv", enrolments[0], [r for r in ended if "student" in r][:changes]),
    ):
        with (target / name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *body])
    with (target / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [
                ["propertyName", "value"],
                ["oneroster.version", "1.2"],
                ["file.users", "delta"],
                ["file.enrollments", "delta"],
                ["file.orgs", "absent"],
                ["file.academicSessions", "absent"],
                ["file.classes", "absent"],
                ["file.roles", "absent"],
                ["file.demographics", "absent"],
            ]
        )


async def _timed(url: str, directory: Path) -> tuple[float, SyncSummary]:
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        summary = await import_directory(
            engine,
            directory,
            dry_run=False,
            revoke_threshold=10**9,
            confirm_mass_change=True,
        )
        return time.perf_counter() - started, summary
    finally:
        await engine.dispose()


def run(backend: str, students: int) -> dict[str, Any]:
    work = DATA_DIR / f"sync-{students}"
    export = work / "export"
    started = time.perf_counter()
    if export.exists():
        shutil.rmtree(export)
    write_demo_files(export, students=students)
    generated = time.perf_counter() - started
    url = _url(backend, students)
    _recreate(backend, url)
    _upgrade(url)
    spoiled = _spoil(export, work / "spoiled", every=100)
    _delta(export, work / "delta", changes=1000)
    results: list[dict[str, Any]] = []
    for label, directory in (
        ("first import", export),
        ("same files again", export),
        (f"{spoiled:,} user rows spoiled (1%)", work / "spoiled"),
        ("delta: 1,000 users, 1,000 enrolments", work / "delta"),
    ):
        seconds, summary = asyncio.run(_timed(url, directory))
        total = summary.total
        results.append(
            {
                "sync": label,
                "seconds": round(seconds, 1),
                "exit_code": summary.exit_code,
                "problems": len(summary.problems),
                "added": total.added,
                "changed": total.changed,
                "deactivated": total.deactivated,
                "removed": total.removed,
            }
        )
        print(f"  {label}: {seconds:.1f} s", flush=True)
    _recreate(backend, url, create=False)
    return {
        "db": backend,
        "students": students,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "generated_seconds": round(generated, 1),
        "results": results,
    }


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"OneRoster import, {report['db']}, {report['students']:,} students",
        "",
        "| sync | seconds | exit | skipped rows | added | changed | deactivated | removed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['sync']} | {row['seconds']} | {row['exit_code']} | {row['problems']:,} | "
        f"{row['added']:,} | {row['changed']:,} | {row['deactivated']:,} | {row['removed']:,} |"
        for row in report["results"]
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_import", description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    DATA_DIR.mkdir(exist_ok=True)
    report = run(args.db, args.students)
    results = DATA_DIR / "results"
    results.mkdir(exist_ok=True)
    (results / f"sync-{args.db}-n{args.students}.json").write_text(json.dumps(report, indent=2))
    print(_table(report))


if __name__ == "__main__":
    main()
