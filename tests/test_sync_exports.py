"""OneRoster exports shaped like real ones, through the sync command, on SQLite and PostgreSQL.

The file sets are in ``tests/fixtures/oneroster/`` (docs/architecture.md
section 4): each is a small export with one of the shapes SIS exports
produce, written as their tools write them.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.errors import CliError
from gql.cli.sync import run_sync
from gql.settings import Settings
from resolvers import tables
from tests.client import NOW, GraphQLRunner, gid

FIXTURES = Path(__file__).parent / "fixtures" / "oneroster"

DISTRICTS = tables.District.__table__
SCHOOLS = tables.School.__table__
SECTIONS = tables.Section.__table__
STAFF = tables.StaffMember.__table__
STUDENTS = tables.Student.__table__
GUARDIANS = tables.Guardian.__table__
CONTACTS = tables.StudentContact.__table__
ENROLMENTS = tables.SectionEnrolment.__table__
TEACHERS = tables.SectionTeacher.__table__
ROLE_GRANTS = tables.RoleGrant.__table__


async def fetch(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


async def sync_json(
    database_url: str, path: Path, capsys: pytest.CaptureFixture[str], **options: Any
) -> tuple[int, dict[str, Any]]:
    """Run ``accessgraph sync oneroster PATH --json``: its exit code and output."""
    code = await run_sync(
        Settings(database_url=database_url), str(path), dry_run=False, as_json=True, **options
    )
    return code, json.loads(capsys.readouterr().out)


def zipped(directory: Path, into: Path, *, folder: str) -> Path:
    """The export as a SIS offers it for download: a zip holding its folder."""
    archive = into / f"{folder}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped_file:
        for path in sorted(directory.iterdir()):
            zipped_file.write(path, f"{folder}/{path.name}")
    return archive


def counts(
    added: int = 0, changed: int = 0, deactivated: int = 0, removed: int = 0
) -> dict[str, int]:
    return {"added": added, "changed": changed, "deactivated": deactivated, "removed": removed}


# ---------------------------------------------------------------- spreadsheets and zips


async def test_a_zipped_1_1_export_saved_by_a_spreadsheet_imports_cleanly(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # UTF-8 with a byte order mark, CRLF, a quoted comma and line break, a
    # repeated header cell, two blank header cells with empty fields under
    # them, a row of empty cells, and a OneRoster 1.0 demographics.csv.
    archive = zipped(FIXTURES / "spreadsheet-1.1", tmp_path, folder="LakesideExport")

    code, printed = await sync_json(database_url, archive, capsys)

    assert code == 0
    assert printed["outcome"] == "written"
    assert printed["problems"] == []
    assert printed["warnings"] == [
        "demographics.csv: missing required column(s): sourcedId, birthDate; the file was left out"
    ]
    assert printed["changes"]["students"] == counts(added=2)
    assert await fetch(engine, sa.select(SCHOOLS.c.sourced_id, SCHOOLS.c.name)) == [
        ("lake-hs", "Lakeside High")
    ]
    assert await fetch(
        engine, sa.select(SECTIONS.c.sourced_id, SECTIONS.c.name).order_by(SECTIONS.c.sourced_id)
    ) == [("c-art", "Art\nand Design"), ("c-maths", "Maths, Set 1")]
    assert await fetch(
        engine,
        sa.select(
            STUDENTS.c.sourced_id,
            STUDENTS.c.given_name,
            STUDENTS.c.family_name,
            STUDENTS.c.date_of_birth,
        ).order_by(STUDENTS.c.sourced_id),
    ) == [("s-nunez", "Zoë", "Núñez", None), ("s-okafor", "Chidi", "Okafor", None)]
    assert await fetch(
        engine,
        sa.select(STUDENTS.c.sourced_id, GUARDIANS.c.sourced_id, GUARDIANS.c.phone)
        .join(CONTACTS, CONTACTS.c.guardian_id == GUARDIANS.c.id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id),
    ) == [("s-nunez", "p-nunez", "555-0199")]
    assert await fetch(
        engine,
        sa.select(SECTIONS.c.sourced_id, STAFF.c.sourced_id)
        .join(TEACHERS, TEACHERS.c.section_id == SECTIONS.c.id)
        .join(STAFF, STAFF.c.id == TEACHERS.c.staff_member_id)
        .order_by(SECTIONS.c.sourced_id),
    ) == [("c-art", "t-ruiz"), ("c-maths", "t-ruiz")]


async def test_the_same_export_as_a_directory_imports_the_same_and_again_changes_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "export"
    shutil.copytree(FIXTURES / "spreadsheet-1.1", directory)
    archive = zipped(directory, tmp_path, folder="LakesideExport")

    first_code, first = await sync_json(database_url, directory, capsys)
    again_code, again = await sync_json(database_url, archive, capsys)

    assert (first_code, again_code) == (0, 0)
    assert first["total"] == counts(added=17)
    assert again["total"] == counts()


async def test_a_zip_with_csv_files_in_two_folders_is_refused_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zipped_file:
        zipped_file.writestr("2024/orgs.csv", "sourcedId\n")
        zipped_file.writestr("2025/orgs.csv", "sourcedId\n")

    with pytest.raises(CliError) as refused:
        await run_sync(
            Settings(database_url=database_url), str(archive), dry_run=False, as_json=False
        )

    assert refused.value.exit_code == 1
    assert refused.value.message == (
        f"{archive}: the archive's CSV files are in several folders (2024, 2025); give the "
        "directory (or zip archive) of the OneRoster CSV export."
    )


async def test_a_file_saved_in_another_encoding_refuses_the_export_with_how_to_fix_it(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "export"
    shutil.copytree(FIXTURES / "spreadsheet-1.1", directory)
    users = (directory / "users.csv").read_text(encoding="utf-8-sig")
    (directory / "users.csv").write_bytes(users.encode("cp1252"))

    code, printed = await sync_json(database_url, directory, capsys)

    assert code == 1
    assert printed["refused"] == [
        {
            "file": "users.csv",
            "line": None,
            "sourcedId": None,
            "reason": "not UTF-8 text: save the file as CSV UTF-8",
        }
    ]
    assert await fetch(engine, sa.select(DISTRICTS.c.sourced_id)) == []


async def test_a_roles_file_of_another_version_beside_1_1_users_is_left_out_with_a_warning(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "export"
    shutil.copytree(FIXTURES / "spreadsheet-1.1", directory)
    (directory / "roles.csv").write_text("sourcedId,userId,roleName\nr1,t-ruiz,teacher\n")

    code, printed = await sync_json(database_url, directory, capsys)

    assert code == 0
    assert printed["warnings"][0] == (
        "roles.csv: missing required column(s): userSourcedId, role, orgSourcedId; the file "
        "was left out and the roles in users.csv were read (OneRoster 1.1 layout)"
    )
    assert await fetch(engine, sa.select(ROLE_GRANTS.c.role)) == [("TEACHER",)]


# ---------------------------------------------------------------- people with several roles


def people_query() -> sa.Select[Any]:
    """Every staff, student and guardian record as (kind, district, sourcedId, active)."""
    parts = [
        sa.select(sa.literal(kind), DISTRICTS.c.sourced_id, table.c.sourced_id, active).join(
            DISTRICTS, DISTRICTS.c.id == table.c.district_id
        )
        for kind, table, active in (
            ("staff", STAFF, STAFF.c.active),
            ("student", STUDENTS, STUDENTS.c.status == "ENROLLED"),
            ("guardian", GUARDIANS, GUARDIANS.c.active),
        )
    ]
    union = sa.union_all(*parts).subquery()
    return sa.select(*union.c).order_by(*union.c)


async def test_a_teacher_who_is_a_parent_in_two_districts_is_staff_and_guardian_in_each(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = await sync_json(database_url, FIXTURES / "teacher-parent-1.2", capsys)

    assert code == 0
    assert printed["problems"] == []
    assert await fetch(engine, people_query()) == [
        ("guardian", "oak", "t-lee", True),
        ("guardian", "pine", "t-lee", True),
        ("staff", "oak", "a-oak", True),
        ("staff", "oak", "t-lee", True),
        ("student", "oak", "s-lee-1", True),
        ("student", "oak", "s-ms", True),
        ("student", "pine", "s-lee-2", True),
    ]
    assert await fetch(
        engine,
        sa.select(DISTRICTS.c.sourced_id, STUDENTS.c.sourced_id, CONTACTS.c.contact_type)
        .join(GUARDIANS, GUARDIANS.c.id == CONTACTS.c.guardian_id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .join(DISTRICTS, DISTRICTS.c.id == GUARDIANS.c.district_id)
        .order_by(DISTRICTS.c.sourced_id),
    ) == [("oak", "s-lee-1", "Father"), ("pine", "s-lee-2", "Father")]
    assert await fetch(
        engine,
        sa.select(STAFF.c.sourced_id, ROLE_GRANTS.c.role, SCHOOLS.c.sourced_id)
        .join(STAFF, STAFF.c.id == ROLE_GRANTS.c.staff_member_id)
        .outerjoin(SCHOOLS, SCHOOLS.c.id == ROLE_GRANTS.c.school_id)
        .order_by(STAFF.c.sourced_id),
    ) == [("a-oak", "DISTRICT_ADMIN", None), ("t-lee", "TEACHER", "oak-ms")]


async def test_each_role_of_a_person_is_decided_by_its_own_row(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "export"
    shutil.copytree(FIXTURES / "teacher-parent-1.2", directory)
    await sync_json(database_url, directory, capsys)
    roles = (directory / "roles.csv").read_text()
    # The teacher leaves Oak Middle; the parent role at Oak stays.
    (directory / "roles.csv").write_text(roles.replace("r2,active,", "r2,tobedeleted,"))

    code, printed = await sync_json(database_url, directory, capsys)

    assert code == 0
    assert printed["changes"]["staff"] == counts(deactivated=1)
    assert printed["changes"]["guardians"] == counts()
    assert [row for row in await fetch(engine, people_query()) if row[2] == "t-lee"] == [
        ("guardian", "oak", "t-lee", True),
        ("guardian", "pine", "t-lee", True),
        ("staff", "oak", "t-lee", False),
    ]


# ---------------------------------------------------------------- org shapes


async def test_standalone_schools_get_a_district_of_their_own_and_departments_their_school(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = await sync_json(database_url, FIXTURES / "org-shapes-1.2", capsys)
    again_code, again = await sync_json(database_url, FIXTURES / "org-shapes-1.2", capsys)

    assert code == 0
    assert printed["warnings"] == [
        "orgs.csv line 5: school 'valley-ms' has parentSourcedId 'county', a local, not a "
        "district: it is imported as a standalone school in a district of its own"
    ]
    # The implicit districts' ids derive from the schools': the same at every sync.
    assert (again_code, again["total"]) == (0, counts())
    assert await fetch(
        engine,
        sa.select(DISTRICTS.c.sourced_id, DISTRICTS.c.name, SCHOOLS.c.sourced_id)
        .join(SCHOOLS, SCHOOLS.c.district_id == DISTRICTS.c.id)
        .order_by(DISTRICTS.c.sourced_id),
    ) == [
        ("hill-hs~district", "Hill High", "hill-hs"),
        ("valley-ms~district", "Valley Middle", "valley-ms"),
    ]
    staff_schools = tables.StaffSchool.__table__
    assert await fetch(
        engine,
        sa.select(STAFF.c.sourced_id, SCHOOLS.c.sourced_id)
        .join(staff_schools, staff_schools.c.staff_member_id == STAFF.c.id)
        .join(SCHOOLS, SCHOOLS.c.id == staff_schools.c.school_id)
        .order_by(STAFF.c.sourced_id),
    ) == [("t-bio", "hill-hs"), ("t-math", "valley-ms")]
    assert await fetch(
        engine,
        sa.select(SECTIONS.c.sourced_id, SCHOOLS.c.sourced_id)
        .join(SCHOOLS, SCHOOLS.c.id == SECTIONS.c.school_id)
        .order_by(SECTIONS.c.sourced_id),
    ) == [("bio-10", "hill-hs"), ("maths-7", "valley-ms")]
    assert await fetch(
        engine,
        sa.select(STAFF.c.sourced_id, ROLE_GRANTS.c.role, SCHOOLS.c.sourced_id)
        .join(STAFF, STAFF.c.id == ROLE_GRANTS.c.staff_member_id)
        .join(SCHOOLS, SCHOOLS.c.id == ROLE_GRANTS.c.school_id)
        .order_by(STAFF.c.sourced_id),
    ) == [("t-bio", "TEACHER", "hill-hs"), ("t-math", "TEACHER", "valley-ms")]


async def test_a_row_pointing_at_a_missing_org_is_skipped_and_the_rest_written(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "export"
    shutil.copytree(FIXTURES / "org-shapes-1.2", directory)
    with (directory / "roles.csv").open("a") as roles:
        roles.write("r5,active,2025-08-01,s-new,primary,student,hill-annex\n")
    with (directory / "users.csv").open("a") as users:
        users.write("s-new,active,2025-08-01,true,,Nia,New,,,,10,,\n")
    with (directory / "enrollments.csv").open("a") as enrollments:
        enrollments.write("e5,active,2025-08-01,bio-10,hill-hs,s-new,student\n")

    code, printed = await sync_json(database_url, directory, capsys)

    assert code == 3
    assert printed["outcome"] == "written_with_problems"
    # One problem: the enrolment of the skipped student is not listed again.
    assert printed["problems"] == [
        {
            "file": "roles.csv",
            "line": 6,
            "sourcedId": "s-new",
            "reason": "orgSourcedId 'hill-annex' is not in orgs.csv",
        }
    ]
    assert printed["changes"]["students"] == counts(added=2)
    assert printed["changes"]["enrolments"] == counts(added=2)


PROVISION = """
mutation($ids: [ID!]!) {
  provisionAccounts(input: {guardianIds: $ids, sendWelcomeEmail: true}) {
    accounts { kind email guardian { displayName }
               grants { edges { node { source student { displayName } } } } }
    userErrors { code message field }
  }
}
"""
MY_STUDENTS = "{ viewer { students(first: 10) { edges { node { displayName } } } } }"


async def _account_with_session(
    engine: AsyncEngine, staff: str, email: str, sessions: dict[str, str]
) -> int:
    accounts = tables.Account.__table__
    async with engine.begin() as connection:
        staff_id = (
            await connection.execute(sa.select(STAFF.c.id).where(STAFF.c.sourced_id == staff))
        ).scalar_one()
        account_id = (
            await connection.execute(
                sa.insert(accounts)
                .values(
                    kind="STAFF",
                    email=email,
                    display_name=staff,
                    created_at=NOW,
                    staff_member_id=staff_id,
                )
                .returning(accounts.c.id)
            )
        ).scalar_one()
        await connection.execute(
            sa.insert(tables.Session.__table__).values(
                id=f"session-{staff}",
                account_id=account_id,
                family_id=f"family-{staff}",
                created_at=NOW,
                expires_at=NOW + dt.timedelta(days=365),
            )
        )
    sessions[staff] = f"session-{staff}"
    return int(account_id)


async def test_provisioning_a_teachers_contact_record_links_their_staff_account(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    await sync_json(database_url, FIXTURES / "teacher-parent-1.2", capsys)
    sessions: dict[str, str] = {}
    await _account_with_session(engine, "a-oak", "avery@oak.example.edu", sessions)
    teacher = await _account_with_session(engine, "t-lee", "jordan.lee@oak.example.edu", sessions)
    runner = GraphQLRunner(engine, sessions)
    oak = (
        await fetch(
            engine,
            sa.select(GUARDIANS.c.id)
            .join(DISTRICTS, DISTRICTS.c.id == GUARDIANS.c.district_id)
            .where(DISTRICTS.c.sourced_id == "oak"),
        )
    )[0][0]
    before = await runner.run("t-lee", MY_STUDENTS)

    result = await runner.run("a-oak", PROVISION, ids=[gid("Guardian", oak)])

    assert result.errors == []
    assert result.data == {
        "provisionAccounts": {
            "accounts": [
                {
                    "kind": "STAFF",
                    "email": "jordan.lee@oak.example.edu",
                    "guardian": {"displayName": "Jordan Lee"},
                    "grants": {
                        "edges": [
                            {"node": {"source": "SIS_SYNC", "student": {"displayName": "Mia Lee"}}}
                        ]
                    },
                }
            ],
            "userErrors": [],
        }
    }
    accounts = tables.Account.__table__
    assert await fetch(
        engine, sa.select(accounts.c.id, accounts.c.kind, accounts.c.guardian_id).order_by("id")
    ) == [(teacher - 1, "STAFF", None), (teacher, "STAFF", oak)]
    # No welcome email: the person already signs in.
    assert await fetch(engine, sa.select(tables.OutboxEmail.__table__.c.id)) == []
    after = await runner.run("t-lee", MY_STUDENTS)

    def names(result: Any) -> list[str]:
        return sorted(e["node"]["displayName"] for e in result.data["viewer"]["students"]["edges"])

    # The teacher's class, and now the teacher's own child.
    assert names(before) == ["Ava Stone"]
    assert names(after) == ["Ava Stone", "Mia Lee"]


# ---------------------------------------------------------------- delta exports


def enrolments_query() -> sa.Select[Any]:
    return (
        sa.select(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id, ENROLMENTS.c.active)
        .join(SECTIONS, SECTIONS.c.id == ENROLMENTS.c.section_id)
        .join(STUDENTS, STUDENTS.c.id == ENROLMENTS.c.student_id)
        .order_by(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id)
    )


async def test_a_delta_ends_an_enrolment_adds_a_student_and_leaves_the_rest_untouched(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    await sync_json(database_url, FIXTURES / "teacher-parent-1.2", capsys)
    people = await fetch(engine, people_query())
    contacts = await fetch(engine, sa.select(CONTACTS.c.student_id, CONTACTS.c.guardian_id))
    grants = await fetch(engine, sa.select(ROLE_GRANTS.c.staff_member_id, ROLE_GRANTS.c.role))

    code, printed = await sync_json(database_url, FIXTURES / "delta-1.2", capsys)

    assert code == 0
    assert printed["problems"] == []
    assert {kind: c for kind, c in printed["changes"].items() if c != counts()} == {
        "students": counts(added=1),
        "enrolments": counts(added=1, deactivated=1),
    }
    assert await fetch(engine, people_query()) == sorted(
        [*people, ("student", "oak", "s-new", True)]
    )
    assert await fetch(engine, enrolments_query()) == [
        ("oak-ms-sci", "s-ms", False),
        ("oak-ms-sci", "s-new", True),
    ]
    assert await fetch(engine, sa.select(CONTACTS.c.student_id, CONTACTS.c.guardian_id)) == contacts
    assert (
        await fetch(engine, sa.select(ROLE_GRANTS.c.staff_member_id, ROLE_GRANTS.c.role)) == grants
    )
    # Applied twice, a delta changes nothing more.
    again_code, again = await sync_json(database_url, FIXTURES / "delta-1.2", capsys)
    assert (again_code, again["total"]) == (0, counts())


async def test_a_delta_role_row_marked_tobedeleted_ends_that_role_only(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await sync_json(database_url, FIXTURES / "teacher-parent-1.2", capsys)
    directory = tmp_path / "delta"
    shutil.copytree(FIXTURES / "delta-1.2", directory)
    (directory / "enrollments.csv").unlink()
    (directory / "users.csv").write_text(
        (FIXTURES / "teacher-parent-1.2" / "users.csv").read_text().splitlines()[0]
        + "\nt-lee,active,2025-09-02,true,jlee,Jordan,Lee,jordan.lee@oak.example.edu,555-0142,"
        "s-lee-1 s-lee-2,,Father,true\n"
    )
    (directory / "roles.csv").write_text(
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,orgSourcedId\n"
        "r2,tobedeleted,2025-09-02,t-lee,primary,teacher,oak-ms\n"
    )

    code, printed = await sync_json(database_url, directory, capsys)

    assert code == 0
    assert printed["changes"]["role_grants"] == counts(removed=1)
    assert printed["changes"]["staff_schools"] == counts(removed=1)
    # The record stays (the user row is active), and so do the contact records.
    assert [row for row in await fetch(engine, people_query()) if row[2] == "t-lee"] == [
        ("guardian", "oak", "t-lee", True),
        ("guardian", "pine", "t-lee", True),
        ("staff", "oak", "t-lee", True),
    ]
    assert await fetch(
        engine,
        sa.select(STAFF.c.sourced_id, ROLE_GRANTS.c.role).join(
            STAFF, STAFF.c.id == ROLE_GRANTS.c.staff_member_id
        ),
    ) == [("a-oak", "DISTRICT_ADMIN")]


async def test_a_1_2_delta_without_roles_changes_a_users_details_in_every_record(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await sync_json(database_url, FIXTURES / "teacher-parent-1.2", capsys)
    directory = tmp_path / "delta"
    shutil.copytree(FIXTURES / "delta-1.2", directory)
    for name in ("roles.csv", "enrollments.csv"):
        (directory / name).unlink()
    (directory / "users.csv").write_text(
        (FIXTURES / "teacher-parent-1.2" / "users.csv").read_text().splitlines()[0]
        + "\nt-lee,active,2025-09-02,true,jlee,Jordan,Lee-Park,jordan.lee@oak.example.edu,"
        "555-0142,s-lee-1 s-lee-2,,Father,true\n"
    )

    code, printed = await sync_json(database_url, directory, capsys)

    assert code == 0
    assert printed["changes"]["staff"] == counts(changed=1)
    assert printed["changes"]["guardians"] == counts(changed=2)
    assert await fetch(
        engine, sa.select(GUARDIANS.c.family_name).where(GUARDIANS.c.sourced_id == "t-lee")
    ) == [("Lee-Park",), ("Lee-Park",)]
    assert await fetch(
        engine, sa.select(STAFF.c.family_name).where(STAFF.c.sourced_id == "t-lee")
    ) == [("Lee-Park",)]
