"""Simulated clients: what they ask, how they page and open students, and
how each answer is judged for the role that asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from loadtest.harness import Viewer

# What the clients send. Each is what one screen of a real client would ask:
# a home screen (Viewer), a paged list with an optional search, a student's
# page, the guardian and account lists of the admin screens.
DOCUMENTS = {
    "Viewer": """
query Viewer {
  viewer {
    isAuthenticated canRecordData
    account { id displayName kind }
    roles { role school { id name } district { name } }
    students(first: 20) {
      totalCount
      edges { node { id displayName enrolmentStatus school { id name } yearGroup { name } } }
    }
  }
}""",
    "Students": """
query Students($after: String, $search: String) {
  students(first: 20, after: $after, search: $search) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id displayName enrolmentStatus school { name } yearGroup { name } } }
  }
}""",
    # A student's page: the same document for every role. What a role may
    # not see comes back null with FORBIDDEN at its path, which the client
    # expects (EXPECTED_FORBIDDEN) and shows as "not available".
    "StudentPortal": """
query StudentPortal($id: ID!, $from: Date!, $to: Date!) {
  node(id: $id) {
    ... on Student {
      id displayName enrolmentStatus
      school { name } yearGroup { name }
      homework(first: 5) { totalCount edges { node { title dueOn sectionName } } }
      timetable(from: $from, to: $to) { date period sectionName room }
      contacts { contactType portalEligible guardian { displayName } }
      portalAccess {
        accessCode { status }
        grants(first: 5) {
          totalCount
          edges { node { relationship source grantedAt account { displayName } } }
        }
      }
      accessReview { grants { relationship source account { displayName } } }
    }
  }
}""",
    "Guardians": """
query Guardians($after: String, $search: String) {
  guardians(first: 20, after: $after, filter: {search: $search}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id displayName email portalStatus students { displayName } account { displayName } } }
  }
}""",
    # A teacher's contact list: only what the role may see.
    "TeacherGuardians": """
query TeacherGuardians($after: String) {
  guardians(first: 20, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id displayName students { displayName } } }
  }
}""",
    "Accounts": """
query Accounts($after: String, $kind: AccountKind) {
  accounts(first: 20, after: $after, filter: {kind: $kind}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id displayName kind email portalStatus lastLoginAt
        grants(first: 5) { totalCount edges { node { relationship student { displayName } } } }
      }
    }
  }
}""",
}

# How often each role asks each question (relative weights).
READ_MIX: Mapping[str, Sequence[tuple[str, int]]] = {
    "district_admin": (
        ("Viewer", 1),
        ("Students", 3),
        ("StudentPortal", 3),
        ("Guardians", 2),
        ("Accounts", 2),
    ),
    "school_admin": (
        ("Viewer", 1),
        ("Students", 3),
        ("StudentPortal", 3),
        ("Guardians", 2),
        ("Accounts", 2),
    ),
    "teacher": (("Viewer", 2), ("Students", 2), ("StudentPortal", 4), ("TeacherGuardians", 1)),
    "guardian": (("Viewer", 2), ("StudentPortal", 5)),
}

# FORBIDDEN errors a role's client expects, by path (list indices left out).
# They follow the capability table (permissions/capabilities.py): a teacher
# has no CONTACT_DETAILS, ACCESS_REVIEW or MANAGE_ACCESS_CODES; a guardian
# has no PORTAL_VIEW. Any other error is a failure of the run.
EXPECTED_FORBIDDEN: Mapping[tuple[str, str], frozenset[tuple[str, ...]]] = {
    ("teacher", "StudentPortal"): frozenset(
        {("node", "contacts"), ("node", "accessReview"), ("node", "portalAccess", "accessCode")}
    ),
    ("guardian", "StudentPortal"): frozenset({("node", "portalAccess")}),
}

SEARCHES = ("Pa", "Sm", "Ng", "Kim", "Lee", "Ch", "Ma", "Sa", "Jo", "Wa")

PAGED = {
    "Students": ("students",),
    "Guardians": ("guardians",),
    "TeacherGuardians": ("guardians",),
    "Accounts": ("accounts",),
}


class Behaviour:
    """What one simulated client asks next, from what it has already seen:
    it pages on through a list or starts again, and opens students it has
    seen in a list (as a person clicks through)."""

    MAX_KNOWN_STUDENTS = 500

    def __init__(self, role: str, rng: random.Random) -> None:
        self.role = role
        self.rng = rng
        self.students: list[str] = []
        self._cursors: dict[str, tuple[str | None, str | None]] = {}
        operations = READ_MIX[role]
        self._names = [name for name, _ in operations]
        self._weights = [weight for _, weight in operations]

    def next_request(self) -> tuple[str, dict[str, Any]]:
        name = self.rng.choices(self._names, self._weights)[0]
        if name == "StudentPortal" and not self.students:
            name = "Viewer"  # nothing to open yet: the home screen first
        if name == "StudentPortal":
            today = dt.date.today()
            return name, {
                "id": self.rng.choice(self.students),
                "from": today.isoformat(),
                "to": (today + dt.timedelta(days=7)).isoformat(),
            }
        if name in PAGED:
            after, search = self._cursors.get(name, (None, None))
            # People rarely page to the end: one time in four, a fresh search.
            if after is None or self.rng.random() < 0.25:
                after = None
                search = self.rng.choice(SEARCHES) if self.rng.random() < 0.3 else None
            variables: dict[str, Any] = {"after": after}
            if name in {"Students", "Guardians"}:
                variables["search"] = search
            if name == "Accounts":
                variables["kind"] = self.rng.choice(("GUARDIAN", "STAFF", None))
            self._cursors[name] = (after, search)
            return name, variables
        return name, {}

    def observe(self, name: str, variables: Mapping[str, Any], data: Any) -> None:
        if not isinstance(data, dict):
            return
        if name == "Viewer":
            self._remember(_edges(data.get("viewer"), "students"))
        elif name in PAGED:
            (root,) = PAGED[name]
            connection = data.get(root) or {}
            page = connection.get("pageInfo") or {}
            after = page.get("endCursor") if page.get("hasNextPage") else None
            self._cursors[name] = (after, variables.get("search"))
            if name == "Students":
                self._remember(_edges(data, "students"))

    def _remember(self, nodes: list[Any]) -> None:
        for node in nodes:
            known = isinstance(node, dict) and isinstance(node.get("id"), str)
            if known and node["id"] not in self.students:
                self.students.append(node["id"])
        del self.students[: -self.MAX_KNOWN_STUDENTS]


def _edges(parent: Any, key: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    connection = parent.get(key)
    if not isinstance(connection, dict):
        return []
    return [edge.get("node") for edge in connection.get("edges") or [] if isinstance(edge, dict)]


_REQUEST_ID = re.compile(r"\b[0-9a-f]{32}\b")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as the client saw it."""

    operation: str
    role: str
    started: float  # seconds since the run's start
    seconds: float
    status: int | None  # None: no HTTP response at all
    ok: bool
    expected_forbidden: int
    # Empty when ok; else what was wrong, for the report ("HTTP 500", ...).
    problem: str
    # What came back, request ids blanked so that equal answers group.
    signature: str

    @property
    def ended(self) -> float:
        return self.started + self.seconds


def judge(
    role: str, operation: str, status: int, content_type: str, body: bytes
) -> tuple[bool, int, str, Any]:
    """(ok, expected FORBIDDEN count, problem, data) of one HTTP answer."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False, 0, f"HTTP {status} {content_type or 'no content type'} (not JSON)", None
    if not isinstance(payload, dict):
        return False, 0, f"HTTP {status}: JSON that is not an object", None
    problems: list[str] = []
    if status != 200:
        problems.append(f"HTTP {status}")
    expected = EXPECTED_FORBIDDEN.get((role, operation), frozenset())
    forbidden = 0
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code", "no code")
        path = tuple(p for p in error.get("path") or [] if isinstance(p, str))
        if code == "FORBIDDEN" and path in expected:
            forbidden += 1
        else:
            problems.append(f"{code} at {'.'.join(path) or '(request)'}")
    data = payload.get("data")
    if data is None and status == 200:
        problems.append("data is null")
    problem = "; ".join(sorted(set(problems)))
    return not problems, forbidden, problem, data


def signature_of(status: int | None, content_type: str, body: bytes, error: str = "") -> str:
    if status is None:
        return f"no response ({error})"
    text = _REQUEST_ID.sub("<request-id>", body[:600].decode(errors="replace"))
    return f"HTTP {status} [{content_type.split(';')[0] or 'no content type'}] {text}"


class Client:
    """One simulated device: one keep-alive connection, one token."""

    def __init__(self, base_url: str, viewer: Viewer, *, timeout: float, start: float) -> None:
        self.viewer = viewer
        self.start = start
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"authorization": f"Bearer {viewer.token}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def graphql(
        self, operation: str, variables: Mapping[str, Any], *, document: str | None = None
    ) -> tuple[Exchange, Any]:
        """POST one operation; never raises for what the server or the
        network did: that is the Exchange's to say."""
        body = {"query": document or DOCUMENTS[operation], "variables": dict(variables)}
        began = time.monotonic()
        try:
            response = await self.http.post("/graphql", json=body)
        except httpx.HTTPError as exc:
            seconds = time.monotonic() - began
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return Exchange(
                operation,
                self.viewer.role,
                began - self.start,
                seconds,
                None,
                False,
                0,
                f"no response: {type(exc).__name__}",
                signature_of(None, "", b"", reason),
            ), None
        seconds = time.monotonic() - began
        content_type = response.headers.get("content-type", "")
        ok, forbidden, problem, data = judge(
            self.viewer.role, operation, response.status_code, content_type, response.content
        )
        signature = (
            f"HTTP {response.status_code} ok"
            if ok
            else signature_of(response.status_code, content_type, response.content)
        )
        exchange = Exchange(
            operation,
            self.viewer.role,
            began - self.start,
            seconds,
            response.status_code,
            ok,
            forbidden,
            problem,
            signature,
        )
        return exchange, data


async def read_loop(
    client: Client,
    behaviour: Behaviour,
    *,
    until: float,
    max_requests: int,
    pause: float,
    exchanges: list[Exchange],
    delay: float = 0,
    stop: asyncio.Event | None = None,
) -> None:
    """Ask, observe, repeat: until the monotonic time ``until``, ``stop`` is
    set or ``max_requests`` are sent, whichever comes first (the time and
    the count bound every loop). ``delay`` staggers the first request, so
    that clients arrive over the warm-up as people do rather than as one
    burst of connections."""
    await asyncio.sleep(delay)
    for _ in range(max_requests):
        if time.monotonic() >= until or (stop is not None and stop.is_set()):
            return
        name, variables = behaviour.next_request()
        exchange, data = await client.graphql(name, variables)
        exchanges.append(exchange)
        behaviour.observe(name, variables, data)
        if pause:
            await asyncio.sleep(pause)
        elif exchange.status is None:
            # Without a server there is no back-pressure: do not spin.
            await asyncio.sleep(0.05)


@dataclass
class Tally:
    """Counts of exchanges by what came back, for reports."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, Exchange] = field(default_factory=dict)

    def add(self, exchange: Exchange) -> None:
        key = exchange.signature
        self.counts[key] = self.counts.get(key, 0) + 1
        self.examples.setdefault(key, exchange)

    def lines(self, limit: int = 12) -> Iterator[str]:
        ranked = sorted(self.counts.items(), key=lambda item: -item[1])
        for signature, count in ranked[:limit]:
            yield f"{count:6d} x {signature}"
        if len(ranked) > limit:
            yield f"       … and {len(ranked) - limit} other kinds"
