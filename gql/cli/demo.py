"""``accessgraph demo``: the demo districts, loaded through the SIS sync.

``gql.demo_files`` writes a OneRoster file set into a temporary directory;
it is imported with the same code as ``accessgraph sync oneroster``, so the
demo exercises the import and cannot drift from it. Loading it again
changes nothing; ``--if-empty`` skips a database that has a district.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from gql.auth.passwords import Argon2Cost, Passwords
from gql.cli.demo_files import LAKESIDE_STUDENTS, write_demo_files
from gql.cli.errors import EXIT_USAGE, CliError
from gql.cli.sync import import_directory, print_summary, terminal_progress
from gql.settings import Settings
from resolvers.auth import sessions
from resolvers.db import Db, create_engine
from resolvers.events import SYSTEM
from resolvers.oneroster.importer import grant_staff_roles
from resolvers.portal.lifecycle_writes import provision_accounts
from resolvers.tables import ACCOUNTS, DISTRICTS, GUARDIANS, SCHOOLS, YEAR_GROUPS, utc_now

# Dev only: every well-known person signs in with this password through
# /auth/login (printed by the command; never set outside dev).
DEMO_PASSWORD = "riverside demo password"  # noqa: S105  a published dev-only password


@dataclass(frozen=True)
class WellKnownPerson:
    """Someone the demo always has, for the README and dev tokens."""

    who: str
    email: str
    # Why the person cannot sign in yet; empty when they can (in dev, every
    # well-known person has an account with ``DEMO_PASSWORD``).
    before_sign_in: str = ""


WELL_KNOWN_PEOPLE = (
    WellKnownPerson("district admin", "admin@riverside.example.edu"),
    WellKnownPerson("school admin", "head@northfield.riverside.example.edu"),
    WellKnownPerson("enrolment manager", "enrolments@northfield.riverside.example.edu"),
    WellKnownPerson("security contact", "security@northfield.riverside.example.edu"),
    WellKnownPerson("teacher", "teacher@northfield.riverside.example.edu"),
    WellKnownPerson("support staff", "support@northfield.riverside.example.edu"),
    WellKnownPerson("other district's admin", "admin@lakeside.example.edu"),
    WellKnownPerson("guardian, children at two schools", "parent@example.com"),
    WellKnownPerson(
        "student (logins on for Year 9 at Northfield)", "student@northfield.riverside.example.edu"
    ),
)


async def _ready_the_people(connection: AsyncConnection, settings: Settings) -> None:
    """What a school would have done by now, so every well-known person can
    sign in: Northfield turned student logins on for Year 9 (the sync's
    reconcile then makes those logins), and the two-school parent's contact
    was provisioned with a portal account, as ``provisionAccounts`` does."""
    north = (
        await connection.execute(
            sa.select(SCHOOLS.c.id).where(SCHOOLS.c.sourced_id == "northfield")
        )
    ).scalar_one()
    await connection.execute(
        sa.update(SCHOOLS).where(SCHOOLS.c.id == north).values(student_logins_enabled=True)
    )
    await connection.execute(
        sa.update(YEAR_GROUPS)
        .where(YEAR_GROUPS.c.school_id == north, YEAR_GROUPS.c.code == "09")
        .values(student_logins_enabled=True)
    )
    db = Db(AsyncSession(bind=connection))
    parent = await db.first(sa.select(GUARDIANS).where(GUARDIANS.c.email == "parent@example.com"))
    has_account = await db.first(
        sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.email == "parent@example.com")
    )
    if parent is not None and has_account is None:
        await provision_accounts(
            db,
            SYSTEM,
            [(parent, 0)],
            field=("demo",),
            send_welcome=False,
            now=utc_now(),
            public_url=settings.public_url,
        )


async def run_demo(settings: Settings, *, students: int, if_empty: bool, as_json: bool) -> int:
    """The ``demo`` command: generate, import, grant, and name who to sign in as."""
    if students < 4:
        raise CliError("--students must be at least 4; give a larger number.", EXIT_USAGE)
    engine = create_engine(settings.database_url)
    try:
        if if_empty and await _has_a_district(engine):
            _say_already_loaded(as_json, settings)
            return 0
        progress = None if as_json else terminal_progress()
        with tempfile.TemporaryDirectory(prefix="accessgraph-demo-") as temporary:
            directory = Path(temporary)
            started = time.perf_counter()
            files = write_demo_files(directory, students=students)
            if progress is not None:
                progress(f"wrote the demo file set in {time.perf_counter() - started:.1f} s")

            async def grant_roles(connection: AsyncConnection) -> None:
                await grant_staff_roles(connection, files.manual_roles)
                await _ready_the_people(connection, settings)

            summary = await import_directory(
                engine,
                directory,
                dry_run=False,
                revoke_threshold=settings.large_batch_threshold,
                progress=progress,
                after_import=grant_roles,
            )
        if summary.written and settings.is_dev:
            await _give_passwords(engine, settings)
    finally:
        await engine.dispose()
    title = (
        f"Demo districts: Riverside Unified ({students:,} students) and Lakeside County Schools "
        f"({LAKESIDE_STUDENTS} students)"
    )
    print_summary(
        summary,
        title=title,
        dry_run=False,
        as_json=as_json,
        extra={"people": [asdict(person) for person in WELL_KNOWN_PEOPLE]},
    )
    if not summary.written:
        return 1
    if not as_json:
        _print_people(settings)
    return 0


async def _give_passwords(engine: AsyncEngine, settings: Settings) -> None:
    """Dev only: an account with ``DEMO_PASSWORD`` and a verified address for
    every well-known person, so a newcomer signs in through /auth/login.
    Staff get the account their first sign-in would make; the parent's and
    the student's exist by now (provisioned, and made by the logins'
    reconciliation). Run again, it sets the same password."""
    passwords = Passwords(
        Argon2Cost(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
    )
    password_hash = await passwords.hash(DEMO_PASSWORD)
    accounts = ACCOUNTS
    now = utc_now()
    async with AsyncSession(engine) as session:
        db = Db(session)
        for person in WELL_KNOWN_PEOPLE:
            account = await sessions.account_by_email(db, person.email)
            if account is not None:
                account_id = int(account.id)
            else:
                staff = await sessions.staff_member_by_email(db, person.email)
                if staff is None:
                    continue
                account_id = await sessions.create_staff_account(db, staff, now=now)
            await db.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_id)
                .values(
                    password_hash=password_hash,
                    email_verified_at=sa.func.coalesce(accounts.c.email_verified_at, now),
                )
            )
        await db.commit()


def _print_people(settings: Settings) -> None:
    width = max(len(person.who) for person in WELL_KNOWN_PEOPLE)
    if settings.is_dev:
        print(
            f"\nSign in as one of these people with the password {DEMO_PASSWORD!r} "
            "(POST /auth/login; or accessgraph token EMAIL):"
        )
    else:
        print("\nThese people are in the demo district (no passwords outside dev):")
    for person in WELL_KNOWN_PEOPLE:
        if not person.before_sign_in:
            print(f"  {person.who:<{width}}  {person.email}")
    waiting = [person for person in WELL_KNOWN_PEOPLE if person.before_sign_in]
    if waiting:
        print("These need an account:")
    for person in waiting:
        print(f"  {person.who:<{width}}  {person.email}  ({person.before_sign_in})")


async def _has_a_district(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        found = await connection.execute(sa.select(DISTRICTS.c.id).limit(1))
        return found.first() is not None


def _say_already_loaded(as_json: bool, settings: Settings) -> None:
    if as_json:
        print(json.dumps({"ok": True, "skipped": "the database already has a district"}))
    else:
        print("The database already has a district: the demo was not loaded (--if-empty).")
        if settings.is_dev:
            print(
                f"Its well-known people sign in with the password {DEMO_PASSWORD!r} "
                "(POST /auth/login)."
            )
