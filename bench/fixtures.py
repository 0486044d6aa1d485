"""Prepared benchmark databases: the demo district plus what the workloads read.

``accessgraph demo`` loads people, schools and sections through the SIS sync,
but no grants, timetable, homework or accounts: those are written by the
portal workflows. ``prepare`` runs the CLI (``db upgrade``, ``demo``) and then
adds, with plain inserts and deterministically from the demo's own rows:

- a GUARDIAN account for every contact with a portal-eligible, unrestricted
  student, and a grant per such student (siblings at two schools give the
  district dashboard its cross-school links);
- two weeks of timetable and four homework items for every section;
- STAFF accounts for the viewers (district admin, school admins, teachers);
- sessions for every viewer (tokens are signed at run time: they expire);
- W4's pool of grants to revoke, in the demo's second district (Lakeside),
  so that revoking them never changes what W1-W3 read in Riverside.

A prepared database is cached (``bench/.data/``: the SQLite file or, for
PostgreSQL, a marker next to the database of the same name) keyed by the
number of students and ``DATA_VERSION``, so a rerun reuses it (upgraded in
place when migrations were added since). ``Cast`` is the JSON that names who each workload runs as.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gql.migrations import alembic_config
from resolvers.db import create_engine
from resolvers.tables import (
    ACCESS_EVENTS,
    ACCOUNTS,
    CONTACTS,
    DISTRICTS,
    ENROLMENTS,
    GRANTS,
    GUARDIANS,
    HOMEWORK,
    SECTION_TEACHERS,
    SECTIONS,
    SESSIONS,
    STAFF,
    STUDENTS,
    TIMETABLE_ENTRIES,
)

# Bump when what ``_add_bench_rows`` writes changes: cached databases are
# keyed by it and rebuilt.
DATA_VERSION = 1

DATA_DIR = Path(__file__).resolve().parent / ".data"
ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "ACCESSGRAPH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# Fixed times, so that the same N gives the same rows and the same bytes.
GRANTED_FROM = dt.datetime(2025, 9, 1, 8, 0, tzinfo=dt.UTC)
CREATED_AT = dt.datetime(2025, 8, 25, 9, 0, tzinfo=dt.UTC)
SESSIONS_EXPIRE = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
# The week W1 asks for (a Monday), inside the demo's autumn term; the
# timetable covers it and the week after.
WEEK_START = dt.date(2025, 11, 3)
TIMETABLE_DAYS = [WEEK_START + dt.timedelta(days=d) for d in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)]
HOMEWORK_PER_SECTION = 4

# W3's page 50 needs at least 50 pages of 20 links; topped up with
# synthetic carers when the demo's siblings do not make enough.
MIN_CROSS_SCHOOL_LINKS = 50 * 20 + 40
# W4: 2,000 accounts holding grants to the 24 Lakeside students, 12 each.
POOL_ACCOUNTS = 2000
POOL_GRANTS_PER_ACCOUNT = 12

VIEWERS_PER_WORKLOAD = 8


@dataclass(frozen=True)
class SignedIn:
    """A viewer: an account and its (long-lived) session."""

    account_id: int
    session_id: str


@dataclass(frozen=True)
class RevokeView:
    """W2: a teacher and one student of theirs that has grants."""

    viewer: SignedIn
    student_id: int


@dataclass
class Cast:
    """Who each workload runs as, and what it names."""

    backend: str
    students: int
    database_url: str
    district_id: int
    week: tuple[str, str]
    guardians: list[SignedIn]
    revoke_views: list[RevokeView]
    district_admin: SignedIn
    revoker: SignedIn
    # (account id, student id) grants W4 revokes, one per request.
    pool: list[tuple[int, int]]
    pool_accounts: tuple[int, int]
    # Access events above this id are the benchmark's own writes.
    events_mark: int
    cross_school_links: int
    prepare_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    # The migration the database was last upgraded to.
    migration_head: str = ""

    @classmethod
    def load(cls, path: Path) -> Cast:
        raw = orjson.loads(path.read_bytes())
        raw["week"] = tuple(raw["week"])
        raw["guardians"] = [SignedIn(**g) for g in raw["guardians"]]
        raw["revoke_views"] = [
            RevokeView(viewer=SignedIn(**r["viewer"]), student_id=r["student_id"])
            for r in raw["revoke_views"]
        ]
        raw["district_admin"] = SignedIn(**raw["district_admin"])
        raw["revoker"] = SignedIn(**raw["revoker"])
        raw["pool"] = [tuple(p) for p in raw["pool"]]
        raw["pool_accounts"] = tuple(raw["pool_accounts"])
        return cls(**raw)

    def save(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))

    def viewers(self) -> list[SignedIn]:
        return [
            *self.guardians,
            *(r.viewer for r in self.revoke_views),
            self.district_admin,
            self.revoker,
        ]


# ---------------------------------------------------------------- naming


def migration_head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return (head or "none")[:12]


def cache_key(students: int) -> str:
    # Not keyed by the migration head: a prepared database is upgraded in
    # place when migrations are added (``prepare``), as a deployment would be.
    return f"n{students}_v{DATA_VERSION}".lower()


def database_url(backend: str, students: int) -> str:
    key = cache_key(students)
    if backend == "sqlite":
        return f"sqlite:///{DATA_DIR / f'sqlite-{key}.sqlite3'}"
    name = f"ag_bench_{key}".replace("-", "_")
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def cast_path(backend: str, students: int) -> Path:
    return DATA_DIR / f"{backend}-{cache_key(students)}.json"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ---------------------------------------------------------------- preparing


def prepare(backend: str, students: int, *, log: Any = print) -> Cast:
    """The cached database for ``backend`` and ``students``, made if missing."""
    DATA_DIR.mkdir(exist_ok=True)
    marker = cast_path(backend, students)
    url = database_url(backend, students)
    if marker.exists() and _database_exists(backend, url):
        cast = Cast.load(marker)
        if _dropped_path(cast).exists():
            log("restoring the indexes an interrupted --techniques run dropped ...")
            asyncio.run(restore_indexes(cast))
        head = migration_head()
        if cast.migration_head != head:
            log(f"upgrading the prepared {backend} database ({cast.migration_head} -> {head}) ...")
            _upgrade(url)
            asyncio.run(_analyze_url(url))
            cast.migration_head = head
            cast.save(marker)
        return cast
    started = time.monotonic()
    log(f"preparing {backend} with {students:,} students (cached as {marker.name}) ...")
    _recreate(backend, url)
    _upgrade(url)
    environment = {**os.environ, "ACCESSGRAPH_DATABASE_URL": url, "ACCESSGRAPH_ENV": "dev"}
    cli = str(Path(sys.executable).with_name("accessgraph"))
    # The CLI's progress lines go where this process's output goes (the log
    # of a long preparation).
    sys.stdout.flush()
    subprocess.run(
        [cli, "demo", "--students", str(students)], env=environment, check=True, cwd=ROOT
    )
    log(f"  demo loaded in {time.monotonic() - started:.0f} s")
    cast = asyncio.run(_add_bench_rows(backend, url, students, log))
    cast.prepare_seconds = round(time.monotonic() - started, 1)
    cast.migration_head = migration_head()
    cast.save(marker)
    log(f"  prepared in {cast.prepare_seconds:.0f} s")
    return cast


def _upgrade(url: str) -> None:
    environment = {**os.environ, "ACCESSGRAPH_DATABASE_URL": url, "ACCESSGRAPH_ENV": "dev"}
    cli = str(Path(sys.executable).with_name("accessgraph"))
    subprocess.run([cli, "db", "upgrade"], env=environment, check=True, cwd=ROOT)


async def _analyze_url(url: str) -> None:
    engine = create_engine(url)
    try:
        await _analyze(engine)
    finally:
        await engine.dispose()


def _database_exists(backend: str, url: str) -> bool:
    if backend == "sqlite":
        return Path(make_url(url).database or "").exists()
    return asyncio.run(_postgres_database_exists(make_url(url).database or ""))


async def _postgres_database_exists(name: str) -> bool:
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL))
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


def _recreate(backend: str, url: str, *, create: bool = True) -> None:
    """An empty database where ``url`` points (or none, ``create=False``)."""
    if backend == "sqlite":
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    asyncio.run(_recreate_postgres(make_url(url).database or "", create=create))


async def _recreate_postgres(name: str, *, create: bool) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def drop(backend: str, students: int) -> None:
    """Forget a prepared database (``python -m bench --rebuild``)."""
    cast_path(backend, students).unlink(missing_ok=True)
    _recreate(backend, database_url(backend, students), create=False)


async def _insert(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    for start in range(0, len(rows), 5000):
        await connection.execute(sa.insert(table), list(rows[start : start + 5000]))


async def _next_id(connection: AsyncConnection, table: sa.Table) -> int:
    return int((await connection.execute(sa.select(sa.func.max(table.c.id)))).scalar() or 0) + 1


async def _fix_sequences(connection: AsyncConnection, names: Sequence[str]) -> None:
    """Explicit ids were inserted: move PostgreSQL's sequences past them."""
    if connection.dialect.name != "postgresql":
        return
    for name in names:
        await connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"
            )
        )


async def _add_bench_rows(backend: str, url: str, students: int, log: Any) -> Cast:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            cast = await _write(connection, backend, url, students, log)
        await _analyze(engine)
        log("  analysed")
        return cast
    finally:
        await engine.dispose()


async def _analyze(engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text("VACUUM ANALYZE"))
    else:
        async with engine.begin() as connection:
            await connection.execute(sa.text("ANALYZE"))


async def _write(
    connection: AsyncConnection, backend: str, url: str, students: int, log: Any
) -> Cast:
    districts = {
        row.sourced_id: row.id
        for row in (await connection.execute(sa.select(DISTRICTS.c.id, DISTRICTS.c.sourced_id)))
    }
    riverside, lakeside = districts["district-1"], districts["district-2"]
    started = time.monotonic()
    await _guardian_accounts_and_grants(connection)
    log(f"  guardian accounts and grants written ({time.monotonic() - started:.0f} s)")
    links = await _cross_school_links(connection, riverside)
    log(f"  {links:,} cross-school links ({time.monotonic() - started:.0f} s)")
    await _timetable_and_homework(connection)
    log(f"  timetable and homework written ({time.monotonic() - started:.0f} s)")
    staff_accounts = await _staff_accounts(connection)
    pool, pool_accounts = await _revoke_pool(connection, lakeside)
    await _fix_sequences(
        connection, ["accounts", "student_access_grants", "timetable_entries", "homework"]
    )

    guardians = await _w1_guardians(connection, riverside)
    revoke_views = await _w2_views(connection, staff_accounts)
    district_admin = staff_accounts["admin@riverside.example.edu"]
    revoker = staff_accounts["head@lakeside-middle.lakeside.example.edu"]
    viewers = [*guardians, *(v for v, _ in revoke_views), district_admin, revoker]
    await _insert(
        connection,
        SESSIONS,
        [
            {
                "id": f"bench-{account_id}",
                "account_id": account_id,
                "family_id": f"bench-family-{account_id}",
                "created_at": CREATED_AT,
                "expires_at": SESSIONS_EXPIRE,
                "client": "bench",
            }
            for account_id in sorted(set(viewers))
        ],
    )
    events_mark = int(
        (await connection.execute(sa.select(sa.func.max(ACCESS_EVENTS.c.id)))).scalar() or 0
    )
    counts = {}
    for table in (STUDENTS, ACCOUNTS, GRANTS, SECTIONS, TIMETABLE_ENTRIES, HOMEWORK, CONTACTS):
        counts[str(table.name)] = int(
            (await connection.execute(sa.select(sa.func.count()).select_from(table))).scalar() or 0
        )
    return Cast(
        backend=backend,
        students=students,
        database_url=url,
        district_id=riverside,
        week=(WEEK_START.isoformat(), (WEEK_START + dt.timedelta(days=4)).isoformat()),
        guardians=[_signed_in(a) for a in guardians],
        revoke_views=[RevokeView(_signed_in(a), s) for a, s in revoke_views],
        district_admin=_signed_in(district_admin),
        revoker=_signed_in(revoker),
        pool=pool,
        pool_accounts=pool_accounts,
        events_mark=events_mark,
        cross_school_links=links,
        counts=counts,
    )


def _signed_in(account_id: int) -> SignedIn:
    return SignedIn(account_id=account_id, session_id=f"bench-{account_id}")


async def _guardian_accounts_and_grants(connection: AsyncConnection) -> None:
    """An account per contact with portal access, a grant per such student."""
    contacts = (
        await connection.execute(
            sa.select(
                CONTACTS.c.id,
                CONTACTS.c.district_id,
                CONTACTS.c.student_id,
                CONTACTS.c.guardian_id,
                CONTACTS.c.contact_type,
                GUARDIANS.c.given_name,
                GUARDIANS.c.family_name,
                GUARDIANS.c.email,
            )
            .join(GUARDIANS, GUARDIANS.c.id == CONTACTS.c.guardian_id)
            .where(CONTACTS.c.portal_eligible, sa.not_(CONTACTS.c.restricted))
            .order_by(CONTACTS.c.guardian_id, CONTACTS.c.id)
        )
    ).all()
    next_account = await _next_id(connection, ACCOUNTS)
    next_grant = await _next_id(connection, GRANTS)
    account_of: dict[int, int] = {}
    accounts: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    for contact in contacts:
        account_id = account_of.get(contact.guardian_id)
        if account_id is None:
            account_id = account_of[contact.guardian_id] = next_account + len(accounts)
            accounts.append(
                {
                    "id": account_id,
                    "kind": "GUARDIAN",
                    "email": contact.email.lower() if contact.email else None,
                    "email_verified_at": CREATED_AT,
                    "display_name": f"{contact.given_name} {contact.family_name}",
                    "created_at": CREATED_AT,
                    "guardian_id": contact.guardian_id,
                }
            )
        grants.append(
            {
                "id": next_grant + len(grants),
                "district_id": contact.district_id,
                "account_id": account_id,
                "student_id": contact.student_id,
                # Never ACCESS_CODE: these grants have no code to reset.
                "source": "SIS_SYNC" if contact.id % 4 == 0 else "CONNECTION_REQUEST",
                "relationship": contact.contact_type,
                "granted_at": GRANTED_FROM + dt.timedelta(seconds=contact.id),
            }
        )
    await _insert(connection, ACCOUNTS, accounts)
    await _insert(connection, GRANTS, grants)


def _link_count_query(district_id: int) -> sa.Select[Any]:
    linked = (
        sa.select(GRANTS.c.account_id)
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .where(
            GRANTS.c.district_id == district_id,
            GRANTS.c.revoked_at.is_(None),
            STUDENTS.c.status == "ENROLLED",
        )
        .group_by(GRANTS.c.account_id)
        .having(sa.func.count(sa.distinct(STUDENTS.c.school_id)) >= 2)
        .subquery()
    )
    return sa.select(sa.func.count()).select_from(linked)


async def _cross_school_links(connection: AsyncConnection, district_id: int) -> int:
    """Links the demo's siblings make, topped up with carers of two
    students at two schools (deterministic: students in id order)."""
    links = int((await connection.execute(_link_count_query(district_id))).scalar() or 0)
    missing = MIN_CROSS_SCHOOL_LINKS - links
    if missing <= 0:
        return links
    by_school: dict[int, list[int]] = {}
    for row in await connection.execute(
        sa.select(STUDENTS.c.id, STUDENTS.c.school_id)
        .where(STUDENTS.c.district_id == district_id, STUDENTS.c.status == "ENROLLED")
        .order_by(STUDENTS.c.id)
    ):
        by_school.setdefault(row.school_id, []).append(row.id)
    schools = sorted(by_school)
    next_account = await _next_id(connection, ACCOUNTS)
    next_grant = await _next_id(connection, GRANTS)
    accounts: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    for k in range(missing):
        account_id = next_account + k
        accounts.append(
            {
                "id": account_id,
                "kind": "GUARDIAN",
                "email": f"carer{k + 1}@bench.example.com",
                "email_verified_at": CREATED_AT,
                "display_name": f"Bench Carer {k + 1}",
                "created_at": CREATED_AT,
            }
        )
        first, second = schools[k % len(schools)], schools[(k + 1) % len(schools)]
        for school in (first, second):
            ids = by_school[school]
            grants.append(
                {
                    "id": next_grant + len(grants),
                    "district_id": district_id,
                    "account_id": account_id,
                    "student_id": ids[(k * 7) % len(ids)],
                    "source": "CONNECTION_REQUEST",
                    "relationship": "Carer",
                    "granted_at": GRANTED_FROM + dt.timedelta(minutes=k),
                }
            )
    await _insert(connection, ACCOUNTS, accounts)
    await _insert(connection, GRANTS, grants)
    return int((await connection.execute(_link_count_query(district_id))).scalar() or 0)


async def _timetable_and_homework(connection: AsyncConnection) -> None:
    sections = (
        await connection.execute(
            sa.select(
                SECTIONS.c.id,
                SECTIONS.c.district_id,
                SECTIONS.c.name,
                sa.func.min(SECTION_TEACHERS.c.staff_member_id).label("teacher"),
            )
            .outerjoin(SECTION_TEACHERS, SECTION_TEACHERS.c.section_id == SECTIONS.c.id)
            .group_by(SECTIONS.c.id, SECTIONS.c.district_id, SECTIONS.c.name)
            .order_by(SECTIONS.c.id)
        )
    ).all()
    lessons: list[dict[str, Any]] = []
    homework: list[dict[str, Any]] = []
    next_lesson = await _next_id(connection, TIMETABLE_ENTRIES)
    next_homework = await _next_id(connection, HOMEWORK)
    for section in sections:
        subject = section.name.rsplit(" ", 1)[-1] if " " in section.name else section.name
        tutor = section.name.endswith("Tutor group")
        for day_index, day in enumerate(TIMETABLE_DAYS):
            lessons.append(
                {
                    "id": next_lesson + len(lessons),
                    "district_id": section.district_id,
                    "section_id": section.id,
                    "date": day,
                    "period": "REG" if tutor else f"P{1 + (section.id + day_index) % 5}",
                    # Every seventh lesson has no room: nulls are part of the output.
                    "room": None
                    if (section.id + day_index) % 7 == 0
                    else f"Room {100 + section.id % 60}",
                }
            )
        if section.teacher is None or tutor:
            continue
        for k in range(HOMEWORK_PER_SECTION):
            homework.append(
                {
                    "id": next_homework + len(homework),
                    "district_id": section.district_id,
                    "section_id": section.id,
                    "title": f"{subject} task {k + 1}",
                    "due_on": WEEK_START + dt.timedelta(days=k * 4 + section.id % 5 - 3),
                    "recorded_by_staff_id": section.teacher,
                    "created_at": CREATED_AT,
                }
            )
    await _insert(connection, TIMETABLE_ENTRIES, lessons)
    await _insert(connection, HOMEWORK, homework)


async def _staff_accounts(connection: AsyncConnection) -> dict[str, int]:
    """STAFF accounts linked to their staff records, as a first sign-in
    makes them: the admins, and the teachers of Southbank (W2)."""
    staff = (
        await connection.execute(
            sa.select(STAFF.c.id, STAFF.c.email, STAFF.c.given_name, STAFF.c.family_name)
            .where(
                STAFF.c.active,
                sa.or_(
                    STAFF.c.email == "admin@riverside.example.edu",
                    STAFF.c.email.like("head@%"),
                    STAFF.c.email.like("teacher%@southbank.riverside.example.edu"),
                ),
            )
            .order_by(STAFF.c.id)
        )
    ).all()
    next_account = await _next_id(connection, ACCOUNTS)
    rows = [
        {
            "id": next_account + index,
            "kind": "STAFF",
            "email": person.email.lower(),
            "email_verified_at": CREATED_AT,
            "display_name": f"{person.given_name} {person.family_name}",
            "created_at": CREATED_AT,
            "staff_member_id": person.id,
        }
        for index, person in enumerate(staff)
    ]
    await _insert(connection, ACCOUNTS, rows)
    return {row["email"]: row["id"] for row in rows}


async def _revoke_pool(
    connection: AsyncConnection, district_id: int
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """W4's grants. Consecutive pool items name different students, so
    concurrent revocations rarely wait for the same student's row lock."""
    students = [
        row.id
        for row in await connection.execute(
            sa.select(STUDENTS.c.id)
            .where(STUDENTS.c.district_id == district_id, STUDENTS.c.status == "ENROLLED")
            .order_by(STUDENTS.c.id)
        )
    ]
    next_account = await _next_id(connection, ACCOUNTS)
    next_grant = await _next_id(connection, GRANTS)
    accounts: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    held: dict[int, list[int]] = {}
    for k in range(POOL_ACCOUNTS):
        account_id = next_account + k
        accounts.append(
            {
                "id": account_id,
                "kind": "GUARDIAN",
                "email": f"revoke{k + 1}@bench.example.com",
                "email_verified_at": CREATED_AT,
                "display_name": f"Pool Guardian {k + 1}",
                "created_at": CREATED_AT,
            }
        )
        # Half the accounts hold the first twelve students, half the others.
        offset = (k % 2) * POOL_GRANTS_PER_ACCOUNT
        held[account_id] = [
            students[(offset + j) % len(students)] for j in range(POOL_GRANTS_PER_ACCOUNT)
        ]
        for student_id in held[account_id]:
            grants.append(
                {
                    "id": next_grant + len(grants),
                    "district_id": district_id,
                    "account_id": account_id,
                    "student_id": student_id,
                    "source": "CONNECTION_REQUEST",
                    "relationship": "Guardian",
                    "granted_at": GRANTED_FROM,
                }
            )
    await _insert(connection, ACCOUNTS, accounts)
    await _insert(connection, GRANTS, grants)
    # Round j takes student j of every account: 2,000 requests in a row touch
    # every student about equally, never the same grant twice.
    pool = [
        (account_id, held[account_id][j])
        for j in range(POOL_GRANTS_PER_ACCOUNT)
        for account_id in sorted(held)
    ]
    return pool, (next_account, next_account + POOL_ACCOUNTS - 1)


async def _w1_guardians(connection: AsyncConnection, district_id: int) -> list[int]:
    """Guardian accounts with two or more current children, those with
    children at two schools first (Pat Parker, the demo's example, among them)."""
    rows = (
        await connection.execute(
            sa.select(
                GRANTS.c.account_id,
                sa.func.count(sa.distinct(STUDENTS.c.id)).label("children"),
                sa.func.count(sa.distinct(STUDENTS.c.school_id)).label("schools"),
            )
            .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
            .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
            .where(
                GRANTS.c.district_id == district_id,
                STUDENTS.c.status == "ENROLLED",
                ACCOUNTS.c.guardian_id.is_not(None),
            )
            .group_by(GRANTS.c.account_id)
            .having(sa.func.count(sa.distinct(STUDENTS.c.id)) >= 2)
            .order_by(GRANTS.c.account_id)
        )
    ).all()
    parent = (
        await connection.execute(
            sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.email == "parent@example.com")
        )
    ).scalar()
    two_schools = [r.account_id for r in rows if r.schools >= 2 and r.account_id != parent]
    one_school = [r.account_id for r in rows if r.schools < 2 and r.account_id != parent]
    half = VIEWERS_PER_WORKLOAD // 2
    chosen = [parent] if parent is not None else []
    chosen += two_schools[: half - len(chosen)]
    chosen += one_school[: VIEWERS_PER_WORKLOAD - len(chosen)]
    return chosen


async def _w2_views(
    connection: AsyncConnection, staff_accounts: dict[str, int]
) -> list[tuple[int, int]]:
    """Each Southbank teacher with a student of theirs who has the most
    grants (ties: the smallest id), so the revoke view lists guardians."""
    teachers = {
        email: account
        for email, account in staff_accounts.items()
        if email.startswith("teacher") and "southbank" in email
    }
    staff_of = {
        row.id: row.staff_member_id
        for row in await connection.execute(
            sa.select(ACCOUNTS.c.id, ACCOUNTS.c.staff_member_id).where(
                ACCOUNTS.c.id.in_(list(teachers.values()))
            )
        )
    }
    views: list[tuple[int, int]] = []
    for account_id in sorted(teachers.values())[:VIEWERS_PER_WORKLOAD]:
        grants_per_student = (
            sa.select(GRANTS.c.student_id, sa.func.count().label("grants"))
            .where(GRANTS.c.revoked_at.is_(None))
            .group_by(GRANTS.c.student_id)
            .subquery()
        )
        best = (
            await connection.execute(
                sa.select(STUDENTS.c.id)
                .join(ENROLMENTS, ENROLMENTS.c.student_id == STUDENTS.c.id)
                .join(SECTION_TEACHERS, SECTION_TEACHERS.c.section_id == ENROLMENTS.c.section_id)
                .join(SECTIONS, SECTIONS.c.id == ENROLMENTS.c.section_id)
                .join(grants_per_student, grants_per_student.c.student_id == STUDENTS.c.id)
                .where(
                    SECTION_TEACHERS.c.staff_member_id == staff_of[account_id],
                    ENROLMENTS.c.active,
                    SECTIONS.c.active,
                    STUDENTS.c.status == "ENROLLED",
                )
                .order_by(grants_per_student.c.grants.desc(), STUDENTS.c.id)
                .limit(1)
            )
        ).scalar()
        if best is not None:
            views.append((account_id, int(best)))
    return views


# ---------------------------------------------------------------- without indexes


def _dropped_path(cast: Cast) -> Path:
    return DATA_DIR / f"dropped-indexes-{cast.backend}-{cache_key(cast.students)}.json"


async def _secondary_indexes(connection: AsyncConnection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every non-unique, non-primary index."""
    if connection.dialect.name == "postgresql":
        rows = await connection.execute(
            sa.text(
                "SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class c ON c.oid = x.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND NOT x.indisunique AND NOT x.indisprimary "
                "ORDER BY c.relname"
            )
        )
    else:
        rows = await connection.execute(
            sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND upper(sql) NOT LIKE 'CREATE UNIQUE%' ORDER BY name"
            )
        )
    return [(str(name), str(ddl)) for name, ddl in rows]


async def drop_indexes(cast: Cast) -> list[tuple[str, str]]:
    """Drop every secondary index (``p3-noindexes``); what was dropped is kept
    in a file first, so that an interrupted run is repaired by the next."""
    engine = create_engine(cast.database_url)
    try:
        async with engine.begin() as connection:
            indexes = await _secondary_indexes(connection)
            _dropped_path(cast).write_bytes(orjson.dumps(indexes))
            for name, _ in indexes:
                await connection.execute(sa.text(f'DROP INDEX "{name}"'))
        await _analyze(engine)
    finally:
        await engine.dispose()
    return indexes


async def restore_indexes(cast: Cast) -> None:
    path = _dropped_path(cast)
    if not path.exists():
        return
    indexes = orjson.loads(path.read_bytes())
    engine = create_engine(cast.database_url)
    try:
        async with engine.begin() as connection:
            present = {name for name, _ in await _secondary_indexes(connection)}
            for name, ddl in indexes:
                if name not in present:
                    await connection.execute(sa.text(ddl))
        await _analyze(engine)
    finally:
        await engine.dispose()
    path.unlink()


# ---------------------------------------------------------------- between runs


async def reset(cast: Cast) -> None:
    """Undo what runs wrote: W4's revocations and every access event
    (read logs and revocation events) written since the database was made."""
    engine = create_engine(cast.database_url)
    try:
        async with engine.begin() as connection:
            first, last = cast.pool_accounts
            await connection.execute(
                sa.update(GRANTS)
                .where(GRANTS.c.account_id.between(first, last), GRANTS.c.revoked_at.is_not(None))
                .values(revoked_at=None, revoked_by_staff_id=None, revoke_reason=None)
            )
            await connection.execute(
                sa.delete(ACCESS_EVENTS).where(ACCESS_EVENTS.c.id > cast.events_mark)
            )
    finally:
        await engine.dispose()
