"""Student logins follow the SIS data: each sync reconciles them in its own
transaction, so a student who leaves loses their login with the sync."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.sync import import_directory
from resolvers.tables import GRANTS, SCHOOLS, STUDENTS, YEAR_GROUPS
from tests.test_sync import riverside


async def _logins(engine: AsyncEngine) -> list[tuple[str, bool]]:
    """(student sourcedId, login active) for every student login grant."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(STUDENTS.c.sourced_id, GRANTS.c.revoked_at.is_(None))
            .join(GRANTS, GRANTS.c.student_id == STUDENTS.c.id)
            .where(GRANTS.c.source == "STUDENT_LOGIN")
            .order_by(STUDENTS.c.sourced_id)
        )
        return [(r[0], bool(r[1])) for r in rows]


async def test_a_sync_gives_and_takes_student_logins_with_the_data(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await import_directory(engine, files.write(tmp_path), dry_run=False, revoke_threshold=100)
    assert await _logins(engine) == []

    # Northfield turns logins on for Year 9 (as updateStudentLoginSettings would).
    async with engine.begin() as connection:
        north = (
            await connection.execute(sa.select(SCHOOLS.c.id).where(SCHOOLS.c.sourced_id == "north"))
        ).scalar_one()
        await connection.execute(
            sa.update(SCHOOLS).where(SCHOOLS.c.id == north).values(student_logins_enabled=True)
        )
        await connection.execute(
            sa.update(YEAR_GROUPS)
            .where(YEAR_GROUPS.c.school_id == north, YEAR_GROUPS.c.code == "09")
            .values(student_logins_enabled=True)
        )

    # The next sync makes the login of s1 (Year 9, synced email) ...
    await import_directory(engine, files.write(tmp_path), dry_run=False, revoke_threshold=100)
    assert await _logins(engine) == [("s1", True)]

    # ... and the sync that withdraws s1 ends it.
    files.user("s1")["status"] = "tobedeleted"
    await import_directory(engine, files.write(tmp_path), dry_run=False, revoke_threshold=100)
    assert await _logins(engine) == [("s1", False)]
