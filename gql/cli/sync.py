"""``accessgraph sync oneroster PATH``: the SIS import on the command line.

The import itself is ``resolvers.oneroster``; this module opens the engine,
owns the one transaction (committed, or rolled back for a dry run or a
refused file set), shows progress on a terminal and prints the summary
(docs/architecture.md sections 4 and 6). Exit codes: 0 written with no
problems, 3 written with rows skipped (listed), 1 refused, nothing written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from gql.cli.errors import CliError
from gql.settings import Settings
from resolvers.db import Db, create_engine
from resolvers.oneroster.importer import (
    MAX_PROBLEMS_SHOWN,
    Problem,
    Progress,
    SourceError,
    SyncSummary,
    import_oneroster,
)
from resolvers.student_data.student_logins_writes import reconcile_student_logins
from resolvers.tables import GRANTS, SCHOOLS, STUDENTS, GrantSource, utc_now

# Work done in the import's transaction after a successful import (the demo
# grants roles OneRoster cannot express).
AfterImport = Callable[[AsyncConnection], Awaitable[object]]


async def run_sync(
    settings: Settings,
    path: str,
    *,
    dry_run: bool,
    as_json: bool,
    strict: bool = False,
    confirm_mass_change: bool = False,
) -> int:
    """The ``sync oneroster`` command; its exit code (0, 3 or 1)."""
    engine = create_engine(settings.database_url)
    try:
        summary = await import_directory(
            engine,
            Path(path),
            dry_run=dry_run,
            revoke_threshold=settings.large_batch_threshold,
            progress=None if as_json else terminal_progress(),
            strict=strict,
            mass_change_share=settings.sync_mass_change_share,
            confirm_mass_change=confirm_mass_change,
        )
    except SourceError as error:
        raise CliError(
            f"{error}; give the directory (or zip archive) of the OneRoster CSV export."
        ) from error
    finally:
        await engine.dispose()
    title = f"OneRoster import of {path}"
    print_summary(summary, title=title, dry_run=dry_run, as_json=as_json)
    return summary.exit_code


async def import_directory(
    engine: AsyncEngine,
    path: Path,
    *,
    dry_run: bool,
    revoke_threshold: int,
    progress: Progress | None = None,
    after_import: AfterImport | None = None,
    strict: bool = False,
    mass_change_share: float = 0.2,
    confirm_mass_change: bool = False,
) -> SyncSummary:
    """Import one export in one transaction; roll back a dry run or refusal."""
    async with engine.connect() as connection, connection.begin() as transaction:
        summary = await import_oneroster(
            connection,
            path,
            revoke_threshold=revoke_threshold,
            progress=progress,
            strict=strict,
            mass_change_share=mass_change_share,
            confirm_mass_change=confirm_mass_change,
        )
        if summary.written:
            if after_import is not None:
                await after_import(connection)
            await reconcile_logins_after_sync(connection)
        if dry_run or not summary.written:
            await transaction.rollback()
    return summary


async def reconcile_logins_after_sync(connection: AsyncConnection) -> None:
    """Student logins follow the SIS data: a student who left, moved or lost
    their email loses their login in the same transaction as the sync."""
    with_logins = await connection.execute(
        sa.select(SCHOOLS.c.id).where(
            sa.or_(
                SCHOOLS.c.student_logins_enabled,
                sa.exists(
                    sa.select(GRANTS.c.id)
                    .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
                    .where(
                        GRANTS.c.source == GrantSource.STUDENT_LOGIN,
                        GRANTS.c.revoked_at.is_(None),
                        STUDENTS.c.school_id == SCHOOLS.c.id,
                    )
                ),
            )
        )
    )
    school_ids = [row.id for row in with_logins]
    if not school_ids:
        return
    session = AsyncSession(bind=connection)
    await reconcile_student_logins(Db(session), school_ids=school_ids, now=utc_now())


def terminal_progress(stream: TextIO = sys.stderr) -> Progress | None:
    """Progress lines on a terminal; nothing when output goes to a file."""
    if not stream.isatty():
        return None

    def say(message: str) -> None:
        print(f"  {message}", file=stream, flush=True)

    return say


def print_summary(
    summary: SyncSummary,
    *,
    title: str,
    dry_run: bool,
    as_json: bool,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The summary for people (a table) or scripts (``--json``, on stdout)."""
    if as_json:
        print(json.dumps({**summary.as_dict(), "dry_run": dry_run, **(extra or {})}, indent=2))
        return
    if summary.refused:
        _print_list(
            f"Refused: nothing was written. {_count(len(summary.refused), 'reason')}:",
            summary.refused,
        )
        if summary.problems:
            _print_list(f"Rows with problems: {len(summary.problems)}", summary.problems)
    else:
        _print_changes(summary, title=title, dry_run=dry_run)
        if summary.problems:
            _print_list(
                f"Skipped: {_count(len(summary.problems), 'row')} with problems "
                f"(everything else was {'checked' if dry_run else 'written'}):",
                summary.problems,
            )
    for warning in summary.warnings:
        # Loud on purpose: a sync that orphans many accounts is usually a
        # partial export, and the next step would be revoking them.
        print(f"WARNING: {warning}", file=sys.stderr)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _print_list(heading: str, problems: tuple[Problem, ...]) -> None:
    print(heading, file=sys.stderr)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(
            f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more (--json lists every one)",
            file=sys.stderr,
        )


def _print_changes(summary: SyncSummary, *, title: str, dry_run: bool) -> None:
    print(f"{title}{' (dry run: nothing was written)' if dry_run else ''}")
    header = ("", "added", "changed", "deactivated", "removed")
    rows = [
        (kind.replace("_", " "), c.added, c.changed, c.deactivated, c.removed)
        for kind, c in summary.changes.items()
    ]
    total = summary.total
    rows.append(("total", total.added, total.changed, total.deactivated, total.removed))
    print(f"  {header[0]:<20}" + "".join(f"{name:>13}" for name in header[1:]))
    for kind, *counts in rows:
        print(f"  {kind:<20}" + "".join(f"{count:>13,}" for count in counts))
    print(f"  skipped rows: {len(summary.problems)}    took {summary.seconds:.1f} s")
