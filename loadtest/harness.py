"""What the load and fault runs share: a throwaway database with the demo
district, viewers with tokens, the server as a subprocess, latency figures.

Everything talks to 127.0.0.1 only. The server is the real console script
(``accessgraph serve``) in its own process; the clients (``clients.py``) run
in the script's process, so nothing shares an event loop, a pool or a cache
with the server. ``procfs.py`` reads the processes' memory and CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from gql.http.app import signer_for
from gql.settings import Settings
from loadtest.procfs import child_pids, process_command_line
from resolvers.auth import sessions
from resolvers.db import Db, create_engine
from resolvers.tables import (
    ACCOUNTS,
    CONTACTS,
    DISTRICTS,
    GRANTS,
    GUARDIANS,
    ROLE_GRANTS,
    SECTION_TEACHERS,
    STAFF,
    STUDENTS,
)

HOST = "127.0.0.1"

DEFAULT_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/postgres"

# The console script of the venv this runs in: the same install the lead ships.
ACCESSGRAPH = str(Path(sys.executable).with_name("accessgraph"))

# The demo's first district (gql/demo.py): every viewer is made in it.
DEMO_DISTRICT = "district-1"

ROLES = ("district_admin", "school_admin", "teacher", "guardian")

# Of every 16 clients: 1 district admin, 3 school admins, 5 teachers and 7
# guardians. Guardians are the most numerous users of a school portal; staff
# ask the heavier questions (lists, totals, the revoke view).
ROLE_WEIGHTS = {"district_admin": 1, "school_admin": 3, "teacher": 5, "guardian": 7}


def log(message: str) -> None:
    """Progress on stderr, so that stdout carries only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` with its database replaced by ``name``."""
    return str(sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False))


async def create_database(admin_url: str, prefix: str) -> str:
    """A new, empty database with a random name; returns its name."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def drop_database(admin_url: str, name: str) -> None:
    # FORCE ends sessions left behind by a server that died uncleanly.
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def configure_environment(url: str) -> Settings:
    """Point this process and every child (CLI, server) at ``url``.

    Inherited ``ACCESSGRAPH_*`` variables are dropped so that a developer's
    own settings (an SMTP host, a secret) never leak into the run, and the
    tokens signed here verify in the server: both read the same variables.
    """
    for name in [name for name in os.environ if name.startswith("ACCESSGRAPH_")]:
        del os.environ[name]
    os.environ.update(
        {
            "ACCESSGRAPH_ENV": "dev",
            "ACCESSGRAPH_DATABASE_URL": url,
            "ACCESSGRAPH_SECRET_KEY": secrets.token_urlsafe(32),
            # Tokens outlive any run; nothing here refreshes them.
            "ACCESSGRAPH_ACCESS_TOKEN_MINUTES": "240",
        }
    )
    return Settings()


def run_cli(*arguments: str, timeout: float) -> str:
    """Run ``accessgraph ARGUMENTS`` and return its stdout; raise on failure."""
    started = time.monotonic()
    completed = subprocess.run(  # noqa: S603  our own console script, fixed arguments
        [ACCESSGRAPH, *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"accessgraph {' '.join(arguments)} exited {completed.returncode}:\n"
            f"{completed.stderr[-4000:]}"
        )
    log(f"accessgraph {' '.join(arguments)}: {time.monotonic() - started:.1f} s")
    return completed.stdout


@dataclass(frozen=True)
class DemoData:
    students: int
    seconds: float


def load_demo(students: int) -> DemoData:
    """Migrate the configured database and load the demo district into it."""
    run_cli("db", "upgrade", timeout=120)
    summary = json.loads(run_cli("demo", "--students", str(students), "--json", timeout=600))
    if not summary.get("ok"):
        raise RuntimeError(f"accessgraph demo did not succeed: {summary}")
    added = summary["changes"]["students"]["added"]
    return DemoData(students=int(added), seconds=float(summary["seconds"]))


@dataclass(frozen=True)
class Viewer:
    """One signed-in device: its role in the mix and its bearer token."""

    role: str
    label: str
    account_id: int
    token: str
    staff_member_id: int | None = None
    school_id: int | None = None


def role_mix(clients: int) -> list[str]:
    """``clients`` roles in ROLE_WEIGHTS proportions (largest remainder), at
    least one of each when there are enough clients, interleaved."""
    total = sum(ROLE_WEIGHTS.values())
    exact = {role: clients * weight / total for role, weight in ROLE_WEIGHTS.items()}
    counts = {role: int(share) for role, share in exact.items()}
    if clients >= len(ROLES):
        for role in ROLES:
            counts[role] = max(counts[role], 1)
    by_remainder = sorted(ROLES, key=lambda role: exact[role] - int(exact[role]), reverse=True)
    while sum(counts.values()) < clients:
        counts[by_remainder[(clients - sum(counts.values())) % len(ROLES)]] += 1
    while sum(counts.values()) > clients:
        largest = max(ROLES, key=lambda role: counts[role])
        counts[largest] -= 1
    mix: list[str] = []
    while len(mix) < clients:
        for role in ROLES:
            if mix.count(role) < counts[role]:
                mix.append(role)
    return mix


async def _provision_guardians(db: Db, district_id: int, now: dt.datetime) -> None:
    """An account and grants for every contact of the district who could
    sign in, the way ``provisionAccounts`` makes them (SIS_SYNC grants to
    each enrolled, portal-eligible, unrestricted child). Lists of accounts
    and guardians then look like a district in use, not an empty one."""
    eligible = (
        sa.select(CONTACTS.c.guardian_id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .where(
            CONTACTS.c.district_id == district_id,
            CONTACTS.c.portal_eligible,
            sa.not_(CONTACTS.c.restricted),
            STUDENTS.c.status == "ENROLLED",
        )
    )
    guardians = await db.all(
        sa.select(GUARDIANS).where(
            GUARDIANS.c.id.in_(eligible), GUARDIANS.c.email.is_not(None), GUARDIANS.c.active
        )
    )
    made = await db.all(
        sa.insert(ACCOUNTS)
        .values(
            [
                {
                    "kind": "GUARDIAN",
                    "email": str(g.email).strip().lower(),
                    "email_verified_at": now,
                    "display_name": f"{g.given_name} {g.family_name}",
                    "created_at": now,
                    "guardian_id": g.id,
                }
                for g in guardians
            ]
        )
        .returning(ACCOUNTS.c.id, ACCOUNTS.c.guardian_id)
    )
    account_of = {row.guardian_id: row.id for row in made}
    contacts = await db.all(
        sa.select(
            CONTACTS.c.guardian_id, CONTACTS.c.contact_type, STUDENTS.c.id, STUDENTS.c.district_id
        )
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .where(
            CONTACTS.c.guardian_id.in_(list(account_of)),
            CONTACTS.c.portal_eligible,
            sa.not_(CONTACTS.c.restricted),
            STUDENTS.c.status == "ENROLLED",
        )
    )
    await db.execute(
        sa.insert(GRANTS).values(
            [
                {
                    "district_id": c.district_id,
                    "account_id": account_of[c.guardian_id],
                    "student_id": c.id,
                    "source": "SIS_SYNC",
                    "relationship": c.contact_type,
                    "granted_at": now,
                }
                for c in contacts
            ]
        )
    )


async def _staff_with_role(db: Db, district_id: int, role: str) -> list[Any]:
    """Active staff holding ``role`` in the district (SIS grants), teachers
    only if they teach a section; one row per staff member, by id."""
    query = (
        sa.select(STAFF, sa.func.min(ROLE_GRANTS.c.school_id).label("school_id"))
        .join(ROLE_GRANTS, ROLE_GRANTS.c.staff_member_id == STAFF.c.id)
        .where(
            ROLE_GRANTS.c.district_id == district_id,
            ROLE_GRANTS.c.role == role,
            STAFF.c.active,
            STAFF.c.email.is_not(None),
        )
        .group_by(STAFF.c.id)
        .order_by(STAFF.c.id)
    )
    if role == "TEACHER":
        query = query.where(sa.exists().where(SECTION_TEACHERS.c.staff_member_id == STAFF.c.id))
    return list(await db.all(query))


async def create_viewers(settings: Settings, roles: Sequence[str], *, seed: int) -> list[Viewer]:
    """A session and token for each entry of ``roles``.

    Staff get accounts as ``accessgraph token`` makes them (linked to their
    staff record). Teachers and school admins are spread over the schools;
    guardians are chosen at random (seeded) among contacts with children.
    """
    rng = random.Random(seed)  # noqa: S311  choosing test data, not secrets
    now = dt.datetime.now(dt.UTC)
    signer = signer_for(settings)
    engine = create_engine(settings.database_url)
    viewers: list[Viewer] = []
    try:
        async with AsyncSession(engine) as session:
            db = Db(session)
            district_id = await db.scalar(
                sa.select(DISTRICTS.c.id).where(DISTRICTS.c.sourced_id == DEMO_DISTRICT)
            )
            if district_id is None:
                raise RuntimeError(f"the demo district {DEMO_DISTRICT!r} is missing")
            await _provision_guardians(db, district_id, now)
            staff_pools = {
                "district_admin": await _staff_with_role(db, district_id, "DISTRICT_ADMIN"),
                "school_admin": await _staff_with_role(db, district_id, "SCHOOL_ADMIN"),
                "teacher": _spread_over_schools(await _staff_with_role(db, district_id, "TEACHER")),
            }
            guardian_accounts = list(
                await db.all(
                    sa.select(ACCOUNTS.c.id, ACCOUNTS.c.display_name)
                    .where(
                        ACCOUNTS.c.kind == "GUARDIAN",
                        sa.exists().where(GRANTS.c.account_id == ACCOUNTS.c.id),
                    )
                    .order_by(ACCOUNTS.c.id)
                )
            )
            rng.shuffle(guardian_accounts)
            used = dict.fromkeys(ROLES, 0)
            staff_accounts: dict[int, int] = {}
            for role in roles:
                index = used[role]
                used[role] += 1
                if role == "guardian":
                    account = guardian_accounts[index % len(guardian_accounts)]
                    account_id, label = int(account.id), str(account.display_name)
                    staff_member_id = school_id = None
                else:
                    pool = staff_pools[role]
                    if not pool:
                        raise RuntimeError(f"the demo district has no {role}")
                    staff = pool[index % len(pool)]
                    if staff.id not in staff_accounts:
                        existing = await sessions.account_by_email(db, staff.email)
                        staff_accounts[staff.id] = (
                            int(existing.id)
                            if existing is not None
                            else await sessions.create_staff_account(db, staff, now=now)
                        )
                    account_id, label = staff_accounts[staff.id], str(staff.email)
                    staff_member_id, school_id = int(staff.id), staff.school_id
                session_id = await sessions.create_session(
                    db,
                    account_id=account_id,
                    now=now,
                    lifetime=dt.timedelta(days=settings.session_days),
                    client="loadtest",
                )
                token = signer.issue(account_id=account_id, session_id=session_id, now=now)
                viewers.append(Viewer(role, label, account_id, token, staff_member_id, school_id))
            await db.commit()
    finally:
        await engine.dispose()
    return viewers


def _spread_over_schools(staff: list[Any]) -> list[Any]:
    """Round-robin over schools, so that a few teachers are not all at one."""
    by_school: dict[Any, list[Any]] = {}
    for row in staff:
        by_school.setdefault(row.school_id, []).append(row)
    spread: list[Any] = []
    columns = list(by_school.values())
    for index in range(max((len(column) for column in columns), default=0)):
        spread.extend(column[index] for column in columns if index < len(column))
    return spread


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Server:
    """``accessgraph serve`` as a subprocess of this one, logging to a file."""

    def __init__(self, *, workers: int, log_path: Path) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server has not started"
        return self._process.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            # A session of its own: a Ctrl-C in the terminal reaches this
            # script, which then stops the server in order (see stop()).
            self._process = subprocess.Popen(  # noqa: S603  our own console script
                [
                    ACCESSGRAPH,
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def wait_ready(self, within: float = 60) -> None:
        """Until /readyz answers 200 and every worker has started."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            while time.monotonic() < deadline:
                if not self.running():
                    raise RuntimeError(f"the server exited; see {self.log_path}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        # Workers start one by one; give the others a moment.
                        await asyncio.sleep(1.0)
                        if len(self.worker_pids()) >= self.workers or self.workers == 1:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {within:.0f} s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers, or
        the server itself when it runs one worker in-process."""
        if self.workers == 1:
            return [self.pid]
        return sorted(
            pid for pid in child_pids(self.pid) if "spawn_main" in process_command_line(pid)
        )

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL to the
        process group it was started in. Returns the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"the server did not stop within {timeout:.0f} s; killing its process group")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        return process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_line(seconds: Sequence[float]) -> str:
    ordered = sorted(seconds)
    return (
        f"p50 {percentile(ordered, 0.50) * 1000:7.1f} ms  "
        f"p90 {percentile(ordered, 0.90) * 1000:7.1f} ms  "
        f"p99 {percentile(ordered, 0.99) * 1000:7.1f} ms  "
        f"max {(ordered[-1] if ordered else 0) * 1000:7.1f} ms"
    )
