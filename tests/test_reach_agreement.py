"""The Python predicates and the SQL filters of scope agree: for every viewer
of the permission world, every student and every capability, the student
is matched by ``capability_student_filter`` exactly when
``Scope.student_capabilities`` holds the capability, and by
``student_filter`` exactly when the viewer has any relation to the student.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from permissions.capabilities import Capability
from resolvers.db import Db
from resolvers.scope import capability_student_filter, student_filter
from resolvers.tables import STUDENTS
from resolvers.viewers import load_viewer
from tests.clock import NOW
from tests.world import VIEWERS, World

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("who", VIEWERS)
async def test_python_predicates_and_sql_filters_agree(
    world_engine: tuple[AsyncEngine, World], who: str
) -> None:
    engine, world = world_engine
    async with AsyncSession(engine) as session:
        db = Db(session)
        viewer = await load_viewer(db, session_id=world.sessions[who], now=NOW)
        assert viewer is not None
        students = await db.all(
            sa.select(STUDENTS.c.id, STUDENTS.c.school_id, STUDENTS.c.district_id)
        )
        scope = viewer.scope
        in_scope = {
            r.id for r in await db.all(sa.select(STUDENTS.c.id).where(student_filter(scope)))
        }
        related = {
            s.id
            for s in students
            if scope.relations_to_student(
                student_id=s.id, school_id=s.school_id, district_id=s.district_id
            )
        }
        assert in_scope == related
        for capability in Capability:
            matched = {
                r.id
                for r in await db.all(
                    sa.select(STUDENTS.c.id).where(capability_student_filter(scope, capability))
                )
            }
            held = {
                s.id
                for s in students
                if capability
                in scope.student_capabilities(
                    student_id=s.id, school_id=s.school_id, district_id=s.district_id
                )
            }
            assert matched == held, capability
