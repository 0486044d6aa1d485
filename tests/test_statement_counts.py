"""SQL statements per request depend on the query's shape, never on the rows.

A teacher with 100 students in a section, and a school admin of the same
school: listing 10 or 100 students with nested data runs the same number of
statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from resolvers.db import create_engine
from resolvers.tables import (
    CONTACTS,
    ENROLMENTS,
    GUARDIANS,
    SECTION_TEACHERS,
    SESSIONS,
    STAFF_SCHOOLS,
    STUDENTS,
)
from tests.client import GraphQLRunner, StatementCounter
from tests.clock import NOW
from tests.databases import Backend

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def crowded(backend: Backend) -> AsyncIterator[tuple[AsyncEngine, GraphQLRunner]]:
    url = await backend.fresh()
    engine = create_engine(url)
    async with engine.begin() as c:

        async def ins(table: type, **values: object) -> int:
            t = table.__table__  # type: ignore[attr-defined]
            return int(
                (await c.execute(sa.insert(t).values(**values).returning(t.c.id))).scalar_one()
            )

        district = await ins(tables.District, sourced_id="d", name="D")
        school = await ins(tables.School, district_id=district, sourced_id="s", name="S")
        years = [
            await ins(
                tables.YearGroup,
                district_id=district,
                school_id=school,
                code=f"{n:02}",
                name=f"Year {n}",
            )
            for n in (7, 8, 9)
        ]
        teacher = await ins(
            tables.StaffMember,
            district_id=district,
            sourced_id="t",
            given_name="T",
            family_name="T",
            email="t@d.example",
        )
        admin = await ins(
            tables.StaffMember,
            district_id=district,
            sourced_id="a",
            given_name="A",
            family_name="A",
            email="a@d.example",
        )
        for staff, role in [(teacher, "TEACHER"), (admin, "SCHOOL_ADMIN")]:
            await c.execute(
                sa.insert(STAFF_SCHOOLS).values(
                    staff_member_id=staff, school_id=school, district_id=district
                )
            )
            await ins(
                tables.RoleGrant,
                district_id=district,
                staff_member_id=staff,
                role=role,
                school_id=school,
                source="SIS_SYNC",
                created_at=NOW,
            )
        section = await ins(
            tables.Section, district_id=district, school_id=school, sourced_id="sec", name="Sec"
        )
        await c.execute(
            sa.insert(SECTION_TEACHERS).values(
                section_id=section, staff_member_id=teacher, district_id=district
            )
        )
        await c.execute(
            sa.insert(STUDENTS),
            [
                {
                    "district_id": district,
                    "school_id": school,
                    "year_group_id": years[i % 3],
                    "sourced_id": f"st{i}",
                    "given_name": f"G{i:03}",
                    "family_name": f"F{i:03}",
                }
                for i in range(120)
            ],
        )
        student_ids = [r.id for r in (await c.execute(sa.select(STUDENTS.c.id))).all()]
        await c.execute(
            sa.insert(ENROLMENTS),
            [
                {"section_id": section, "student_id": s, "district_id": district}
                for s in student_ids
            ],
        )
        await c.execute(
            sa.insert(GUARDIANS),
            [
                {
                    "district_id": district,
                    "sourced_id": f"g{i}",
                    "given_name": f"P{i}",
                    "family_name": "P",
                }
                for i in range(240)
            ],
        )
        guardian_ids = [
            r.id
            for r in (await c.execute(sa.select(GUARDIANS.c.id).order_by(GUARDIANS.c.id))).all()
        ]
        await c.execute(
            sa.insert(CONTACTS),
            [
                {
                    "district_id": district,
                    "student_id": s,
                    "guardian_id": guardian_ids[2 * i + k],
                    "contact_type": "Mother" if k == 0 else "Father",
                    "portal_eligible": True,
                }
                for i, s in enumerate(student_ids)
                for k in (0, 1)
            ],
        )
        sessions = {}
        for key, staff in [("teacher", teacher), ("admin", admin)]:
            account = await ins(
                tables.Account,
                kind="STAFF",
                email=f"{key}@d.example",
                display_name=key,
                created_at=NOW,
                staff_member_id=staff,
            )
            await c.execute(
                sa.insert(SESSIONS).values(
                    id=f"s-{key}",
                    account_id=account,
                    family_id=f"f-{key}",
                    created_at=NOW,
                    expires_at=NOW + dt.timedelta(days=3650),
                )
            )
            sessions[key] = f"s-{key}"
    yield engine, GraphQLRunner(engine, sessions)
    await engine.dispose()
    await backend.drop(url)


TEACHER_LIST = "query($n: Int!) { students(first: $n) { edges { node { displayName school { name } yearGroup { name } } } } }"
ADMIN_LIST = "query($n: Int!) { students(first: $n) { edges { node { displayName contacts { contactType guardian { displayName email } } } } } }"


@pytest.mark.parametrize(("who", "query"), [("teacher", TEACHER_LIST), ("admin", ADMIN_LIST)])
async def test_listing_10_or_100_students_runs_the_same_statements(
    crowded: tuple[AsyncEngine, GraphQLRunner], who: str, query: str
) -> None:
    engine, runner = crowded
    counter = StatementCounter(engine)
    counts = {}
    for n in (10, 100):
        with counter.counting() as statements:
            result = await runner.run(who, query, n=n)
        assert result.errors == []
        assert result.data is not None
        assert len(result.data["students"]["edges"]) == n
        counts[n] = len(statements)
    assert counts[10] == counts[100]
    # session check + scope, the page, one statement per nested level, and
    # at most one INSERT for the read log whatever the number of students
    assert counts[100] <= 7
    audit_inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    # the admin reads contacts (restricted): one INSERT logs all 100 reads
    assert len(audit_inserts) == (1 if who == "admin" else 0)
