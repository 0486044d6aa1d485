"""The OneRoster import (docs/architecture.md section 4): one file set, one transaction.

``import_oneroster`` checks the whole file set first (``read_roster``,
no database) and writes nothing if anything is wrong, reporting every
problem with its file and line. Then it writes the file set table by table
(``RosterImport``), loading what the database holds for the file set's
districts and writing only the difference, in bulk. The caller owns the
transaction: it commits, or rolls back for a dry run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from permissions.roles import Role
from resolvers import tables
from resolvers.oneroster.csv_files import Refusal, Refusals
from resolvers.oneroster.diff import Changes
from resolvers.oneroster.roster import read_roster
from resolvers.oneroster.write import Progress, RosterImport
from resolvers.tables import DISTRICTS, ROLE_GRANTS, SCHOOLS, STAFF

__all__ = [
    "KINDS",
    "Changes",
    "Progress",
    "Refusal",
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


@dataclass(frozen=True)
class SyncSummary:
    """What one import did, or why it was refused (then it did nothing)."""

    changes: Mapping[str, Changes]
    # The first problems found (at most 50) and how many there were in all.
    refused: tuple[Refusal, ...]
    refused_count: int
    # Guardian accounts whose contact record lost its last current student:
    # they move to READY_TO_REVOKE. Many at once usually means a bad export.
    would_revoke_accounts: int
    revoke_threshold: int
    seconds: float

    @property
    def total(self) -> Changes:
        return sum(self.changes.values(), Changes())

    @property
    def warnings(self) -> tuple[str, ...]:
        if self.would_revoke_accounts <= self.revoke_threshold:
            return ()
        return (
            f"guardian accounts losing their last current student in this sync: "
            f"{self.would_revoke_accounts} (threshold {self.revoke_threshold}); they would "
            f"move to READY_TO_REVOKE. Check that the export is complete",
        )

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (``--json``)."""

        def counts(changes: Changes) -> dict[str, int]:
            return {
                "added": changes.added,
                "changed": changes.changed,
                "deactivated": changes.deactivated,
                "removed": changes.removed,
            }

        return {
            "ok": not self.refused_count,
            "changes": {kind: counts(changes) for kind, changes in self.changes.items()},
            "total": counts(self.total),
            "refused": [{"file": r.file, "line": r.line, "reason": r.reason} for r in self.refused],
            "refused_count": self.refused_count,
            "would_revoke_accounts": self.would_revoke_accounts,
            "revoke_threshold": self.revoke_threshold,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


async def import_oneroster(
    connection: AsyncConnection,
    directory: Path,
    *,
    revoke_threshold: int,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> SyncSummary:
    """Import the OneRoster CSV file set in ``directory`` (never commits)."""
    started = time.perf_counter()
    say = progress or _silent
    refusals = Refusals()
    # Reading a large file set takes seconds of CPU: off the event loop.
    roster = await asyncio.to_thread(read_roster, directory, refusals)
    if roster is None:
        return SyncSummary(
            changes={},
            refused=tuple(refusals.shown),
            refused_count=refusals.count,
            would_revoke_accounts=0,
            revoke_threshold=revoke_threshold,
            seconds=time.perf_counter() - started,
        )
    say(f"checked the file set in {time.perf_counter() - started:.1f} s")
    run = RosterImport(connection, roster, now or tables.utc_now(), say)
    would_revoke = await run.write()
    return SyncSummary(
        changes={kind: run.changes.get(kind, Changes()) for kind in KINDS},
        refused=(),
        refused_count=0,
        would_revoke_accounts=would_revoke,
        revoke_threshold=revoke_threshold,
        seconds=time.perf_counter() - started,
    )


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
            ).where(ROLE_GRANTS.c.source == "MANUAL", ROLE_GRANTS.c.district_id.in_(in_districts))
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
                "source": "MANUAL",
                "created_at": now,
            }
    if rows:
        await connection.execute(ROLE_GRANTS.insert(), list(rows.values()))
    return len(rows)
