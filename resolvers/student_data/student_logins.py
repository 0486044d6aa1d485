"""Student logins: what a school is billed for a term.

A student counts once per term if any of their STUDENT_LOGIN grants was
live on any day of it: granted on or before the term's last day, and not
revoked before its first. A login turned off mid-term is still billed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.scope import school_filter
from resolvers.tables import ACADEMIC_SESSIONS, GRANTS, SCHOOLS, STUDENTS, GrantSource


async def school_in_scope(db: Db, viewer: Viewer, school_id: int) -> Row[Any] | None:
    return await db.first(
        sa.select(SCHOOLS).where(SCHOOLS.c.id == school_id, school_filter(viewer.scope))
    )


async def term_by_title(db: Db, district_id: int, title: str) -> Row[Any] | None:
    """The district's academic session with that title. Titles are not
    unique in the SIS ("Autumn" recurs each year): the latest one wins, and
    one the SIS still lists (active) before one it deleted."""
    return await db.first(
        sa.select(ACADEMIC_SESSIONS)
        .where(ACADEMIC_SESSIONS.c.district_id == district_id, ACADEMIC_SESSIONS.c.title == title)
        .order_by(
            ACADEMIC_SESSIONS.c.active.desc(),
            ACADEMIC_SESSIONS.c.start_date.desc(),
            ACADEMIC_SESSIONS.c.id.desc(),
        )
        .limit(1)
    )


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


async def students_with_logins(
    db: Db, *, school_id: int, district_id: int, first_day: dt.date, last_day: dt.date
) -> int:
    """Distinct students of the school with a login live during the term
    (days in UTC: a grant made at any time on the last day counts)."""
    total = await db.scalar(
        sa.select(sa.func.count(sa.distinct(GRANTS.c.student_id)))
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .where(
            GRANTS.c.district_id == district_id,
            STUDENTS.c.school_id == school_id,
            GRANTS.c.source == GrantSource.STUDENT_LOGIN,
            GRANTS.c.granted_at < _start_of(last_day + dt.timedelta(days=1)),
            sa.or_(GRANTS.c.revoked_at.is_(None), GRANTS.c.revoked_at >= _start_of(first_day)),
        )
    )
    return int(total or 0)
