"""P0, the floor: a bare Starlette route per workload, hand-written SQL, orjson.

What a request must do and nothing more: verify the access token (the same
signer as the server), check the session in one statement, read exactly the
rows the answer needs through the viewer's scope in as few statements as SQL
allows, write the same audit rows the server writes, and serialise the bytes
with orjson. No GraphQL, no ORM, no SQLAlchemy: the drivers (asyncpg,
aiosqlite) directly, the same drivers the server uses. Page cursors are the
server's signed ones, checked by its own code (``resolvers.pagination``).

Visibility is the server's (``permissions.capabilities``, ``resolvers.scope``)
written as SQL predicates for the viewers the workloads run as: district and
school roles, teachers (their current section enrolments) and guardians
(their active grants, minus custody restrictions). A student viewer's own
record is not implemented: no workload signs in as a student.

Each route reads the same JSON body as the GraphQL peers and uses only its
variables; the identity check compares its bytes with P3's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiosqlite
import asyncpg
import orjson
from sqlalchemy.engine.url import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.stats import count_statement
from gql.auth.tokens import InvalidToken, TokenSigner
from resolvers.directory.cross_school import ORDER as LINK_ORDER
from resolvers.pagination import Cursors

UTC = dt.UTC

# ---------------------------------------------------------------- drivers


class Connection(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...


class Database(Protocol):
    """``fetch`` for one statement; ``transaction`` for a write of several."""

    dialect: str

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...

    def timestamp(self, value: dt.datetime) -> Any: ...

    def date(self, value: dt.date) -> Any: ...

    async def close(self) -> None: ...


class Postgres:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> Postgres:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        # The server's pool holds up to 10 connections (plus overflow): the same here.
        return cls(await asyncpg.create_pool(dsn, min_size=2, max_size=10))

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        count_statement()
        return list(await self.pool.fetch(sql, *args))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as connection, connection.transaction():
            yield _PostgresConnection(connection)

    def timestamp(self, value: dt.datetime) -> Any:
        # Columns are naive UTC (``resolvers.tables.UTCDateTime``).
        return value.astimezone(UTC).replace(tzinfo=None)

    def date(self, value: dt.date) -> Any:
        return value

    async def close(self) -> None:
        await self.pool.close()


@dataclass
class _PostgresConnection:
    connection: asyncpg.Connection

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        count_statement()
        return list(await self.connection.fetch(sql, *args))


_NUMBERED = re.compile(r"\$(\d+)")


def _sqlite_sql(sql: str) -> str:
    """``$1`` (asyncpg) → ``?1`` (SQLite's numbered parameters)."""
    return _NUMBERED.sub(r"?\1", sql)


class SQLite:
    """A few aiosqlite connections (each is a thread), in autocommit mode:
    a single statement is its own transaction, as with asyncpg."""

    dialect = "sqlite"

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self.idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for connection in connections:
            self.idle.put_nowait(connection)
        self.all = connections
        self._sql: dict[str, str] = {}

    @classmethod
    async def open(cls, url: str, size: int = 5) -> SQLite:
        path = make_url(url).database or ""
        connections = []
        for _ in range(size):
            connection = await aiosqlite.connect(path, timeout=30, isolation_level=None)
            await connection.execute("PRAGMA foreign_keys=ON")
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
            connections.append(connection)
        return cls(connections)

    def sql(self, sql: str) -> str:
        converted = self._sql.get(sql)
        if converted is None:
            converted = self._sql[sql] = _sqlite_sql(sql)
        return converted

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        connection = await self.idle.get()
        try:
            count_statement()
            return list(await connection.execute_fetchall(self.sql(sql), args))
        finally:
            self.idle.put_nowait(connection)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        connection = await self.idle.get()
        try:
            # IMMEDIATE: take the write lock first, as the server's row lock does.
            await connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteConnection(self, connection)
            except BaseException:
                await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")
        finally:
            self.idle.put_nowait(connection)

    def timestamp(self, value: dt.datetime) -> Any:
        # SQLAlchemy's SQLite storage format, so that comparisons hold.
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def date(self, value: dt.date) -> Any:
        return value.isoformat()

    async def close(self) -> None:
        for connection in self.all:
            await connection.close()


@dataclass
class _SQLiteConnection:
    database: SQLite
    connection: aiosqlite.Connection

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        count_statement()
        return list(await self.connection.execute_fetchall(self.database.sql(sql), args))


def iso_date(value: Any) -> str:
    """SQLite hands dates back as text, asyncpg as ``date``."""
    return value if isinstance(value, str) else str(value.isoformat())


def iso_datetime(value: Any) -> str:
    """Naive UTC from either driver → the aware ISO form strawberry prints."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC).isoformat()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the viewer

SCHOOL_WIDE = (
    "DISTRICT_ADMIN",
    "SCHOOL_ADMIN",
    "ENROLMENT_MANAGER",
    "SUPPORT_STAFF",
    "SECURITY_CONTACT",
)
# The capability table's columns these workloads need (permissions.capabilities).
PORTAL_VIEW = frozenset(
    {"DISTRICT_ADMIN", "SCHOOL_ADMIN", "ENROLMENT_MANAGER", "TEACHER", "SECURITY_CONTACT"}
)
REVOKE_GRANT = frozenset({"DISTRICT_ADMIN", "SCHOOL_ADMIN", "ENROLMENT_MANAGER", "TEACHER"})


@dataclass(frozen=True)
class Viewer:
    account_id: int
    kind: str
    display_name: str
    staff_member_id: int | None
    guardian_id: int | None
    staff_active: bool
    # (role, school id or None, district id)
    roles: tuple[tuple[str, int | None, int], ...]

    @property
    def can_record_data(self) -> bool:
        return self.kind == "STAFF" and self.staff_member_id is not None and self.staff_active

    def role_names(self) -> frozenset[str]:
        return frozenset(role for role, _, _ in self.roles)


class Unauthenticated(Exception):
    pass


# The session check alone: live session, live account, the token's account.
SESSION_CHECK = """
SELECT a.id FROM sessions se JOIN accounts a ON a.id = se.account_id
WHERE se.id = $1 AND se.revoked_at IS NULL AND se.expires_at > $2
  AND a.revoked_at IS NULL AND a.id = $3
"""

# The session check with the account and its roles (its own, and its staff
# record's while the SIS keeps that record active), in one statement.
VIEWER = """
WITH v AS (
  SELECT a.id, a.kind, a.display_name, a.staff_member_id, a.guardian_id, st.active AS staff_active
  FROM sessions se JOIN accounts a ON a.id = se.account_id
  LEFT JOIN staff_members st ON st.id = a.staff_member_id
  WHERE se.id = $1 AND se.revoked_at IS NULL AND se.expires_at > $2
    AND a.revoked_at IS NULL AND a.id = $3
)
SELECT v.id, v.kind, v.display_name, v.staff_member_id, v.guardian_id, v.staff_active,
       NULL, NULL, NULL FROM v
UNION ALL
SELECT v.id, NULL, NULL, NULL, NULL, NULL, r.role, r.school_id, r.district_id
FROM v JOIN role_grants r ON r.account_id = v.id
UNION ALL
SELECT v.id, NULL, NULL, NULL, NULL, NULL, r.role, r.school_id, r.district_id
FROM v JOIN role_grants r ON r.staff_member_id = v.staff_member_id AND v.staff_active
"""


@dataclass
class Peer:
    database: Database
    signer: TokenSigner
    # District.crossSchoolLinks' cursors: the server's own signed format
    # (resolvers/pagination.py), with the key it derives from the same secret.
    link_cursors: Cursors
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)

    def claims(self, request: Request) -> tuple[int, str, dt.datetime]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated
        now = self.clock()
        try:
            claims = self.signer.verify(token.strip(), now=now)
        except InvalidToken as exc:
            raise Unauthenticated from exc
        return claims.account_id, claims.session_id, now

    async def session_only(self, request: Request) -> int:
        account_id, session_id, now = self.claims(request)
        rows = await self.database.fetch(
            SESSION_CHECK, session_id, self.database.timestamp(now), account_id
        )
        if not rows:
            raise Unauthenticated
        return account_id

    async def viewer(self, request: Request) -> tuple[Viewer, dt.datetime]:
        account_id, session_id, now = self.claims(request)
        rows = await self.database.fetch(
            VIEWER, session_id, self.database.timestamp(now), account_id
        )
        head = next((row for row in rows if row[1] is not None), None)
        if head is None:
            raise Unauthenticated
        roles = tuple(sorted({(r[6], r[7], r[8]) for r in rows if r[6] is not None}, key=str))
        return (
            Viewer(
                account_id=head[0],
                kind=head[1],
                display_name=head[2],
                staff_member_id=head[3],
                guardian_id=head[4],
                staff_active=bool(head[5]),
                roles=roles,
            ),
            now,
        )


# ---------------------------------------------------------------- scope → SQL


def _ints(values: Sequence[int]) -> str:
    # Ids from the viewer's own rows, always ints: safe to inline, and a
    # prepared statement per viewer shape is what the server gets too.
    return ",".join(str(int(v)) for v in values)


def student_scope(
    viewer: Viewer, s: str, roles: frozenset[str] | None = None
) -> list[tuple[str, str]]:
    """(relation, SQL predicate on student alias ``s``) for every way the
    viewer reaches a student; ``roles`` keeps only those relations."""
    parts: list[tuple[str, str]] = []
    for role in SCHOOL_WIDE:
        if roles is not None and role not in roles:
            continue
        districts = [d for r, school, d in viewer.roles if r == role and school is None]
        schools = [school for r, school, _ in viewer.roles if r == role and school is not None]
        if districts:
            parts.append((role, f"{s}.district_id IN ({_ints(districts)})"))
        if schools:
            parts.append((role, f"{s}.school_id IN ({_ints(schools)})"))
    teacher_schools = [
        school for r, school, _ in viewer.roles if r == "TEACHER" and school is not None
    ]
    teacher_districts = [d for r, school, d in viewer.roles if r == "TEACHER" and school is None]
    wants_teacher = roles is None or "TEACHER" in roles
    if (
        wants_teacher
        and viewer.staff_member_id is not None
        and (teacher_schools or teacher_districts)
    ):
        where = []
        if teacher_schools:
            where.append(f"ts.school_id IN ({_ints(teacher_schools)})")
        if teacher_districts:
            where.append(f"ts.district_id IN ({_ints(teacher_districts)})")
        parts.append(
            (
                "TEACHER",
                f"{s}.id IN (SELECT te.student_id FROM section_teachers tt "
                "JOIN sections ts ON ts.id = tt.section_id AND ts.active "
                "JOIN section_enrolments te ON te.section_id = ts.id AND te.active "
                "JOIN students tst ON tst.id = te.student_id AND tst.status = 'ENROLLED' "
                f"WHERE tt.staff_member_id = {int(viewer.staff_member_id)} AND ({' OR '.join(where)}))",
            )
        )
    if roles is None or "GUARDIAN" in roles:
        restricted = ""
        if viewer.guardian_id is not None:
            restricted = (
                " AND NOT EXISTS (SELECT 1 FROM student_contacts gc WHERE gc.student_id = gs.id"
                f" AND gc.guardian_id = {int(viewer.guardian_id)} AND gc.restricted)"
            )
        parts.append(
            (
                "GUARDIAN",
                f"{s}.id IN (SELECT gg.student_id FROM student_access_grants gg "
                "JOIN students gs ON gs.id = gg.student_id "
                f"WHERE gg.account_id = {int(viewer.account_id)} AND gg.revoked_at IS NULL "
                f"AND gg.source <> 'STUDENT_LOGIN' AND gs.status = 'ENROLLED'{restricted})",
            )
        )
    if viewer.kind == "STUDENT":
        raise NotImplementedError("P0 does not implement a student's own scope")
    return parts


def any_of(parts: list[tuple[str, str]]) -> str:
    return "(" + " OR ".join(f"({sql})" for _, sql in parts) + ")" if parts else "FALSE"


# ---------------------------------------------------------------- responses


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _unauthenticated() -> Response:
    return _json(
        {
            "errors": [
                {
                    "message": "The session has ended. Sign in again.",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        },
        401,
    )


async def _variables(request: Request) -> dict[str, Any]:
    payload = orjson.loads(await request.body())
    variables = payload.get("variables") or {}
    assert isinstance(variables, dict)
    return variables


def _pk(global_id: str, type_name: str) -> int | None:
    try:
        name, _, pk = base64.b64decode(global_id, validate=True).decode().partition(":")
    except ValueError:
        return None
    return int(pk) if name == type_name and pk.isdigit() else None


def link_cursors(cursor_key: bytes) -> Cursors:
    """The cursors P3 gives out for ``District.crossSchoolLinks`` (its tag is
    the field and its sort columns, schema/relay.py ``list_cursors``)."""
    columns = ",".join(str(column.key) for column in LINK_ORDER)
    return Cursors(key=cursor_key, tag=f"District.crossSchoolLinks:{columns}")


def _after(cursors: Cursors, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    (account_id,) = cursors.decode(cursor, LINK_ORDER)
    return int(account_id)


async def _audit(
    connection: Connection | Database,
    viewer: Viewer,
    events: Sequence[tuple[int, int | None, str, str | None]],
    at: dt.datetime,
    database: Database,
) -> None:
    """One INSERT for the request's events: (district, student, action, detail)."""
    if not events:
        return
    placeholders: list[str] = []
    args: list[Any] = []
    staff_id = viewer.staff_member_id if viewer.can_record_data else None
    for district_id, student_id, action, detail in events:
        n = len(args)
        placeholders.append("(" + ",".join(f"${n + i}" for i in range(1, 10)) + ")")
        args += [
            district_id,
            student_id,
            database.timestamp(at),
            viewer.account_id,
            staff_id,
            viewer.kind,
            viewer.display_name,
            action,
            detail,
        ]
    await connection.fetch(
        "INSERT INTO access_events (district_id, student_id, at, actor_account_id, actor_staff_id,"
        " actor_kind, actor_name, action, detail) VALUES " + ",".join(placeholders),
        *args,
    )


Handler = Callable[[Peer, Request], Awaitable[Response]]


def _route(handler: Handler, peer: Callable[[], Peer]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(peer(), request)
        except Unauthenticated:
            return _unauthenticated()

    return endpoint


# ---------------------------------------------------------------- W0


async def w0(peer: Peer, request: Request) -> Response:
    await request.body()
    await peer.session_only(request)
    return Response(b'{"data":{"viewer":{"isAuthenticated":true}}}', media_type="application/json")


# ---------------------------------------------------------------- W1

W1_STUDENTS = """
SELECT s.id, s.district_id, s.given_name, s.family_name, sc.name
FROM students s JOIN schools sc ON sc.id = s.school_id
WHERE {scope}
ORDER BY s.family_name, s.given_name, s.id
LIMIT 20
"""

# The week's lessons and each student's first five homework items of their
# current sections, in one statement.
W1_DATA = """
SELECT 0, e.student_id, t.date, t.period, se.name, t.room, t.id
FROM timetable_entries t
JOIN section_enrolments e ON e.section_id = t.section_id AND e.active
JOIN sections se ON se.id = t.section_id
WHERE e.student_id IN ({ids}) AND t.date >= $1 AND t.date <= $2
UNION ALL
SELECT 1, student_id, due_on, title, section_name, NULL, id FROM (
  SELECT e.student_id, h.due_on, h.title, se.name AS section_name, h.id,
         ROW_NUMBER() OVER (PARTITION BY e.student_id ORDER BY h.due_on, h.id) AS rank
  FROM homework h
  JOIN section_enrolments e ON e.section_id = h.section_id AND e.active
  JOIN sections se ON se.id = h.section_id
  WHERE e.student_id IN ({ids})
) ranked WHERE rank <= 5
"""


async def w1(peer: Peer, request: Request) -> Response:
    variables = await _variables(request)
    viewer, now = await peer.viewer(request)
    db = peer.database
    students = await db.fetch(W1_STUDENTS.format(scope=any_of(student_scope(viewer, "s"))))
    lessons: dict[int, list[Sequence[Any]]] = {s[0]: [] for s in students}
    homework: dict[int, list[Sequence[Any]]] = {s[0]: [] for s in students}
    if students:
        rows = await db.fetch(
            W1_DATA.format(ids=_ints([s[0] for s in students])),
            db.date(dt.date.fromisoformat(variables["from"])),
            db.date(dt.date.fromisoformat(variables["to"])),
        )
        for row in rows:
            (homework if row[0] else lessons)[row[1]].append(row)
    edges = []
    for student_id, _, given, family, school in students:
        timetable = sorted(lessons[student_id], key=lambda r: (iso_date(r[2]), r[3], r[6]))
        due = sorted(homework[student_id], key=lambda r: (iso_date(r[2]), r[6]))
        edges.append(
            {
                "node": {
                    "displayName": f"{given} {family}",
                    "school": {"name": school},
                    "timetable": [
                        {"date": iso_date(r[2]), "period": r[3], "sectionName": r[4], "room": r[5]}
                        for r in timetable
                    ],
                    "homework": {
                        "edges": [
                            {"node": {"title": r[3], "dueOn": iso_date(r[2]), "sectionName": r[4]}}
                            for r in due
                        ]
                    },
                }
            }
        )
    # Homework and timetable are restricted fields: reading them is logged.
    events = [
        (district_id, student_id, "STUDENT_PROFILE", "read homework, timetable")
        for student_id, district_id, *_ in sorted(students, key=lambda s: (s[0], s[1]))
    ]
    await _audit(db, viewer, events, now, db)
    return _json({"data": {"viewer": {"students": {"edges": edges}}}})


# ---------------------------------------------------------------- W2

W2_STUDENT = """
SELECT s.given_name, s.family_name, s.district_id, {relations},
       g.id, g.granted_at, g.source, a.id, a.display_name, a.email
FROM students s
LEFT JOIN student_access_grants g ON g.student_id = s.id AND g.revoked_at IS NULL
LEFT JOIN accounts a ON a.id = g.account_id
WHERE s.id = $1 AND {scope}
ORDER BY g.granted_at, g.id
LIMIT 20
"""

# Each account's first 20 active grants, cut to the viewer's scope.
W2_ACCOUNT_GRANTS = """
SELECT account_id, given_name, family_name, school FROM (
  SELECT g.account_id, s.given_name, s.family_name, sc.name AS school,
         ROW_NUMBER() OVER (PARTITION BY g.account_id ORDER BY g.granted_at, g.id) AS rank
  FROM student_access_grants g
  JOIN students s ON s.id = g.student_id
  JOIN schools sc ON sc.id = s.school_id
  WHERE g.account_id IN ({ids}) AND g.revoked_at IS NULL AND {scope}
) ranked WHERE rank <= 20
ORDER BY account_id, rank
"""


async def w2(peer: Peer, request: Request) -> Response:
    variables = await _variables(request)
    viewer, now = await peer.viewer(request)
    db = peer.database
    student_pk = _pk(variables["id"], "Student")
    parts = student_scope(viewer, "s")
    if student_pk is None or not parts:
        return _json({"data": {"node": None}})
    relations = ", ".join(f"CASE WHEN {sql} THEN 1 ELSE 0 END" for _, sql in parts)
    rows = await db.fetch(W2_STUDENT.format(relations=relations, scope=any_of(parts)), student_pk)
    if not rows:
        return _json({"data": {"node": None}})
    first = rows[0]
    held = {name for (name, _), flag in zip(parts, first[3 : 3 + len(parts)], strict=True) if flag}
    if not held & PORTAL_VIEW:
        raise NotImplementedError("P0 implements the revoke view for staff who hold it")
    grant_rows = [r[3 + len(parts) :] for r in rows if r[3 + len(parts)] is not None]
    account_ids = list(dict.fromkeys(g[3] for g in grant_rows))
    theirs: dict[int, list[Sequence[Any]]] = {a: [] for a in account_ids}
    if account_ids:
        for row in await db.fetch(
            W2_ACCOUNT_GRANTS.format(ids=_ints(account_ids), scope=any_of(parts))
        ):
            theirs[row[0]].append(row)
    edges = [
        {
            "node": {
                "grantedAt": iso_datetime(granted_at),
                "source": source,
                "account": {
                    "displayName": name,
                    # The account holds a grant to this student, on whom the
                    # viewer holds PORTAL_VIEW: its email is visible.
                    "email": email,
                    "grants": {
                        "edges": [
                            {
                                "node": {
                                    "student": {
                                        "displayName": f"{r[1]} {r[2]}",
                                        "school": {"name": r[3]},
                                    }
                                }
                            }
                            for r in theirs[account_id]
                        ]
                    },
                },
            }
        }
        for _, granted_at, source, account_id, name, email in grant_rows
    ]
    await _audit(
        db, viewer, [(first[2], student_pk, "STUDENT_PROFILE", "read portalAccess")], now, db
    )
    node = {"displayName": f"{first[0]} {first[1]}", "portalAccess": {"grants": {"edges": edges}}}
    return _json({"data": {"node": node}})


# ---------------------------------------------------------------- W3

W3_PAGE = """
WITH links AS MATERIALIZED (
  SELECT g.account_id FROM student_access_grants g JOIN students s ON s.id = g.student_id
  WHERE g.district_id = $1 AND s.district_id = $1 AND g.revoked_at IS NULL
    AND s.status = 'ENROLLED' AND {scope}
  GROUP BY g.account_id HAVING COUNT(DISTINCT s.school_id) >= 2
)
SELECT (SELECT COUNT(*) FROM links), page.account_id
FROM (SELECT 1 AS one) one
LEFT JOIN (SELECT account_id FROM links WHERE account_id > $2 ORDER BY account_id LIMIT 20) page ON TRUE
ORDER BY page.account_id
"""

W3_LINKS = """
SELECT DISTINCT g.account_id, a.display_name, s.id, s.given_name, s.family_name, sc.id, sc.name
FROM student_access_grants g
JOIN students s ON s.id = g.student_id
JOIN accounts a ON a.id = g.account_id
JOIN schools sc ON sc.id = s.school_id
WHERE g.account_id IN ({ids}) AND g.district_id = $1 AND s.district_id = $1
  AND g.revoked_at IS NULL AND s.status = 'ENROLLED' AND {scope}
ORDER BY g.account_id, s.family_name, s.given_name, s.id
"""


async def w3(peer: Peer, request: Request) -> Response:
    variables = await _variables(request)
    viewer, _ = await peer.viewer(request)
    db = peer.database
    district_id = _pk(variables["id"], "District")
    # A district is visible on the path to anything in scope; its links are
    # restricted to its district admins (both known from the roles alone).
    if district_id is None or district_id not in {d for _, _, d in viewer.roles}:
        return _json({"data": {"node": None}})
    if ("DISTRICT_ADMIN", None, district_id) not in viewer.roles:
        raise NotImplementedError("P0 implements the dashboard for district admins")
    scope = any_of(student_scope(viewer, "s"))
    after = _after(peer.link_cursors, variables.get("after"))
    page = await db.fetch(W3_PAGE.format(scope=scope), district_id, -1 if after is None else after)
    total = int(page[0][0])
    account_ids = [row[1] for row in page if row[1] is not None]
    links: dict[int, dict[str, Any]] = {}
    if account_ids:
        rows = await db.fetch(W3_LINKS.format(ids=_ints(account_ids), scope=scope), district_id)
        for account_id, name, student_id, given, family, school_id, school in rows:
            link = links.setdefault(account_id, {"name": name, "students": {}, "schools": {}})
            link["students"].setdefault(student_id, f"{given} {family}")
            link["schools"][school_id] = school
    edges = []
    for account_id in account_ids:
        link = links[account_id]
        schools = sorted(link["schools"].items(), key=lambda item: (item[1], item[0]))
        edges.append(
            {
                "node": {
                    "account": {"displayName": link["name"]},
                    "schools": [{"name": name} for _, name in schools],
                    "students": [{"displayName": name} for name in link["students"].values()],
                }
            }
        )
    return _json({"data": {"node": {"crossSchoolLinks": {"totalCount": total, "edges": edges}}}})


# ---------------------------------------------------------------- W4

# End the account's active grants to the named students, only where the
# viewer may revoke them; the student's name comes back with each grant.
W4_REVOKE = """
UPDATE student_access_grants
SET revoked_at = $1, revoked_by_staff_id = $2, revoke_reason = 'Revoked by staff'
WHERE account_id = $3 AND student_id IN ({ids}) AND revoked_at IS NULL
  AND source <> 'STUDENT_LOGIN'
  AND student_id IN (SELECT s.id FROM students s WHERE s.id IN ({ids}) AND {scope})
RETURNING id, district_id, student_id, source, relationship, access_code_id, granted_at,
  (SELECT s.given_name || ' ' || s.family_name FROM students s WHERE s.id = student_id)
"""


class _Refused(Exception):
    """Some named student had no active grant to revoke: roll back."""


def _payload(grants: Sequence[Sequence[Any]], errors: list[dict[str, Any]]) -> Response:
    return _json(
        {
            "data": {
                "revokeStudentAccess": {
                    "revokedGrants": [
                        {"source": r[3], "relationship": r[4], "student": {"displayName": r[7]}}
                        for r in grants
                    ],
                    "resetAccessCodes": [],
                    "userErrors": errors,
                }
            }
        }
    )


async def _revoke(
    connection: Connection,
    database: Database,
    viewer: Viewer,
    *,
    account_pk: int,
    wanted: list[int],
    now: dt.datetime,
) -> list[Sequence[Any]]:
    """The UPDATE and its audit events, in the caller's transaction."""
    scope = any_of(student_scope(viewer, "s", REVOKE_GRANT))
    revoked = await connection.fetch(
        W4_REVOKE.format(ids=_ints(wanted), scope=scope),
        database.timestamp(now),
        viewer.staff_member_id,
        account_pk,
    )
    if {row[2] for row in revoked} != set(wanted):
        raise _Refused
    if any(row[5] is not None for row in revoked):
        raise NotImplementedError("the bench pool's grants were not paired with codes")
    await _audit(
        connection,
        viewer,
        [
            (row[1], row[2], "GRANT_REVOKED", f"grant {row[0]} of account {account_pk}")
            for row in revoked
        ],
        now,
        database,
    )
    return revoked


async def w4(peer: Peer, request: Request) -> Response:
    variables = await _variables(request)
    viewer, now = await peer.viewer(request)
    db = peer.database
    if not viewer.can_record_data or not viewer.role_names() & REVOKE_GRANT:
        raise NotImplementedError("P0 implements revocation by linked staff who may revoke")
    account_pk = _pk(variables["accountId"], "Account")
    student_pks = [_pk(i, "Student") for i in variables["studentIds"]]
    if account_pk is None or None in student_pks:
        raise NotImplementedError("P0 expects well-formed ids")
    wanted = sorted({pk for pk in student_pks if pk is not None})
    try:
        async with db.transaction() as connection:
            revoked = await _revoke(
                connection, db, viewer, account_pk=account_pk, wanted=wanted, now=now
            )
    except _Refused:
        # The server names each missing student; the floor's data never misses.
        return _payload([], [{"code": "NOT_FOUND", "field": ["input", "studentIds"]}])
    return _payload(sorted(revoked, key=lambda r: (iso_datetime(r[6]), r[0])), [])


# ---------------------------------------------------------------- the app


def create_app(database_url: str, signer: TokenSigner, cursor_key: bytes) -> Starlette:
    state: dict[str, Peer] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        database: Database
        if database_url.startswith("sqlite"):
            database = await SQLite.open(database_url)
        else:
            database = await Postgres.open(database_url)
        state["peer"] = Peer(database, signer, link_cursors(cursor_key))
        try:
            yield
        finally:
            await database.close()

    def peer() -> Peer:
        return state["peer"]

    routes = [
        Route(path, _route(handler, peer), methods=["POST"])
        for path, handler in (("/w0", w0), ("/w1", w1), ("/w2", w2), ("/w3", w3), ("/w4", w4))
    ]
    return Starlette(routes=routes, lifespan=lifespan)
