"""Recording homework: attributed to the linked staff record, not the login.

An assistant whose account is linked to a teacher's record records as that
teacher (docs/architecture.md section 2); the account is kept beside it for the audit of who
actually typed it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.scope import section_filter
from resolvers.tables import HOMEWORK, SECTIONS
from resolvers.writes import Refusal, not_found, require


async def section_for_homework(
    db: Db, viewer: Viewer, section_id: int | None, *, field: tuple[str, ...]
) -> tuple[Row[Any] | None, list[Refusal]]:
    """The section, if in the viewer's scope (else NOT_FOUND); Forbidden
    unless the viewer teaches it or administers its school or district."""
    section = None
    if section_id is not None:
        section = await db.first(
            sa.select(SECTIONS).where(SECTIONS.c.id == section_id, section_filter(viewer.scope))
        )
    if section is None:
        return None, [not_found("section", field)]
    require(
        viewer.scope.may_record_for_section(
            section_id=section.id, school_id=section.school_id, district_id=section.district_id
        ),
        "Only the section's teachers and its school's administrators record homework.",
    )
    return section, []


async def create_homework(
    db: Db,
    *,
    section: Row[Any],
    title: str,
    details: str | None,
    due_on: dt.date,
    staff_member_id: int,
    account_id: int,
    now: dt.datetime,
) -> Row[Any]:
    """Insert one homework and return it as ``Homework.from_row`` reads it."""
    result = await db.execute(
        sa.insert(HOMEWORK)
        .values(
            district_id=section.district_id,
            section_id=section.id,
            title=title,
            details=details,
            due_on=due_on,
            recorded_by_staff_id=staff_member_id,
            recorded_by_account_id=account_id,
            created_at=now,
        )
        .returning(HOMEWORK.c.id)
    )
    homework_id = int(result.scalar_one())
    row = await db.first(
        sa.select(*HOMEWORK.c, SECTIONS.c.name.label("section_name"))
        .join(SECTIONS, SECTIONS.c.id == HOMEWORK.c.section_id)
        .where(HOMEWORK.c.id == homework_id)
    )
    assert row is not None  # inserted just above, in this transaction
    return row
