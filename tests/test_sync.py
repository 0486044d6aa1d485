"""The OneRoster import (docs/architecture.md section 4), on SQLite and PostgreSQL.

Each test writes a small file set with ``FileSet`` (OneRoster 1.2 layout
unless it says otherwise), imports it into a fresh database and reads back
what was stored, by sourcedId.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.errors import CliError
from gql.cli.sync import import_directory, run_sync
from gql.settings import Settings
from resolvers import tables
from resolvers.oneroster.csv_files import FieldError, parse_year_group_names
from resolvers.oneroster.importer import Changes, Problem, SyncSummary, import_oneroster
from resolvers.tables import (
    ACADEMIC_SESSIONS,
    ACCESS_EVENTS,
    ACCOUNTS,
    CONTACTS,
    DISTRICTS,
    ENROLMENTS,
    GRANTS,
    GUARDIANS,
    ROLE_GRANTS,
    SCHOOLS,
    SECTIONS,
    STAFF,
    STAFF_SCHOOLS,
    STUDENTS,
    YEAR_GROUPS,
)

# The roster below is of the Autumn 2025 term: imports run during it.
IN_TERM = dt.datetime(2025, 10, 1, 12, 0, tzinfo=dt.UTC)
LATER = IN_TERM + dt.timedelta(days=1)

COLUMNS = {
    "orgs.csv": [
        "sourcedId",
        "status",
        "dateLastModified",
        "name",
        "type",
        "identifier",
        "parentSourcedId",
        "metadata.emailDomains",
        "metadata.yearGroupNames",
    ],
    "academicSessions.csv": [
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "type",
        "startDate",
        "endDate",
        "parentSourcedId",
        "schoolYear",
    ],
    "classes.csv": [
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "classType",
        "schoolSourcedId",
        "termSourcedIds",
    ],
    "users.csv": [
        "sourcedId",
        "status",
        "dateLastModified",
        "enabledUser",
        "username",
        "givenName",
        "familyName",
        "email",
        "phone",
        "agentSourcedIds",
        "grades",
        "metadata.contactType",
        "metadata.portalEligible",
        "metadata.restrictedStudentSourcedIds",
    ],
    "roles.csv": [
        "sourcedId",
        "status",
        "dateLastModified",
        "userSourcedId",
        "roleType",
        "role",
        "orgSourcedId",
    ],
    "enrollments.csv": [
        "sourcedId",
        "status",
        "dateLastModified",
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
    ],
    "demographics.csv": ["sourcedId", "status", "dateLastModified", "birthDate"],
    "manifest.csv": ["propertyName", "value"],
}


@dataclass
class FileSet:
    """A OneRoster file set as rows to edit, written out by ``write``."""

    rows: dict[str, list[dict[str, str]]] = field(
        default_factory=lambda: {name: [] for name in COLUMNS}
    )
    columns: dict[str, list[str]] = field(
        default_factory=lambda: {name: list(c) for name, c in COLUMNS.items()}
    )

    def add(self, file: str, **values: str) -> dict[str, str]:
        self.rows[file].append(values)
        return values

    def person(self, sourced_id: str, role: str, org: str, **values: str) -> dict[str, str]:
        self.add(
            "roles.csv",
            sourcedId=f"role-{sourced_id}",
            userSourcedId=sourced_id,
            roleType="primary",
            role=role,
            orgSourcedId=org,
        )
        return self.add("users.csv", sourcedId=sourced_id, enabledUser="true", **values)

    def user(self, sourced_id: str) -> dict[str, str]:
        return next(row for row in self.rows["users.csv"] if row["sourcedId"] == sourced_id)

    def drop_user(self, sourced_id: str) -> None:
        for file, column in (
            ("users.csv", "sourcedId"),
            ("roles.csv", "userSourcedId"),
            ("enrollments.csv", "userSourcedId"),
            ("demographics.csv", "sourcedId"),
        ):
            self.rows[file] = [row for row in self.rows[file] if row[column] != sourced_id]

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for path in directory.glob("*.csv"):
            path.unlink()
        for name, rows in self.rows.items():
            if name in {"manifest.csv", "demographics.csv", "roles.csv"} and not rows:
                continue
            with (directory / name).open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(
                    handle, self.columns[name], restval="", extrasaction="ignore"
                )
                writer.writeheader()
                writer.writerows(rows)
        return directory


def riverside() -> FileSet:
    """One district, two schools, a few people of every kind."""
    files = FileSet()
    files.add(
        "orgs.csv",
        sourcedId="d1",
        name="Riverside Unified",
        type="district",
        **{"metadata.emailDomains": "riverside.example.edu staff.riverside.example.edu"},
    )
    files.add(
        "orgs.csv",
        sourcedId="north",
        name="Northfield High",
        type="school",
        parentSourcedId="d1",
        **{"metadata.yearGroupNames": "09=Year 9 10=Year 10"},
    )
    files.add("orgs.csv", sourcedId="south", name="Southbank", type="school", parentSourcedId="d1")
    files.add(
        "academicSessions.csv",
        sourcedId="autumn",
        title="Autumn 2025",
        type="term",
        startDate="2025-09-01",
        endDate="2025-12-19",
    )
    files.add(
        "classes.csv",
        sourcedId="maths-9",
        title="Maths 9",
        schoolSourcedId="north",
        termSourcedIds="autumn",
    )
    files.add("classes.csv", sourcedId="english-10", title="English 10", schoolSourcedId="south")
    files.person("admin", "districtAdministrator", "d1", givenName="Ada", familyName="Admin")
    files.person("head", "siteAdministrator", "north", givenName="Hal", familyName="Head")
    files.person(
        "teach",
        "teacher",
        "north",
        givenName="Tess",
        familyName="Teacher",
        email="teacher@riverside.example.edu",
    )
    files.person("aide", "aide", "south", givenName="Al", familyName="Aide")
    files.person(
        "s1",
        "student",
        "north",
        givenName="Sam",
        familyName="One",
        grades="09",
        email="sam@riverside.example.edu",
    )
    files.person("s2", "student", "south", givenName="Sue", familyName="Two", grades="10")
    files.person(
        "s3", "student", "north", givenName="Sid", familyName="Three", agentSourcedIds="g3"
    )
    files.person(
        "g1",
        "parent",
        "north",
        givenName="Gina",
        familyName="One",
        email="gina@example.com",
        agentSourcedIds="s1,s2",
        **{"metadata.contactType": "Mother", "metadata.portalEligible": "true"},
    )
    files.person("g3", "relative", "d1", givenName="Gus", familyName="Three", phone="555-0103")
    for sourced_id, section, user, role in (
        ("e1", "maths-9", "teach", "teacher"),
        ("e2", "maths-9", "s1", "student"),
        ("e3", "maths-9", "s3", "student"),
        ("e4", "english-10", "s2", "student"),
    ):
        files.add(
            "enrollments.csv",
            sourcedId=sourced_id,
            classSourcedId=section,
            userSourcedId=user,
            role=role,
        )
    files.add("demographics.csv", sourcedId="s1", birthDate="2011-04-05")
    files.add("manifest.csv", propertyName="manifest.version", value="1.0")
    files.add("manifest.csv", propertyName="oneroster.version", value="1.2")
    files.add("manifest.csv", propertyName="file.users", value="bulk")
    return files


async def run_import(
    engine: AsyncEngine,
    directory: Path,
    *,
    now: dt.datetime = IN_TERM,
    threshold: int = 100,
    **options: Any,
) -> SyncSummary:
    """Import in one transaction, committed unless the import was refused."""
    async with engine.connect() as connection, connection.begin() as transaction:
        summary = await import_oneroster(
            connection, directory, revoke_threshold=threshold, now=now, **options
        )
        if not summary.written:
            await transaction.rollback()
    return summary


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table.name: (
                await connection.execute(sa.select(sa.func.count()).select_from(table))
            ).scalar_one()
            for table in tables.metadata.sorted_tables
        }


async def fetch(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


@contextmanager
def recorded_writes(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every INSERT, UPDATE or DELETE sent to the database meanwhile."""
    writes: list[str] = []

    def before(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield writes
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", before)


def role_grants_query() -> sa.Select[Any]:
    """SIS and manual grants as (staff sourcedId, role, school sourcedId, source)."""
    return (
        sa.select(
            STAFF.c.sourced_id, ROLE_GRANTS.c.role, SCHOOLS.c.sourced_id, ROLE_GRANTS.c.source
        )
        .join(STAFF, STAFF.c.id == ROLE_GRANTS.c.staff_member_id)
        .outerjoin(SCHOOLS, SCHOOLS.c.id == ROLE_GRANTS.c.school_id)
        .order_by(STAFF.c.sourced_id, ROLE_GRANTS.c.role)
    )


def contacts_query() -> sa.Select[Any]:
    return (
        sa.select(
            STUDENTS.c.sourced_id,
            GUARDIANS.c.sourced_id,
            CONTACTS.c.contact_type,
            CONTACTS.c.portal_eligible,
            CONTACTS.c.restricted,
        )
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .join(GUARDIANS, GUARDIANS.c.id == CONTACTS.c.guardian_id)
        .order_by(STUDENTS.c.sourced_id, GUARDIANS.c.sourced_id)
    )


def staff_query() -> sa.Select[Any]:
    return sa.select(STAFF.c.sourced_id, STAFF.c.active, STAFF.c.deactivated_at).order_by(
        STAFF.c.sourced_id
    )


def students_query() -> sa.Select[Any]:
    return sa.select(
        STUDENTS.c.sourced_id, STUDENTS.c.status, STUDENTS.c.status_changed_at
    ).order_by(STUDENTS.c.sourced_id)


EXPECTED_SIS_GRANTS = [
    ("admin", "DISTRICT_ADMIN", None, "SIS_SYNC"),
    ("aide", "SUPPORT_STAFF", "south", "SIS_SYNC"),
    ("head", "SCHOOL_ADMIN", "north", "SIS_SYNC"),
    ("teach", "TEACHER", "north", "SIS_SYNC"),
]
EXPECTED_CONTACTS = [
    ("s1", "g1", "Mother", True, False),
    ("s2", "g1", "Mother", True, False),
    ("s3", "g3", "Guardian", False, False),
]


# ---------------------------------------------------------------- a first import


async def test_first_import_adds_every_record_of_the_file_set(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    summary = await run_import(engine, riverside().write(tmp_path))

    assert summary.refused == ()
    assert summary.problems == ()
    assert summary.exit_code == 0
    assert summary.changes == {
        "districts": Changes(added=1),
        "schools": Changes(added=2),
        "year_groups": Changes(added=3),
        "academic_sessions": Changes(added=1),
        "sections": Changes(added=2),
        "staff": Changes(added=4),
        "staff_schools": Changes(added=3),
        "role_grants": Changes(added=4),
        "students": Changes(added=3),
        "guardians": Changes(added=2),
        "contacts": Changes(added=3),
        "section_teachers": Changes(added=1),
        "enrolments": Changes(added=3),
        "access_grants": Changes(),
    }
    assert summary.total == Changes(added=32)
    assert await fetch(engine, sa.select(DISTRICTS.c.sourced_id, DISTRICTS.c.email_domains)) == [
        ("d1", "riverside.example.edu staff.riverside.example.edu")
    ]
    assert await fetch(
        engine,
        sa.select(SCHOOLS.c.sourced_id, YEAR_GROUPS.c.code, YEAR_GROUPS.c.name)
        .join(SCHOOLS, SCHOOLS.c.id == YEAR_GROUPS.c.school_id)
        .order_by(SCHOOLS.c.sourced_id, YEAR_GROUPS.c.code),
    ) == [("north", "09", "Year 9"), ("north", "10", "Year 10"), ("south", "10", "10")]
    assert await fetch(engine, role_grants_query()) == EXPECTED_SIS_GRANTS
    assert await fetch(engine, contacts_query()) == EXPECTED_CONTACTS
    assert await fetch(
        engine,
        sa.select(
            STUDENTS.c.sourced_id,
            SCHOOLS.c.sourced_id,
            STUDENTS.c.email,
            STUDENTS.c.date_of_birth,
            STUDENTS.c.status,
        )
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
        .order_by(STUDENTS.c.sourced_id),
    ) == [
        ("s1", "north", "sam@riverside.example.edu", dt.date(2011, 4, 5), "ENROLLED"),
        ("s2", "south", None, None, "ENROLLED"),
        ("s3", "north", None, None, "ENROLLED"),
    ]
    assert await fetch(
        engine,
        sa.select(SECTIONS.c.sourced_id, SECTIONS.c.name, ACADEMIC_SESSIONS.c.sourced_id)
        .outerjoin(ACADEMIC_SESSIONS, ACADEMIC_SESSIONS.c.id == SECTIONS.c.term_id)
        .order_by(SECTIONS.c.sourced_id),
    ) == [("english-10", "English 10", None), ("maths-9", "Maths 9", "autumn")]
    assert await fetch(
        engine,
        sa.select(STAFF.c.sourced_id, SCHOOLS.c.sourced_id)
        .select_from(STAFF_SCHOOLS)
        .join(STAFF, STAFF.c.id == STAFF_SCHOOLS.c.staff_member_id)
        .join(SCHOOLS, SCHOOLS.c.id == STAFF_SCHOOLS.c.school_id)
        .order_by(STAFF.c.sourced_id),
    ) == [("aide", "south"), ("head", "north"), ("teach", "north")]


async def test_second_import_of_the_same_files_reports_no_changes_and_writes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    directory = riverside().write(tmp_path)
    await run_import(engine, directory)
    counts = await table_counts(engine)

    with recorded_writes(engine) as writes:
        summary = await run_import(engine, directory, now=LATER)

    assert summary.total == Changes()
    assert writes == []
    assert await table_counts(engine) == counts


# ---------------------------------------------------------------- deactivation


async def test_disabled_staff_member_is_kept_inactive_and_loses_sis_roles_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    await _grant_manually(engine, "teach", "ENROLMENT_MANAGER")
    files.user("teach")["enabledUser"] = "false"

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["staff"] == Changes(deactivated=1)
    assert summary.changes["role_grants"] == Changes(removed=1)
    assert await fetch(engine, staff_query()) == [
        ("admin", True, None),
        ("aide", True, None),
        ("head", True, None),
        ("teach", False, LATER),
    ]
    assert await fetch(engine, role_grants_query()) == [
        ("admin", "DISTRICT_ADMIN", None, "SIS_SYNC"),
        ("aide", "SUPPORT_STAFF", "south", "SIS_SYNC"),
        ("head", "SCHOOL_ADMIN", "north", "SIS_SYNC"),
        ("teach", "ENROLMENT_MANAGER", None, "MANUAL"),
    ]


async def test_staff_member_missing_from_a_full_sync_is_deactivated_not_deleted(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    files.drop_user("head")

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["staff"] == Changes(deactivated=1)
    assert ("head", False, LATER) in await fetch(engine, staff_query())
    assert [g for g in await fetch(engine, role_grants_query()) if g[0] == "head"] == []
    # Where the record belonged stays on record.
    assert await fetch(
        engine,
        sa.select(SCHOOLS.c.sourced_id)
        .join(STAFF_SCHOOLS, STAFF_SCHOOLS.c.school_id == SCHOOLS.c.id)
        .join(STAFF, STAFF.c.id == STAFF_SCHOOLS.c.staff_member_id)
        .where(STAFF.c.sourced_id == "head"),
    ) == [("north",)]


async def test_deactivated_staff_member_who_comes_back_is_active_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    files.user("teach")["enabledUser"] = "false"
    await run_import(engine, files.write(tmp_path))
    assert ("teach", False, IN_TERM) in await fetch(engine, staff_query())
    files.user("teach")["enabledUser"] = "true"

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["staff"] == Changes(changed=1)
    assert summary.changes["role_grants"] == Changes(added=1)
    assert ("teach", True, None) in await fetch(engine, staff_query())


async def test_student_marked_tobedeleted_is_withdrawn_and_one_missing_too(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    files.user("s1")["status"] = "tobedeleted"
    files.drop_user("s2")
    files.user("g1")["agentSourcedIds"] = "s1"

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["students"] == Changes(deactivated=2)
    assert summary.changes["enrolments"] == Changes(deactivated=1)
    assert await fetch(engine, students_query()) == [
        ("s1", "WITHDRAWN", LATER),
        ("s2", "WITHDRAWN", LATER),
        ("s3", "ENROLLED", None),
    ]
    # The missing student's contacts stay on record; nothing is deleted.
    assert await fetch(engine, contacts_query()) == EXPECTED_CONTACTS


async def test_guardian_missing_from_a_full_sync_is_made_inactive(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    files.drop_user("g3")
    files.user("s3")["agentSourcedIds"] = ""

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["guardians"] == Changes(deactivated=1)
    assert await fetch(
        engine, sa.select(GUARDIANS.c.sourced_id, GUARDIANS.c.active).order_by("sourced_id")
    ) == [("g1", True), ("g3", False)]


async def test_role_grants_follow_the_files_and_manual_grants_are_untouched(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    await _grant_manually(engine, "head", "SECURITY_CONTACT")
    role = next(r for r in files.rows["roles.csv"] if r["userSourcedId"] == "head")
    role["role"] = "teacher"
    files.add(
        "roles.csv",
        sourcedId="role-head-south",
        userSourcedId="head",
        roleType="secondary",
        role="principal",
        orgSourcedId="south",
    )

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["role_grants"] == Changes(added=2, removed=1)
    assert summary.changes["staff_schools"] == Changes(added=1)
    assert [g for g in await fetch(engine, role_grants_query()) if g[0] == "head"] == [
        ("head", "SCHOOL_ADMIN", "south", "SIS_SYNC"),
        ("head", "SECURITY_CONTACT", None, "MANUAL"),
        ("head", "TEACHER", "north", "SIS_SYNC"),
    ]


async def test_enrolment_and_class_marked_tobedeleted_are_kept_inactive(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    files.rows["enrollments.csv"][1]["status"] = "tobedeleted"  # s1 in maths-9
    files.rows["classes.csv"][1]["status"] = "tobedeleted"  # english-10

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["sections"] == Changes(deactivated=1)
    assert summary.changes["enrolments"] == Changes(deactivated=1)
    assert await fetch(
        engine,
        sa.select(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id, ENROLMENTS.c.active)
        .join(SECTIONS, SECTIONS.c.id == ENROLMENTS.c.section_id)
        .join(STUDENTS, STUDENTS.c.id == ENROLMENTS.c.student_id)
        .order_by(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id),
    ) == [("english-10", "s2", True), ("maths-9", "s1", False), ("maths-9", "s3", True)]
    assert await fetch(
        engine, sa.select(SECTIONS.c.sourced_id, SECTIONS.c.active).order_by("sourced_id")
    ) == [("english-10", False), ("maths-9", True)]


async def test_academic_session_marked_tobedeleted_or_left_out_is_kept_inactive(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    files.add(
        "academicSessions.csv",
        sourcedId="spring",
        title="Spring 2026",
        type="term",
        startDate="2026-01-05",
        endDate="2026-03-27",
    )
    files.add(
        "academicSessions.csv",
        sourcedId="summer",
        title="Summer 2026",
        type="term",
        startDate="2026-04-13",
        endDate="2026-07-17",
    )
    await run_import(engine, files.write(tmp_path))
    files.rows["academicSessions.csv"][0]["status"] = "tobedeleted"  # autumn
    files.rows["academicSessions.csv"].pop()  # summer

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["academic_sessions"] == Changes(deactivated=2)
    sessions = tables.AcademicSession.__table__
    assert await fetch(
        engine, sa.select(sessions.c.sourced_id, sessions.c.active).order_by("sourced_id")
    ) == [("autumn", False), ("spring", True), ("summer", False)]
    # Its class still names it: nothing is deleted.
    assert await fetch(
        engine,
        sa.select(SECTIONS.c.sourced_id)
        .join(sessions, sessions.c.id == SECTIONS.c.term_id)
        .where(sessions.c.sourced_id == "autumn"),
    ) == [("maths-9",)]


# ---------------------------------------------------------------- rows with problems


def _unknown_school(files: FileSet) -> None:
    files.rows["classes.csv"][1]["schoolSourcedId"] = "west"


def _bad_birth_date(files: FileSet) -> None:
    files.rows["demographics.csv"][0]["birthDate"] = "2011-13-40"


def _bad_boolean(files: FileSet) -> None:
    files.user("g1")["metadata.portalEligible"] = "maybe"
    files.user("g1")["familyName"] = "Renamed"


def enrolments_query() -> sa.Select[Any]:
    return (
        sa.select(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id, ENROLMENTS.c.active)
        .join(SECTIONS, SECTIONS.c.id == ENROLMENTS.c.section_id)
        .join(STUDENTS, STUDENTS.c.id == ENROLMENTS.c.student_id)
        .order_by(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id)
    )


@pytest.mark.parametrize(
    ("spoil", "problem", "kept_query"),
    [
        pytest.param(
            _unknown_school,
            Problem("classes.csv", 3, "schoolSourcedId 'west' is not in orgs.csv", "english-10"),
            # The class and its enrolment stay as stored, active.
            sa.select(SECTIONS.c.sourced_id, SECTIONS.c.active, SECTIONS.c.school_id).order_by(
                SECTIONS.c.sourced_id
            ),
            id="unknown-reference",
        ),
        pytest.param(
            _bad_birth_date,
            Problem(
                "demographics.csv", 2, "birthDate is not a date (YYYY-MM-DD): '2011-13-40'", "s1"
            ),
            sa.select(STUDENTS.c.sourced_id, STUDENTS.c.date_of_birth).where(
                STUDENTS.c.sourced_id == "s1"
            ),
            id="bad-date",
        ),
        pytest.param(
            _bad_boolean,
            Problem(
                "users.csv", 9, "metadata.portalEligible must be true or false, not 'maybe'", "g1"
            ),
            sa.select(GUARDIANS.c.sourced_id, GUARDIANS.c.family_name, GUARDIANS.c.active),
            id="bad-boolean",
        ),
    ],
)
async def test_a_row_with_a_problem_is_skipped_listed_and_left_as_stored_the_rest_is_written(
    engine: AsyncEngine, tmp_path: Path, spoil: Any, problem: Problem, kept_query: Any
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    kept = await fetch(engine, kept_query)
    contacts, enrolments = (
        await fetch(engine, contacts_query()),
        await fetch(engine, enrolments_query()),
    )
    # Good changes beside the bad row are written.
    files.person("s4", "student", "south", givenName="Sol", familyName="Four")
    files.user("teach")["enabledUser"] = "false"
    spoil(files)

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.problems == (problem,)
    assert summary.refused == ()
    assert summary.exit_code == 3
    assert summary.changes["students"] == Changes(added=1)
    assert summary.changes["staff"] == Changes(deactivated=1)
    assert await fetch(engine, kept_query) == kept
    assert await fetch(engine, contacts_query()) == contacts
    assert await fetch(engine, enrolments_query()) == enrolments


async def test_every_problem_is_listed_once_and_what_depends_on_a_skipped_row_cites_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    files.rows["academicSessions.csv"][0]["endDate"] = "2025-08-01"
    files.user("s2")["enabledUser"] = "sometimes"
    files.rows["enrollments.csv"][3]["userSourcedId"] = "nobody"
    files.add("roles.csv", userSourcedId="s3", role="wizard", orgSourcedId="north")

    summary = await run_import(engine, files.write(tmp_path))

    assert [str(problem) for problem in summary.problems] == [
        "academicSessions.csv line 2 (autumn): endDate 2025-08-01 is before startDate 2025-09-01",
        "users.csv line 7 (s2): enabledUser must be true or false, not 'sometimes'",
        "roles.csv line 11 (s3): unknown role 'wizard'",
        "classes.csv line 2 (maths-9): termSourcedIds 'autumn' was skipped "
        "(see academicSessions.csv line 2)",
        "enrollments.csv line 5 (e4): userSourcedId 'nobody' is not in users.csv",
    ]
    assert summary.exit_code == 3
    # Everything else is written: the district, both schools, the other people.
    assert summary.changes["schools"] == Changes(added=2)
    assert [row[0] for row in await fetch(engine, students_query())] == ["s1"]
    assert summary.changes["sections"] == Changes(added=1)


async def test_a_row_naming_a_skipped_school_cites_the_schools_row_not_a_contradiction(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    files.rows["orgs.csv"][1]["name"] = ""  # north

    summary = await run_import(engine, files.write(tmp_path))

    cause = "was skipped (see orgs.csv line 3)"
    assert [str(problem) for problem in summary.problems] == [
        "orgs.csv line 3 (north): name is empty",
        f"roles.csv line 3 (head): orgSourcedId 'north' {cause}",
        f"roles.csv line 4 (teach): orgSourcedId 'north' {cause}",
        f"roles.csv line 6 (s1): orgSourcedId 'north' {cause}",
        f"roles.csv line 8 (s3): orgSourcedId 'north' {cause}",
        f"roles.csv line 9 (g1): orgSourcedId 'north' {cause}",
        f"classes.csv line 2 (maths-9): schoolSourcedId 'north' {cause}",
    ]
    assert [row[0] for row in await fetch(engine, students_query())] == ["s2"]


async def test_a_row_with_the_wrong_field_count_skips_its_user_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    directory = riverside().write(tmp_path)
    roles = (directory / "roles.csv").read_text().splitlines()
    roles[3] = roles[3] + ",extra"  # teach's role row
    (directory / "roles.csv").write_text("\n".join(roles) + "\n")

    summary = await run_import(engine, directory)

    assert [str(problem) for problem in summary.problems] == [
        "roles.csv line 4 (teach): 8 fields where the header has 7",
    ]
    assert [row[0] for row in await fetch(engine, staff_query())] == ["admin", "aide", "head"]
    # Its enrolment waits with its user: not listed again.
    assert summary.changes["section_teachers"] == Changes()


async def test_a_file_with_a_missing_column_refuses_the_file_set_and_writes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    files.columns["roles.csv"].remove("orgSourcedId")

    summary = await run_import(engine, files.write(tmp_path))

    assert summary.refused == (Problem("roles.csv", 1, "missing required column(s): orgSourcedId"),)
    assert summary.exit_code == 1
    assert set((await table_counts(engine)).values()) == {0}


async def test_strict_writes_nothing_when_a_row_has_a_problem(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    _unknown_school(files)

    summary = await run_import(engine, files.write(tmp_path), strict=True)

    assert summary.exit_code == 1
    assert [str(r) for r in summary.refused] == [
        "--strict: 1 row(s) have problems, so nothing was written"
    ]
    assert summary.problems == (
        Problem("classes.csv", 3, "schoolSourcedId 'west' is not in orgs.csv", "english-10"),
    )
    assert set((await table_counts(engine)).values()) == {0}


async def test_every_problem_is_counted_and_listed(engine: AsyncEngine, tmp_path: Path) -> None:
    files = riverside()
    for number in range(60):
        person = files.person(f"x{number}", "student", "north", givenName="X", familyName="Y")
        person["enabledUser"] = "perhaps"

    summary = await run_import(engine, files.write(tmp_path))

    assert len(summary.problems) == 60
    assert summary.problems[0] == Problem(
        "users.csv", 11, "enabledUser must be true or false, not 'perhaps'", "x0"
    )


async def test_missing_required_file_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    directory = riverside().write(tmp_path)
    (directory / "enrollments.csv").unlink()

    summary = await run_import(engine, directory)

    assert summary.refused == (Problem("enrollments.csv", None, "required file is missing"),)
    assert summary.exit_code == 1


async def test_a_sync_deactivating_many_of_a_districts_people_is_refused_unless_confirmed(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    for number in range(12):
        files.person(f"x{number}", "student", "north", givenName="X", familyName=f"Y{number}")
    await run_import(engine, files.write(tmp_path))
    for number in range(12):
        files.drop_user(f"x{number}")
    directory = files.write(tmp_path)

    refused = await run_import(engine, directory, now=LATER)
    confirmed = await run_import(engine, directory, now=LATER, confirm_mass_change=True)

    assert [str(r) for r in refused.refused] == [
        "district 'd1': this sync would deactivate 12 of its 21 active people (57%), more than "
        "the 20% allowed (ACCESSGRAPH_SYNC_MASS_CHANGE_SHARE). Check that the export is "
        "complete, or run again with --confirm-mass-change"
    ]
    assert refused.exit_code == 1
    assert confirmed.exit_code == 0
    assert confirmed.changes["students"] == Changes(deactivated=12)
    statuses = [row[1] for row in await fetch(engine, students_query())]
    assert statuses.count("WITHDRAWN") == 12


# ---------------------------------------------------------------- layouts and metadata


def test_year_group_names_run_until_the_next_code() -> None:
    assert parse_year_group_names(" 09=Year 9  10=Year 10 R=Reception class ") == {
        "09": "Year 9",
        "10": "Year 10",
        "R": "Reception class",
    }


@pytest.mark.parametrize("value", ["Year 9", "09= 10=Year 10", "=Year 9"])
def test_year_group_names_without_a_code_or_a_name_are_refused(value: str) -> None:
    with pytest.raises(FieldError) as raised:
        parse_year_group_names(value)
    assert str(raised.value) == (
        f"metadata.yearGroupNames must read like '09=Year 9 10=Year 10', not {value!r}"
    )


def as_1_1_layout(files: FileSet) -> FileSet:
    """The same people with role and orgSourcedIds on users.csv, no roles.csv."""
    roles = {row["userSourcedId"]: row for row in files.rows["roles.csv"]}
    for user in files.rows["users.csv"]:
        user["role"] = roles[user["sourcedId"]]["role"]
        user["orgSourcedIds"] = roles[user["sourcedId"]]["orgSourcedId"]
    files.rows["roles.csv"] = []
    files.rows["manifest.csv"] = []
    files.columns["users.csv"] += ["role", "orgSourcedIds"]
    return files


async def test_oneroster_1_1_layout_imports_the_same_records(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    directory = as_1_1_layout(riverside()).write(tmp_path)
    assert not (directory / "roles.csv").exists()

    summary = await run_import(engine, directory)

    assert summary.refused == ()
    assert summary.total == Changes(added=32)
    assert await fetch(engine, role_grants_query()) == EXPECTED_SIS_GRANTS
    assert await fetch(engine, contacts_query()) == EXPECTED_CONTACTS


async def test_a_1_1_delta_changes_only_the_records_it_carries(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await run_import(engine, as_1_1_layout(riverside()).write(tmp_path / "full"))
    delta = FileSet()
    delta.columns["users.csv"] += ["role", "orgSourcedIds"]
    delta.add(
        "users.csv",
        sourcedId="s4",
        enabledUser="true",
        givenName="Sol",
        familyName="Four",
        role="student",
        orgSourcedIds="south",
    )
    delta.add(
        "users.csv",
        sourcedId="s1",
        status="tobedeleted",
        givenName="Sam",
        familyName="One",
        role="student",
        orgSourcedIds="north",
    )
    delta.add(
        "enrollments.csv",
        sourcedId="e5",
        classSourcedId="english-10",
        userSourcedId="s4",
        role="student",
    )
    for name, mode in (
        ("orgs", "absent"),
        ("academicSessions", "absent"),
        ("classes", "absent"),
        ("users", "delta"),
        ("enrollments", "delta"),
    ):
        delta.add("manifest.csv", propertyName=f"file.{name}", value=mode)
    directory = delta.write(tmp_path / "delta")
    for name in ("orgs.csv", "academicSessions.csv", "classes.csv"):
        (directory / name).unlink()

    summary = await run_import(engine, directory, now=LATER)

    assert summary.exit_code == 0
    assert {kind: c for kind, c in summary.changes.items() if c != Changes()} == {
        "students": Changes(added=1, deactivated=1),
        "enrolments": Changes(added=1),
    }
    assert await fetch(engine, students_query()) == [
        ("s1", "WITHDRAWN", LATER),
        ("s2", "ENROLLED", None),
        ("s3", "ENROLLED", None),
        ("s4", "ENROLLED", None),
    ]
    assert await fetch(engine, contacts_query()) == EXPECTED_CONTACTS


async def test_1_1_layout_administrator_is_district_or_school_admin_by_org(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    for row in files.rows["roles.csv"]:
        if row["userSourcedId"] in {"admin", "head"}:
            row["role"] = "administrator"

    await run_import(engine, as_1_1_layout(files).write(tmp_path))

    assert [g for g in await fetch(engine, role_grants_query()) if g[0] in {"admin", "head"}] == [
        ("admin", "DISTRICT_ADMIN", None, "SIS_SYNC"),
        ("head", "SCHOOL_ADMIN", "north", "SIS_SYNC"),
    ]


async def test_1_1_file_set_without_role_column_is_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    files.rows["roles.csv"] = []

    summary = await run_import(engine, files.write(tmp_path))

    assert summary.refused == (
        Problem(
            "users.csv",
            1,
            "missing required column(s): role, orgSourcedIds "
            "(without roles.csv the OneRoster 1.1 layout is read)",
        ),
    )


async def test_metadata_columns_set_contact_type_portal_flag_and_restriction(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    guardian = files.user("g1")
    guardian["metadata.contactType"] = "Stepmother"
    guardian["metadata.portalEligible"] = "FALSE"
    # A restriction names a student the SIS lists no other tie to: it is
    # recorded as a restricted contact all the same.
    guardian["metadata.restrictedStudentSourcedIds"] = "s2 s3"

    await run_import(engine, files.write(tmp_path))

    assert await fetch(engine, contacts_query()) == [
        ("s1", "g1", "Stepmother", False, False),
        ("s2", "g1", "Stepmother", False, True),
        ("s3", "g1", "Stepmother", False, True),
        ("s3", "g3", "Guardian", False, False),
    ]


async def test_contact_removed_from_a_student_in_the_files_is_removed(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    files.user("g1")["agentSourcedIds"] = "s1"

    summary = await run_import(engine, files.write(tmp_path))

    assert summary.changes["contacts"] == Changes(removed=1)
    assert [c[:2] for c in await fetch(engine, contacts_query())] == [
        ("s1", "g1"),
        ("s3", "g3"),
    ]


# ---------------------------------------------------------------- portal access


async def _guardian_account_with_grants(engine: AsyncEngine, *students: str) -> int:
    async with engine.begin() as connection:
        guardian_id = (
            await connection.execute(
                sa.select(GUARDIANS.c.id).where(GUARDIANS.c.sourced_id == "g1")
            )
        ).scalar_one()
        account = await connection.execute(
            ACCOUNTS.insert().values(
                kind="GUARDIAN",
                email="gina@example.com",
                display_name="Gina One",
                guardian_id=guardian_id,
                created_at=IN_TERM,
            )
        )
        assert account.inserted_primary_key is not None
        account_id = account.inserted_primary_key[0]
        for sourced_id in students:
            student = (
                await connection.execute(
                    sa.select(STUDENTS.c.id, STUDENTS.c.district_id).where(
                        STUDENTS.c.sourced_id == sourced_id
                    )
                )
            ).one()
            await connection.execute(
                GRANTS.insert().values(
                    district_id=student.district_id,
                    account_id=account_id,
                    student_id=student.id,
                    source="ACCESS_CODE",
                    granted_at=IN_TERM,
                )
            )
    assert isinstance(account_id, int)
    return account_id


async def _grant_manually(engine: AsyncEngine, staff: str, role: str) -> None:
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                sa.select(STAFF.c.id, STAFF.c.district_id).where(STAFF.c.sourced_id == staff)
            )
        ).one()
        await connection.execute(
            ROLE_GRANTS.insert().values(
                district_id=row.district_id,
                staff_member_id=row.id,
                role=role,
                source="MANUAL",
                created_at=IN_TERM,
            )
        )


async def test_custody_restriction_arriving_revokes_the_contacts_grant_and_audits_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    await _guardian_account_with_grants(engine, "s1", "s2")
    files.user("g1")["metadata.restrictedStudentSourcedIds"] = "s1"

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["contacts"] == Changes(changed=1)
    assert summary.changes["access_grants"] == Changes(deactivated=1)
    assert await fetch(
        engine,
        sa.select(STUDENTS.c.sourced_id, GRANTS.c.revoked_at, GRANTS.c.revoke_reason)
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .order_by(STUDENTS.c.sourced_id),
    ) == [("s1", LATER, "custody restriction"), ("s2", None, None)]
    rows = await fetch(
        engine,
        sa.select(
            STUDENTS.c.sourced_id,
            ACCESS_EVENTS.c.at,
            ACCESS_EVENTS.c.actor_kind,
            ACCESS_EVENTS.c.actor_name,
            ACCESS_EVENTS.c.action,
            ACCESS_EVENTS.c.detail,
        ).join(STUDENTS, STUDENTS.c.id == ACCESS_EVENTS.c.student_id),
    )
    assert len(rows) == 1
    assert rows[0][:5] == ("s1", LATER, None, "SIS sync", "GRANT_REVOKED")
    assert "custody restriction" in rows[0][5]
    # The next sync finds nothing more to revoke.
    with recorded_writes(engine) as writes:
        again = await run_import(engine, files.write(tmp_path), now=LATER)
    assert again.total == Changes()
    assert writes == []


async def test_a_grant_held_by_the_restricted_contacts_own_unlinked_account_is_revoked(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The restriction binds the person: an account Gina made herself
    (verified email, any case, not linked to her contact record) that holds
    a grant to s1 loses it on the next sync, audited."""
    files = riverside()
    files.user("g1")["metadata.restrictedStudentSourcedIds"] = "s1"
    await run_import(engine, files.write(tmp_path))
    async with engine.begin() as connection:
        account = await connection.execute(
            tables.Account.__table__.insert().values(
                kind="GUARDIAN",
                email="Gina@Example.com",
                email_verified_at=IN_TERM,
                display_name="Gina One",
                created_at=IN_TERM,
            )
        )
        assert account.inserted_primary_key is not None
        s1 = (
            await connection.execute(
                sa.select(STUDENTS.c.id, STUDENTS.c.district_id).where(
                    STUDENTS.c.sourced_id == "s1"
                )
            )
        ).one()
        await connection.execute(
            tables.StudentAccessGrant.__table__.insert().values(
                district_id=s1.district_id,
                account_id=account.inserted_primary_key[0],
                student_id=s1.id,
                source="ACCESS_CODE",
                granted_at=IN_TERM,
            )
        )

    summary = await run_import(engine, files.write(tmp_path), now=LATER)

    assert summary.changes["access_grants"] == Changes(deactivated=1)
    grants = tables.StudentAccessGrant.__table__
    assert await fetch(engine, sa.select(grants.c.revoked_at, grants.c.revoke_reason)) == [
        (LATER, "custody restriction")
    ]
    events = tables.AccessEvent.__table__
    assert await fetch(
        engine, sa.select(events.c.student_id, events.c.actor_name, events.c.action)
    ) == [(s1.id, "SIS sync", "GRANT_REVOKED")]


async def test_guardian_accounts_losing_their_last_student_are_counted_and_warned(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    files = riverside()
    await run_import(engine, files.write(tmp_path))
    await _guardian_account_with_grants(engine)
    files.user("s1")["status"] = "tobedeleted"

    still_has_one = await run_import(engine, files.write(tmp_path), threshold=0)
    files.user("s2")["enabledUser"] = "false"
    lost_both = await run_import(engine, files.write(tmp_path), threshold=0)

    assert still_has_one.would_revoke_accounts == 0
    assert still_has_one.warnings == ()
    assert lost_both.would_revoke_accounts == 1
    assert lost_both.warnings == (
        "guardian accounts losing their last current student in this sync: 1 (threshold 0); "
        "they would move to READY_TO_REVOKE. Check that the export is complete",
    )


# ---------------------------------------------------------------- the command


async def test_dry_run_reports_the_changes_and_writes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    directory = riverside().write(tmp_path)

    summary = await import_directory(engine, directory, dry_run=True, revoke_threshold=100)

    assert summary.total == Changes(added=32)
    assert set((await table_counts(engine)).values()) == {0}


async def test_sync_command_prints_a_json_summary_and_commits(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = riverside().write(tmp_path)

    code = await run_sync(
        Settings(database_url=database_url), str(directory), dry_run=False, as_json=True
    )

    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["outcome"] == "written"
    assert printed["exit_code"] == 0
    assert printed["problems"] == []
    assert printed["dry_run"] is False
    assert printed["total"] == {"added": 32, "changed": 0, "deactivated": 0, "removed": 0}
    assert printed["changes"]["students"] == {
        "added": 3,
        "changed": 0,
        "deactivated": 0,
        "removed": 0,
    }
    assert (await table_counts(engine))["students"] == 3


async def test_sync_command_prints_a_table_and_says_when_nothing_was_written(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = riverside().write(tmp_path)

    code = await run_sync(
        Settings(database_url=database_url), str(directory), dry_run=True, as_json=False
    )

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0] == f"OneRoster import of {directory} (dry run: nothing was written)"
    assert lines[1].split() == ["added", "changed", "deactivated", "removed"]
    assert lines[10].split() == ["students", "3", "0", "0", "0"]
    assert lines[-2].split() == ["total", "32", "0", "0", "0"]


async def test_sync_command_exits_3_and_lists_skipped_rows_in_text_and_json(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = riverside()
    _unknown_school(files)
    directory = str(files.write(tmp_path))
    settings = Settings(database_url=database_url)

    code = await run_sync(settings, directory, dry_run=True, as_json=False)
    text = capsys.readouterr().err
    json_code = await run_sync(settings, directory, dry_run=False, as_json=True)
    printed = json.loads(capsys.readouterr().out)

    assert (code, json_code) == (3, 3)
    assert text == (
        "Skipped: 1 row with problems (everything else was checked):\n"
        "  classes.csv line 3 (english-10): schoolSourcedId 'west' is not in orgs.csv\n"
    )
    assert printed["outcome"] == "written_with_problems"
    assert printed["problems"] == [
        {
            "file": "classes.csv",
            "line": 3,
            "sourcedId": "english-10",
            "reason": "schoolSourcedId 'west' is not in orgs.csv",
        }
    ]
    assert printed["changes"]["sections"] == {
        "added": 1,
        "changed": 0,
        "deactivated": 0,
        "removed": 0,
    }


async def test_sync_command_exits_1_and_names_the_problem_when_refused(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = riverside().write(tmp_path)
    (directory / "orgs.csv").unlink()

    code = await run_sync(
        Settings(database_url=database_url), str(directory), dry_run=False, as_json=False
    )

    assert code == 1
    assert capsys.readouterr().err == (
        "Refused: nothing was written. 1 reason:\n  orgs.csv: required file is missing\n"
    )


@pytest.mark.parametrize("name", ["missing", "notes.txt"])
async def test_sync_command_says_in_one_line_when_the_path_is_not_an_export(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a zip")
    path = tmp_path / name

    with pytest.raises(CliError) as refused:
        await run_sync(Settings(database_url=database_url), str(path), dry_run=False, as_json=False)

    # gql.cli.main prints it as one line on stderr (tests/test_cli.py).
    assert refused.value.exit_code == 1
    expected = (
        "no such directory or zip file"
        if name == "missing"
        else "not a directory or a zip archive of OneRoster CSV files"
    )
    assert refused.value.message == (
        f"{path}: {expected}; give the directory (or zip archive) of the OneRoster CSV export."
    )
    assert capsys.readouterr().err == ""
