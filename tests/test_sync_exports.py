"""OneRoster exports shaped like real ones, through the sync command, on SQLite and PostgreSQL.

The file sets are in ``tests/fixtures/oneroster/`` (docs/architecture.md
section 4): each is a small export with one of the shapes SIS exports
produce, written as their tools write them.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.sync import run_sync
from gql.settings import Settings
from resolvers import tables

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
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zipped_file:
        zipped_file.writestr("2024/orgs.csv", "sourcedId\n")
        zipped_file.writestr("2025/orgs.csv", "sourcedId\n")

    code = await run_sync(
        Settings(database_url=database_url), str(archive), dry_run=False, as_json=False
    )

    assert code == 1
    assert capsys.readouterr().err == (
        f"accessgraph sync oneroster: {archive}: the archive's CSV files are in several "
        "folders (2024, 2025)\n"
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
