"""The demo district (``accessgraph demo``): deterministic, and loaded through
the SIS import with every special case the product handles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.demo import DEMO_PASSWORD, WELL_KNOWN_PEOPLE, run_demo
from gql.cli.demo_files import write_demo_files
from gql.settings import Settings
from resolvers.tables import (
    ACCOUNTS,
    CONTACTS,
    DISTRICTS,
    GRANTS,
    GUARDIANS,
    ROLE_GRANTS,
    SCHOOLS,
    STAFF,
    STUDENTS,
)
from tests.auth_client import auth_settings, graphql, serving


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


async def fetch(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


async def demo(database_url: str, capsys: pytest.CaptureFixture[str], **options: Any) -> Any:
    """Run the command with --json; its exit code and printed JSON."""
    settings = Settings(database_url=database_url)
    code = await run_demo(settings, as_json=True, **{"if_empty": False, **options})
    return code, json.loads(capsys.readouterr().out)


def test_same_number_of_students_gives_the_same_file_bytes(tmp_path: Path) -> None:
    first = write_demo_files(tmp_path / "first", students=300)
    second = write_demo_files(tmp_path / "second", students=300)
    other = write_demo_files(tmp_path / "other", students=301)

    assert first == second
    assert file_bytes(tmp_path / "first") == file_bytes(tmp_path / "second")
    assert sorted(file_bytes(tmp_path / "first")) == [
        "academicSessions.csv",
        "classes.csv",
        "demographics.csv",
        "enrollments.csv",
        "manifest.csv",
        "orgs.csv",
        "roles.csv",
        "users.csv",
    ]
    assert other.students == 325
    assert file_bytes(tmp_path / "other") != file_bytes(tmp_path / "first")


async def test_small_demo_loads_both_districts_with_every_special_case(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = await demo(database_url, capsys, students=300)

    assert code == 0
    assert printed["ok"] is True
    assert printed["changes"]["students"]["added"] == 324  # 300 + Lakeside's 24
    assert printed["people"][0] == {
        "who": "district admin",
        "email": "admin@riverside.example.edu",
        "before_sign_in": "",
    }
    assert len(printed["people"]) == len(WELL_KNOWN_PEOPLE)
    assert await fetch(
        engine, sa.select(DISTRICTS.c.sourced_id, DISTRICTS.c.name).order_by("id")
    ) == [
        ("district-1", "Riverside Unified"),
        ("district-2", "Lakeside County Schools"),
    ]
    # A withdrawn student.
    assert await fetch(
        engine,
        sa.select(STUDENTS.c.given_name, STUDENTS.c.family_name).where(
            STUDENTS.c.status == "WITHDRAWN"
        ),
    ) == [("Drew", "Ellis")]
    # A deactivated staff member.
    assert await fetch(
        engine,
        sa.select(STAFF.c.email, STAFF.c.deactivated_at.is_not(None)).where(
            sa.not_(STAFF.c.active)
        ),
    ) == [("former.teacher@northfield.riverside.example.edu", True)]
    # A restricted contact.
    assert await fetch(
        engine,
        sa.select(GUARDIANS.c.email, STUDENTS.c.given_name, CONTACTS.c.contact_type)
        .select_from(CONTACTS)
        .join(GUARDIANS, GUARDIANS.c.id == CONTACTS.c.guardian_id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .where(CONTACTS.c.restricted),
    ) == [("restricted@example.com", "Riley", "Father")]
    # The well-known guardian, with children at two schools.
    assert await fetch(
        engine,
        sa.select(STUDENTS.c.given_name, SCHOOLS.c.sourced_id, STUDENTS.c.email)
        .select_from(CONTACTS)
        .join(GUARDIANS, GUARDIANS.c.id == CONTACTS.c.guardian_id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
        .where(GUARDIANS.c.email == "parent@example.com", CONTACTS.c.portal_eligible)
        .order_by(STUDENTS.c.given_name),
    ) == [
        ("Alex", "northfield", "student@northfield.riverside.example.edu"),
        ("Bailey", "southbank", "bailey.parker.2@southbank.riverside.example.edu"),
    ]
    # Every well-known staff member holds the role they are listed for.
    assert await fetch(
        engine,
        sa.select(STAFF.c.email, ROLE_GRANTS.c.role, SCHOOLS.c.sourced_id, ROLE_GRANTS.c.source)
        .select_from(ROLE_GRANTS)
        .join(STAFF, STAFF.c.id == ROLE_GRANTS.c.staff_member_id)
        .outerjoin(SCHOOLS, SCHOOLS.c.id == ROLE_GRANTS.c.school_id)
        .where(STAFF.c.email.in_([person.email for person in WELL_KNOWN_PEOPLE]))
        .order_by(STAFF.c.email),
    ) == [
        ("admin@lakeside.example.edu", "DISTRICT_ADMIN", None, "SIS_SYNC"),
        ("admin@riverside.example.edu", "DISTRICT_ADMIN", None, "SIS_SYNC"),
        (
            "enrolments@northfield.riverside.example.edu",
            "ENROLMENT_MANAGER",
            "northfield",
            "MANUAL",
        ),
        ("head@northfield.riverside.example.edu", "SCHOOL_ADMIN", "northfield", "SIS_SYNC"),
        ("security@northfield.riverside.example.edu", "SECURITY_CONTACT", "northfield", "MANUAL"),
        ("support@northfield.riverside.example.edu", "SUPPORT_STAFF", "northfield", "SIS_SYNC"),
        ("teacher@northfield.riverside.example.edu", "TEACHER", "northfield", "SIS_SYNC"),
    ]


async def test_loading_the_demo_again_changes_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await demo(database_url, capsys, students=300)

    code, printed = await demo(database_url, capsys, students=300)

    assert code == 0
    assert printed["total"] == {"added": 0, "changed": 0, "deactivated": 0, "removed": 0}


async def test_if_empty_leaves_a_database_with_a_district_alone(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    await demo(database_url, capsys, students=300)
    async with engine.connect() as connection:
        before = (
            await connection.execute(sa.select(sa.func.count()).select_from(STUDENTS))
        ).scalar()

    code, printed = await demo(database_url, capsys, students=600, if_empty=True)

    assert code == 0
    assert printed == {"ok": True, "skipped": "the database already has a district"}
    async with engine.connect() as connection:
        after = (
            await connection.execute(sa.select(sa.func.count()).select_from(STUDENTS))
        ).scalar()
    assert after == before == 324


async def test_every_well_known_person_can_sign_in_after_the_demo(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = await demo(database_url, capsys, students=300)
    assert code == 0
    rows = await fetch(
        engine,
        sa.select(ACCOUNTS.c.email, ACCOUNTS.c.kind, STUDENTS.c.given_name, GRANTS.c.source)
        .join(GRANTS, GRANTS.c.account_id == ACCOUNTS.c.id)
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .where(
            ACCOUNTS.c.email.in_(
                ["parent@example.com", "student@northfield.riverside.example.edu"]
            ),
            GRANTS.c.revoked_at.is_(None),
        )
        .order_by(ACCOUNTS.c.email, STUDENTS.c.given_name),
    )
    assert rows == [
        ("parent@example.com", "GUARDIAN", "Alex", "SIS_SYNC"),
        ("parent@example.com", "GUARDIAN", "Bailey", "SIS_SYNC"),
        ("student@northfield.riverside.example.edu", "STUDENT", "Alex", "STUDENT_LOGIN"),
    ]
    # Staff sign in through their staff records, so every well-known person
    # is reachable by ``accessgraph token``.
    assert all(not person.before_sign_in for person in WELL_KNOWN_PEOPLE)


async def test_in_dev_every_well_known_person_signs_in_with_the_printed_password(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url, argon2_time_cost=1, argon2_memory_kib=64)
    assert await run_demo(settings, students=40, if_empty=False, as_json=False) == 0
    printed = capsys.readouterr().out
    assert f"with the password {DEMO_PASSWORD!r}" in printed
    async with serving(auth_settings(engine)) as http:
        for person in WELL_KNOWN_PEOPLE:
            signed_in = await http.post(
                "/auth/login", json={"email": person.email, "password": DEMO_PASSWORD}
            )
            assert signed_in.status_code == 200, (person, signed_in.text)
            me = await graphql(
                http,
                "{ viewer { account { email } } }",
                bearer=signed_in.json()["accessToken"],
            )
            assert me.json() == {"data": {"viewer": {"account": {"email": person.email}}}}
    # Loading again (--if-empty) says so, and the password still works.
    assert await run_demo(settings, students=40, if_empty=True, as_json=False) == 0
    assert f"with the password {DEMO_PASSWORD!r}" in capsys.readouterr().out
