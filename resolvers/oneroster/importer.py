"""The OneRoster import (docs/architecture.md section 4): one file set, one transaction.

``import_oneroster`` reads and checks the whole file set first
(``read_roster``, no database): each row with a problem is skipped and
listed with its file, line and reason, and whatever depends on it is
skipped too; a missing or unreadable required file refuses the file set.
Then it writes the valid records table by table (``RosterImport``), loading
what the database holds for the file set's districts and writing only the
difference, in bulk; what a skipped row names is left as stored. The caller
owns the transaction: it commits, or rolls back for a dry run or a refusal
(``SyncSummary.refused``: a fatal problem, ``strict`` with problems, or the
mass-change guard).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from permissions.roles import Role
from resolvers import tables
from resolvers.oneroster.csv_files import (
    MAX_PROBLEMS_SHOWN,
    Problem,
    Problems,
    Source,
    SourceError,
    open_source,
)
from resolvers.oneroster.diff import Changes
from resolvers.oneroster.records import NOTHING_STORED, Existing, Roster
from resolvers.oneroster.roster import is_delta, read_manifest, read_roster
from resolvers.oneroster.write import Progress, RosterImport, load_existing
from resolvers.tables import DISTRICTS, ROLE_GRANTS, SCHOOLS, STAFF, RoleGrantSource

__all__ = [
    "DEFAULT_MASS_CHANGE_SHARE",
    "KINDS",
    "MAX_PROBLEMS_SHOWN",
    "Changes",
    "Problem",
    "Progress",
    "SourceError",
    "StaffRole",
    "SyncSummary",
    "grant_staff_roles",
    "import_oneroster",
]


# The kinds of record an import reports on, in the order it writes them.
KINDS = (
    "districts",
    "schools",
    "year_groups",
    "academic_sessions",
    "sections",
    "staff",
    "staff_schools",
    "role_grants",
    "students",
    "guardians",
    "contacts",
    "section_teachers",
    "enrolments",
    # Revoked because a contact became restricted (counted as deactivated).
    "access_grants",
)

# A sync that would deactivate more than this share of a district's active
# people (staff, students, contacts) is refused unless confirmed.
DEFAULT_MASS_CHANGE_SHARE = 0.2
# Fewer deactivations than this are never a mass change (a small district
# losing two people is not a broken export).
MASS_CHANGE_FLOOR = 10

EXIT_WRITTEN, EXIT_REFUSED, EXIT_WRITTEN_WITH_PROBLEMS = 0, 1, 3


@dataclass(frozen=True)
class SyncSummary:
    """What one import did: changes, skipped rows, or why it was refused.

    ``refused`` non-empty means nothing may be written: the caller rolls back.
    """

    changes: Mapping[str, Changes]
    # Rows skipped (listed with file, line, sourcedId and reason).
    problems: tuple[Problem, ...]
    refused: tuple[Problem, ...]
    # Guardian accounts whose contact record lost its last current student:
    # they move to READY_TO_REVOKE. Many at once usually means a bad export.
    would_revoke_accounts: int
    revoke_threshold: int
    seconds: float
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> Changes:
        return sum(self.changes.values(), Changes())

    @property
    def written(self) -> bool:
        return not self.refused

    @property
    def exit_code(self) -> int:
        """0 written cleanly, 3 written with rows skipped, 1 refused."""
        if self.refused:
            return EXIT_REFUSED
        return EXIT_WRITTEN_WITH_PROBLEMS if self.problems else EXIT_WRITTEN

    @property
    def warnings(self) -> tuple[str, ...]:
        warnings = list(self.notes)
        if self.would_revoke_accounts > self.revoke_threshold:
            warnings.append(
                f"guardian accounts losing their last current student in this sync: "
                f"{self.would_revoke_accounts} (threshold {self.revoke_threshold}); they would "
                f"move to READY_TO_REVOKE. Check that the export is complete"
            )
        return tuple(warnings)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (``--json``)."""

        def counts(changes: Changes) -> dict[str, int]:
            return {
                "added": changes.added,
                "changed": changes.changed,
                "deactivated": changes.deactivated,
                "removed": changes.removed,
            }

        outcome = {0: "written", 3: "written_with_problems", 1: "refused"}[self.exit_code]
        return {
            "ok": self.exit_code == EXIT_WRITTEN,
            "outcome": outcome,
            "exit_code": self.exit_code,
            "changes": {kind: counts(changes) for kind, changes in self.changes.items()},
            "total": counts(self.total),
            "problems": [problem.as_dict() for problem in self.problems],
            "refused": [problem.as_dict() for problem in self.refused],
            "would_revoke_accounts": self.would_revoke_accounts,
            "revoke_threshold": self.revoke_threshold,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


async def import_oneroster(
    connection: AsyncConnection,
    path: Path | Source,
    *,
    revoke_threshold: int,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    strict: bool = False,
    mass_change_share: float = DEFAULT_MASS_CHANGE_SHARE,
    confirm_mass_change: bool = False,
) -> SyncSummary:
    """Import the OneRoster export at ``path``, a directory or a zip (never commits),
    or a file set already opened (the REST pull's, ``resolvers.oneroster.rest``).

    Raises ``SourceError`` when ``path`` is neither.
    """
    started = time.perf_counter()
    say = progress or _silent
    problems = Problems()
    with path if isinstance(path, Source) else open_source(path) as source:
        modes = read_manifest(source, problems)
        # A delta names records earlier syncs stored (docs/architecture.md section 4).
        existing = NOTHING_STORED
        if is_delta(modes) and not problems.fatal:
            existing = await load_existing(connection)
        # Reading a large file set takes seconds of CPU: off the event loop.
        roster = await asyncio.to_thread(_read, source, problems, modes, existing)

    def summary(
        refused: Iterable[Problem], changes: Mapping[str, Changes], would_revoke: int = 0
    ) -> SyncSummary:
        return SyncSummary(
            changes=changes,
            problems=tuple(problems.skipped),
            refused=tuple(refused),
            would_revoke_accounts=would_revoke,
            revoke_threshold=revoke_threshold,
            seconds=time.perf_counter() - started,
            notes=tuple(problems.warnings),
        )

    if roster is None:
        return summary(problems.fatal, {})
    if strict and problems.skipped:
        count = len(problems.skipped)
        return summary(
            [Problem("", None, f"--strict: {count} row(s) have problems, so nothing was written")],
            {},
        )
    say(f"checked the file set in {time.perf_counter() - started:.1f} s")
    run = RosterImport(connection, roster, now or tables.utc_now(), say)
    would_revoke = await run.write()
    changes = {kind: run.changes.get(kind, Changes()) for kind in KINDS}
    refused = [] if confirm_mass_change else _mass_changes(run, mass_change_share)
    return summary(refused, changes, would_revoke)


def _read(
    source: Source, problems: Problems, modes: dict[str, str], existing: Existing
) -> Roster | None:
    if problems.fatal:
        return None
    return read_roster(source, problems, modes=modes, existing=existing)


def _mass_changes(run: RosterImport, share: float) -> list[Problem]:
    """The districts this sync would deactivate too many people of."""
    district_sid = {row_id: sid for sid, row_id in run.district_id.items()}
    refused = []
    for district, before in sorted(run.people_before.items()):
        deactivated = run.people_deactivated.get(district, 0)
        if deactivated >= MASS_CHANGE_FLOOR and deactivated > share * before:
            refused.append(
                Problem(
                    "",
                    None,
                    f"district {district_sid.get(district, district)!r}: this sync would "
                    f"deactivate {deactivated} of its {before} active people "
                    f"({deactivated / before:.0%}), more than the {share:.0%} allowed "
                    f"(ACCESSGRAPH_SYNC_MASS_CHANGE_SHARE). Check that the export is "
                    f"complete, or run again with --confirm-mass-change",
                )
            )
    return refused


def _silent(_: str) -> None:
    return None


# ---------------------------------------------------------------- roles outside OneRoster


@dataclass(frozen=True)
class StaffRole:
    """A role OneRoster cannot express, for a staff record named by sourcedId."""

    district: str
    staff: str
    role: Role
    # None: the whole district.
    school: str | None


async def grant_staff_roles(connection: AsyncConnection, grants: Iterable[StaffRole]) -> int:
    """Record MANUAL role grants on staff records; the number added.

    OneRoster has no enrolment manager or security contact: such roles are
    granted here, and the SIS import never touches MANUAL grants. A grant
    already held is not added again.
    """
    wanted = list(grants)
    found = await connection.execute(
        sa.select(DISTRICTS.c.sourced_id, DISTRICTS.c.id).where(
            DISTRICTS.c.sourced_id.in_(sorted({g.district for g in wanted}))
        )
    )
    districts: dict[str, int] = {row.sourced_id: row.id for row in found}
    in_districts = list(districts.values())

    async def by_sourced_id(table: sa.Table) -> dict[tuple[int, str], int]:
        rows = await connection.execute(
            sa.select(table.c.district_id, table.c.sourced_id, table.c.id).where(
                table.c.district_id.in_(in_districts)
            )
        )
        return {(row.district_id, row.sourced_id): row.id for row in rows}

    staff, schools = await by_sourced_id(STAFF), await by_sourced_id(SCHOOLS)
    held = {
        tuple(row)
        for row in await connection.execute(
            sa.select(
                ROLE_GRANTS.c.staff_member_id, ROLE_GRANTS.c.role, ROLE_GRANTS.c.school_id
            ).where(
                ROLE_GRANTS.c.source == RoleGrantSource.MANUAL,
                ROLE_GRANTS.c.district_id.in_(in_districts),
            )
        )
    }
    now = tables.utc_now()
    rows: dict[tuple[int, str, int | None], dict[str, Any]] = {}
    for grant in wanted:
        district_id = districts[grant.district]
        staff_id = staff[(district_id, grant.staff)]
        school_id = None if grant.school is None else schools[(district_id, grant.school)]
        key = (staff_id, grant.role.value, school_id)
        if key not in held:
            rows[key] = {
                "district_id": district_id,
                "account_id": None,
                "staff_member_id": staff_id,
                "role": grant.role.value,
                "school_id": school_id,
                "source": RoleGrantSource.MANUAL,
                "created_at": now,
            }
    if rows:
        await connection.execute(ROLE_GRANTS.insert(), list(rows.values()))
    return len(rows)
