"""A small district world for permission tests, written with plain inserts.

Two districts. North has schools A (Northfield) and B (Southfield); Other
has school C. Every person a permission matrix needs is here by name:

- teachers: t_maths (A, teaches a_maths: s1, s4 withdrawn), t_art (A,
  teaches a_art: s3), t_sci (B, teaches b_sci: s2)
- admins: admin_a, admin_b, admin_c (school), da_north, da_other (district)
- enrol_a (ENROLMENT_MANAGER at A), support_a, security_a
- unlinked: an account with SCHOOL_ADMIN at A granted by hand, no staff record
- deactivated: a staff record the SIS deactivated (teacher at A), with account
- students: s1 (A, Year 9, email), s2 (B, Year 9), s3 (A, Year 10), s4 (A,
  withdrawn), s5 (C)
- contacts: g_mother of s1 and s2 (portal eligible), g_father of s1
  (restricted: custody), g_other of s5
- guardian accounts: parent (linked to g_mother, grants to s1 and s2 by code),
  lonely_parent (no grants)
- student account: student_s1 (logins on for A's Year 9)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from resolvers.tables import ENROLMENTS, SECTION_TEACHERS, SESSIONS, STAFF_SCHOOLS
from tests.clock import NOW


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


async def _insert(connection: Any, table: Any, **values: Any) -> int:
    result = await connection.execute(
        sa.insert(table.__table__).values(**values).returning(table.__table__.c.id)
    )
    return int(result.scalar_one())


async def build_world(engine: AsyncEngine) -> World:
    w = World()
    async with engine.begin() as c:
        ins = lambda table, **v: _insert(c, table, **v)  # noqa: E731
        w.ids["north"] = await ins(
            tables.District,
            sourced_id="north",
            name="North District",
            email_domains="north.example.edu",
        )
        w.ids["other"] = await ins(tables.District, sourced_id="other", name="Other District")
        for key, district, name, logins in [
            ("school_a", "north", "Northfield", True),
            ("school_b", "north", "Southfield", False),
            ("school_c", "other", "Easton", False),
        ]:
            w.ids[key] = await ins(
                tables.School,
                district_id=w[district],
                sourced_id=key,
                name=name,
                student_logins_enabled=logins,
            )
        for key, school, code, name, logins in [
            ("a_y9", "school_a", "09", "Year 9", True),
            ("a_y10", "school_a", "10", "Year 10", False),
            ("b_y9", "school_b", "09", "Year 9", False),
            ("c_y9", "school_c", "09", "Year 9", False),
        ]:
            district = "other" if school == "school_c" else "north"
            w.ids[key] = await ins(
                tables.YearGroup,
                district_id=w[district],
                school_id=w[school],
                code=code,
                name=name,
                student_logins_enabled=logins,
            )

        for key, school, year, given, family, status, email in [
            ("s1", "school_a", "a_y9", "Ada", "Lovelace", "ENROLLED", "ada@students.example.org"),
            ("s2", "school_b", "b_y9", "Byron", "Lovelace", "ENROLLED", None),
            ("s3", "school_a", "a_y10", "Charles", "Babbage", "ENROLLED", None),
            ("s4", "school_a", "a_y9", "Dora", "Withdrawn", "WITHDRAWN", None),
            ("s5", "school_c", "c_y9", "Eve", "Easton", "ENROLLED", None),
        ]:
            district = "other" if school == "school_c" else "north"
            w.ids[key] = await ins(
                tables.Student,
                district_id=w[district],
                school_id=w[school],
                year_group_id=w[year],
                sourced_id=key,
                given_name=given,
                family_name=family,
                status=status,
                email=email,
                date_of_birth=dt.date(2012, 5, 1),
            )

        for key, given, family, email, district in [
            ("g_mother", "Mary", "Lovelace", "mary@home.example.com", "north"),
            ("g_father", "Frank", "Lovelace", "frank@home.example.com", "north"),
            ("g_other", "Olive", "Easton", "olive@home.example.com", "other"),
        ]:
            w.ids[key] = await ins(
                tables.Guardian,
                district_id=w[district],
                sourced_id=key,
                given_name=given,
                family_name=family,
                email=email,
                phone="555-0100",
            )
        for guardian, student, contact_type, eligible, restricted in [
            ("g_mother", "s1", "Mother", True, False),
            ("g_mother", "s2", "Mother", True, False),
            ("g_father", "s1", "Father", True, True),
            ("g_other", "s5", "Mother", True, False),
        ]:
            district = "other" if student == "s5" else "north"
            w.ids[f"contact_{guardian}_{student}"] = await ins(
                tables.StudentContact,
                district_id=w[district],
                student_id=w[student],
                guardian_id=w[guardian],
                contact_type=contact_type,
                portal_eligible=eligible,
                restricted=restricted,
            )

        staff_people = [
            # key, district, schools, given, family, active, roles [(role, school or None)]
            ("t_maths", "north", ["school_a"], "Tess", "Maths", True, [("TEACHER", "school_a")]),
            ("t_art", "north", ["school_a"], "Art", "Teacher", True, [("TEACHER", "school_a")]),
            ("t_sci", "north", ["school_b"], "Sam", "Science", True, [("TEACHER", "school_b")]),
            (
                "admin_a",
                "north",
                ["school_a"],
                "Anna",
                "Head",
                True,
                [("SCHOOL_ADMIN", "school_a")],
            ),
            ("admin_b", "north", ["school_b"], "Ben", "Head", True, [("SCHOOL_ADMIN", "school_b")]),
            (
                "admin_c",
                "other",
                ["school_c"],
                "Cara",
                "Head",
                True,
                [("SCHOOL_ADMIN", "school_c")],
            ),
            (
                "da_north",
                "north",
                ["school_a", "school_b"],
                "Dan",
                "North",
                True,
                [("DISTRICT_ADMIN", None)],
            ),
            ("da_other", "other", ["school_c"], "Dee", "Other", True, [("DISTRICT_ADMIN", None)]),
            (
                "enrol_a",
                "north",
                ["school_a"],
                "Enid",
                "Manager",
                True,
                [("ENROLMENT_MANAGER", "school_a")],
            ),
            (
                "support_a",
                "north",
                ["school_a"],
                "Sue",
                "Support",
                True,
                [("SUPPORT_STAFF", "school_a")],
            ),
            (
                "security_a",
                "north",
                ["school_a"],
                "Seth",
                "Security",
                True,
                [("SECURITY_CONTACT", "school_a")],
            ),
            ("deactivated", "north", ["school_a"], "Del", "Gone", False, [("TEACHER", "school_a")]),
        ]
        for key, district, schools, given, family, active, roles in staff_people:
            email = f"{key}@{district}.example.edu"
            staff_id = await ins(
                tables.StaffMember,
                district_id=w[district],
                sourced_id=key,
                given_name=given,
                family_name=family,
                email=email,
                active=active,
                deactivated_at=None if active else NOW,
            )
            w.ids[key + "_staff"] = staff_id
            for school in schools:
                await c.execute(
                    sa.insert(STAFF_SCHOOLS).values(
                        staff_member_id=staff_id, school_id=w[school], district_id=w[district]
                    )
                )
            for role, school in roles:
                await ins(
                    tables.RoleGrant,
                    district_id=w[district],
                    staff_member_id=staff_id,
                    role=role,
                    school_id=w[school] if school else None,
                    source="SIS_SYNC",
                    created_at=NOW,
                )
            w.ids[key] = await ins(
                tables.Account,
                kind="STAFF",
                email=email,
                display_name=f"{given} {family}",
                created_at=NOW,
                staff_member_id=staff_id,
            )

        for key, school, teacher, students in [
            ("a_maths", "school_a", "t_maths", ["s1", "s4"]),
            ("a_art", "school_a", "t_art", ["s3"]),
            ("b_sci", "school_b", "t_sci", ["s2"]),
        ]:
            w.ids[key] = await ins(
                tables.Section,
                district_id=w["north"],
                school_id=w[school],
                sourced_id=key,
                name=key.replace("_", " ").title(),
            )
            await c.execute(
                sa.insert(SECTION_TEACHERS).values(
                    section_id=w[key], staff_member_id=w[teacher + "_staff"], district_id=w["north"]
                )
            )
            for student in students:
                await c.execute(
                    sa.insert(ENROLMENTS).values(
                        section_id=w[key],
                        student_id=w[student],
                        district_id=w["north"],
                        active=student != "s4",
                    )
                )

        w.ids["unlinked"] = await ins(
            tables.Account,
            kind="STAFF",
            email="assistant@example.org",
            display_name="Una Linked",
            created_at=NOW,
        )
        await ins(
            tables.RoleGrant,
            district_id=w["north"],
            account_id=w["unlinked"],
            role="SCHOOL_ADMIN",
            school_id=w["school_a"],
            source="MANUAL",
            created_at=NOW,
        )

        w.ids["parent"] = await ins(
            tables.Account,
            kind="GUARDIAN",
            email="mary@home.example.com",
            display_name="Mary Lovelace",
            created_at=NOW,
            guardian_id=w["g_mother"],
            last_login_at=NOW,
        )
        w.ids["lonely_parent"] = await ins(
            tables.Account,
            kind="GUARDIAN",
            email="lonely@home.example.com",
            display_name="Lonely Parent",
            created_at=NOW,
        )
        w.ids["code_s1"] = await ins(
            tables.AccessCode,
            district_id=w["north"],
            student_id=w["s1"],
            code="ACDEFGHJKMNP",
            status="ACTIVE",
            created_at=NOW,
            created_by_staff_id=w["enrol_a_staff"],
        )
        for student, district in [("s1", "north"), ("s2", "north")]:
            w.ids[f"grant_parent_{student}"] = await ins(
                tables.StudentAccessGrant,
                district_id=w[district],
                account_id=w["parent"],
                student_id=w[student],
                source="ACCESS_CODE",
                relationship="Mother",
                granted_at=NOW,
            )
        w.ids["student_s1"] = await ins(
            tables.Account,
            kind="STUDENT",
            email="ada@students.example.org",
            display_name="Ada Lovelace",
            created_at=NOW,
            student_id=w["s1"],
        )
        w.ids["grant_student_s1"] = await ins(
            tables.StudentAccessGrant,
            district_id=w["north"],
            account_id=w["student_s1"],
            student_id=w["s1"],
            source="STUDENT_LOGIN",
            granted_at=NOW,
        )

        for key in [k for k in list(w.ids) if k in VIEWERS]:
            session_id = f"session-{key}"
            await c.execute(
                sa.insert(SESSIONS).values(
                    id=session_id,
                    account_id=w[key],
                    family_id=f"family-{key}",
                    created_at=NOW,
                    expires_at=NOW + dt.timedelta(days=3650),
                )
            )
            w.sessions[key] = session_id
    return w


VIEWERS = [
    "t_maths",
    "t_art",
    "t_sci",
    "admin_a",
    "admin_b",
    "admin_c",
    "da_north",
    "da_other",
    "enrol_a",
    "support_a",
    "security_a",
    "deactivated",
    "unlinked",
    "parent",
    "lonely_parent",
    "student_s1",
]
