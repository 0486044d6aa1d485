"""What the fault run observed and the checks it must pass: the outage as
clients and probes saw it, the writes against the database, the server log.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from loadtest.clients import Exchange, Tally
from loadtest.harness import latency_line
from resolvers.db import Db, create_engine
from resolvers.tables import ACCESS_CODES, ACCESS_EVENTS, HOMEWORK


@dataclass(frozen=True)
class WriteAttempt:
    kind: str  # "reset" or "homework" (or "enable", the setup's first codes)
    client: int
    exchange: Exchange
    acknowledged: bool
    # reset/enable: the batch's student ids; homework: the title.
    key: tuple[str, ...]
    # reset/enable: the codes acknowledged, one per student; homework: its id.
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    path: str
    at: float
    seconds: float
    status: int | None
    body: str


@dataclass
class Timeline:
    """Seconds since the run's start at which PostgreSQL changed."""

    stop_issued: float = 0.0
    down: float = 0.0  # the stop returned and pg_isready refused
    start_issued: float = 0.0
    up: float = 0.0  # pg_isready accepted again
    end: float = 0.0


@dataclass
class Observed:
    timeline: Timeline
    exchanges: list[Exchange] = field(default_factory=list)
    attempts: list[WriteAttempt] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    workers_before: list[int] = field(default_factory=list)
    workers_after: list[int] = field(default_factory=list)
    server_alive: bool = False
    initial_codes: dict[str, str] = field(default_factory=dict)
    writer_students: list[str] = field(default_factory=list)
    batches: list[tuple[str, ...]] = field(default_factory=list)
    # time.time() at the run's start: turns the server's timestamps into
    # the clients' seconds-since-start.
    wall_start: float = 0.0


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        self.lines.append(line)

    def check(self, passed: bool, what: str) -> None:
        self.say(f"  [{'ok' if passed else 'FAIL'}] {what}")
        if not passed:
            self.failures.append(what)


def _phase(t: Timeline, at: float) -> str:
    if at < t.stop_issued:
        return "before"
    if at < t.down:
        return "stopping"
    if at < t.start_issued:
        return "down"
    if at < t.up:
        return "starting"
    return "after"


def judge_outage(observed: Observed, args: argparse.Namespace, verdict: Verdict) -> None:
    t = observed.timeline
    exchanges = observed.exchanges
    say = verdict.say
    say(
        f"Timeline (s since start): stop issued {t.stop_issued:.1f}, down {t.down:.1f}, "
        f"start issued {t.start_issued:.1f}, accepting {t.up:.1f}, end {t.end:.1f}"
    )
    say(
        f"  stopping took {t.down - t.stop_issued:.1f} s; down {t.start_issued - t.down:.1f} s; "
        f"starting took {t.up - t.start_issued:.1f} s"
    )
    by_phase: dict[str, list[Exchange]] = {}
    for exchange in exchanges:
        by_phase.setdefault(_phase(t, exchange.started), []).append(exchange)
    say("")
    say("GraphQL requests by phase (by when they were sent):")
    for phase in ("before", "stopping", "down", "starting", "after"):
        of = by_phase.get(phase, [])
        ok = sum(1 for e in of if e.ok)
        say(f"  {phase:<9} {len(of):5d} sent, {ok:5d} ok, {len(of) - ok:5d} failed")
    say("")
    before = [e for e in exchanges if e.ended < t.stop_issued]
    verdict.check(
        bool(before) and all(e.ok for e in before),
        f"before the stop: every request succeeded ({len(before)})",
    )

    # The outage, for clients: from the stop command until the start
    # command. Requests sent in it must answer fast, whatever the answer.
    sent_in_outage = [e for e in exchanges if t.stop_issued <= e.started < t.start_issued]
    # Nothing can succeed while PostgreSQL is truly down.
    done_while_down = [e for e in exchanges if t.down <= e.ended < t.start_issued]
    failed = [e for e in exchanges if not e.ok]
    tally = Tally()
    for exchange in failed:
        tally.add(exchange)
    say("")
    say("What the clients received when a request failed (request ids blanked):")
    verdict.lines.extend(f"  {line}" for line in tally.lines())
    say("")
    verdict.check(
        bool(sent_in_outage), f"requests were sent during the outage ({len(sent_in_outage)})"
    )
    verdict.check(
        all(not e.ok for e in done_while_down),
        f"no request succeeded while PostgreSQL was down ({len(done_while_down)} answered)",
    )
    slow = [e for e in [*sent_in_outage, *failed] if e.seconds >= args.fail_fast]
    slowest = max((e.seconds for e in [*sent_in_outage, *failed]), default=0.0)
    verdict.check(
        not slow,
        f"fail fast: every request sent during the outage, and every failed request, "
        f"answered within {args.fail_fast:g} s (slowest {slowest * 1000:.0f} ms; "
        f"{len(slow)} slower)",
    )
    if failed:
        say(f"  failed requests' latency: {latency_line([e.seconds for e in failed])}")
    unclear = [e for e in failed if not _clear(e)]
    verdict.check(
        not unclear,
        "every failure was clear: HTTP 503 with a JSON GraphQL error whose code is not "
        f"INTERNAL_SERVER_ERROR ({len(failed) - len(unclear)} of {len(failed)})",
    )

    # Probes sent while PostgreSQL was down; one that got no answer within
    # the probe's own 5 s timeout counts against the server.
    down_probes = [p for p in observed.probes if t.down <= p.at < t.start_issued]
    ready = [p for p in down_probes if p.path == "/readyz"]
    health = [p for p in down_probes if p.path == "/healthz"]
    ready_bodies = sorted({f"{p.status} {p.body}" for p in ready})
    health_bodies = sorted({f"{p.status} {p.body}" for p in health})
    say("")
    say(f"/readyz while down ({len(ready)} probes): {ready_bodies}")
    say(f"/healthz while down ({len(health)} probes): {health_bodies}")
    verdict.check(
        bool(ready) and all(p.status == 503 and '"unavailable"' in p.body for p in ready),
        '/readyz answered 503 {"status": "unavailable", ...} throughout the outage',
    )
    verdict.check(
        bool(health) and all(p.status == 200 for p in health),
        "/healthz answered 200 throughout the outage",
    )
    slowest_probe = max((p.seconds for p in down_probes), default=0.0)
    verdict.check(
        slowest_probe < args.fail_fast,
        f"health probes answered within {args.fail_fast:g} s while down: "
        f"slowest {slowest_probe * 1000:.0f} ms",
    )

    # Recovery: from when PostgreSQL accepts again to the first request
    # after which nothing failed, and to /readyz's first 200.
    after = sorted((e for e in exchanges if e.started >= t.up), key=lambda e: e.started)
    last_failure = max((e.ended for e in after if not e.ok), default=None)
    graphql_back = (last_failure - t.up) if last_failure is not None else 0.0
    ready_back = next(
        (
            p.at - t.up
            for p in observed.probes
            if p.at >= t.up and p.path == "/readyz" and p.status == 200
        ),
        None,
    )
    say("")
    say(
        f"Recovery after PostgreSQL accepted connections: GraphQL all ok after "
        f"{graphql_back:.2f} s; /readyz 200 after "
        f"{'never' if ready_back is None else f'{ready_back:.2f} s'}"
    )
    verdict.check(
        bool(after) and graphql_back <= args.recover_within,
        f"GraphQL recovered by itself within {args.recover_within:g} s",
    )
    verdict.check(
        ready_back is not None and ready_back <= args.recover_within,
        f"/readyz recovered within {args.recover_within:g} s",
    )
    last_by_client: dict[int, Exchange] = {}
    for attempt in observed.attempts:
        last_by_client[attempt.client] = attempt.exchange
    verdict.check(
        all(e.ok for e in last_by_client.values()),
        "every writer's last write was acknowledged (writes recovered too)",
    )
    verdict.check(
        observed.server_alive and observed.workers_before == observed.workers_after,
        f"no restart: same server and workers {observed.workers_before} -> "
        f"{observed.workers_after}",
    )


def _clear(exchange: Exchange) -> bool:
    """HTTP 503 with a GraphQL error code a client can act on (retry later).
    A masked INTERNAL_SERVER_ERROR says "our bug, quote this id" instead."""
    return (
        exchange.status == 503
        and "application/json" in exchange.signature
        and '"code"' in exchange.signature
        and "INTERNAL_SERVER_ERROR" not in exchange.signature
    )


async def judge_writes(url: str, observed: Observed, verdict: Verdict) -> None:
    """Compare what the clients were told with what the database holds."""
    say = verdict.say
    attempts = [a for a in observed.attempts if a.kind != "enable"]
    for kind in ("reset", "homework"):
        of = [a for a in attempts if a.kind == kind]
        acked = sum(1 for a in of if a.acknowledged)
        say(
            f"  {kind:<9} {len(of):5d} attempted, {acked:5d} acknowledged, {len(of) - acked:5d} not"
        )
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            db = Db(session)
            await _check_homework(db, observed, verdict)
            await _check_codes(db, observed, verdict)
    finally:
        await engine.dispose()


async def _check_homework(db: Db, observed: Observed, verdict: Verdict) -> None:
    attempts = [a for a in observed.attempts if a.kind == "homework"]
    if not attempts:
        return
    tag = attempts[0].key[0].split(" writer ")[0]
    rows = await db.all(
        sa.select(HOMEWORK.c.id, HOMEWORK.c.title).where(HOMEWORK.c.title.startswith(tag))
    )
    stored: dict[str, list[int]] = {}
    for row in rows:
        stored.setdefault(row.title, []).append(row.id)
    acked = {a.key[0] for a in attempts if a.acknowledged}
    attempted = {a.key[0] for a in attempts}
    failed = {a.key[0]: a for a in attempts if not a.acknowledged}
    verdict.check(
        not acked - set(stored), f"homework: every acknowledged write is stored ({len(acked)})"
    )
    verdict.check(all(len(ids) == 1 for ids in stored.values()), "homework: no write stored twice")
    verdict.check(not set(stored) - attempted, "homework: nothing stored that was not sent")
    committed_failed = [failed[title] for title in stored if title in failed]
    _note_committed_failures(verdict, "homework", committed_failed)


def _student_pk(global_id: str) -> int:
    """The primary key in a Student global id, for the SQL checks only
    (clients treat ids as opaque; the checks look behind them)."""
    type_name, _, pk = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "Student", global_id
    return int(pk)


async def _check_codes(db: Db, observed: Observed, verdict: Verdict) -> None:
    students = observed.writer_students
    if not students:
        return
    pk = {gid: _student_pk(gid) for gid in students}
    rows = await db.all(
        sa.select(ACCESS_CODES)
        .where(ACCESS_CODES.c.student_id.in_(list(pk.values())))
        .order_by(ACCESS_CODES.c.id)
    )
    gid_of = {value: key for key, value in pk.items()}
    active: dict[str, list[str]] = {gid: [] for gid in students}
    by_code = {}
    for row in rows:
        by_code[row.code] = row
        if row.status == "ACTIVE":
            active[gid_of[row.student_id]].append(row.code)
    verdict.check(
        all(len(codes) == 1 for codes in active.values()),
        f"access codes: each of the {len(students)} students has exactly one ACTIVE code",
    )

    resets = [a for a in observed.attempts if a.kind == "reset"]
    acked = {
        code: gid
        for a in observed.attempts
        if a.kind in {"reset", "enable"} and a.acknowledged
        for gid, code in zip(a.key, a.values, strict=True)
    }
    missing = [
        code
        for code, gid in acked.items()
        if code not in by_code or gid_of[by_code[code].student_id] != gid
    ]
    verdict.check(
        not missing,
        f"access codes: every acknowledged code is stored, for its student ({len(acked)})",
    )

    # Whole or nothing: the codes one reset made share its clock reading
    # (created_at, and reset_at on the codes it replaced), so group by it.
    batches = {frozenset(b) for b in observed.batches}
    initial = set(observed.initial_codes.values())
    made: dict[dt.datetime, set[str]] = {}
    replaced: dict[dt.datetime, set[str]] = {}
    for row in rows:
        if row.code not in initial:
            made.setdefault(row.created_at, set()).add(gid_of[row.student_id])
        if row.reset_at is not None:
            replaced.setdefault(row.reset_at, set()).add(gid_of[row.student_id])
    partial = [sorted(group) for group in made.values() if frozenset(group) not in batches]
    partial += [sorted(group) for group in replaced.values() if frozenset(group) not in batches]
    verdict.check(
        not partial and set(made) == set(replaced),
        f"access codes: every reset is whole: {len(made)} resets stored, each replaced "
        f"and issued codes for a whole batch of {len(next(iter(batches)))}",
    )
    events = await db.all(
        sa.select(ACCESS_EVENTS.c.action, ACCESS_EVENTS.c.detail).where(
            ACCESS_EVENTS.c.student_id.in_(list(pk.values())),
            ACCESS_EVENTS.c.action.in_(["ACCESS_CODE_ISSUED", "ACCESS_CODE_RESET"]),
        )
    )
    counted: dict[tuple[str, str], int] = {}
    for event in events:
        counted[(event.action, event.detail)] = counted.get((event.action, event.detail), 0) + 1
    expected = {("ACCESS_CODE_ISSUED", f"access code {row.id}") for row in rows}
    expected |= {
        ("ACCESS_CODE_RESET", f"access code {row.id}") for row in rows if row.status == "RESET"
    }
    verdict.check(
        set(counted) == expected and all(n == 1 for n in counted.values()),
        f"access codes: exactly one audit event per code issued and per code reset ({len(expected)})",
    )
    # Codes no one was told about: a reset that committed while its client
    # saw a failure. Match each such reset to the failed attempt on the same
    # batch that was in flight at its clock reading.
    failed_resets = [a for a in resets if not a.acknowledged]
    unacknowledged: dict[dt.datetime, set[str]] = {}
    for row in rows:
        if row.code not in acked and row.code not in initial:
            unacknowledged.setdefault(row.created_at, set()).add(gid_of[row.student_id])
    committed_failed: list[WriteAttempt] = []
    strays: list[dt.datetime] = []
    for at, group in sorted(unacknowledged.items()):
        wall = at.timestamp() - observed.wall_start
        match = next(
            (
                a
                for a in failed_resets
                if set(a.key) == group
                and a.exchange.started - 0.5 <= wall <= a.exchange.ended + 0.5
            ),
            None,
        )
        if match is None:
            strays.append(at)
        else:
            committed_failed.append(match)
    verdict.check(not strays, f"access codes: no reset stored that no client sent ({len(strays)})")
    _note_committed_failures(verdict, "access code resets", committed_failed)


def _note_committed_failures(verdict: Verdict, what: str, attempts: Sequence[WriteAttempt]) -> None:
    """A write the client was told failed, but which is stored: not lost,
    not half done, but a client that retries it does it twice."""
    if not attempts:
        verdict.check(True, f"{what}: no write reported failed was stored")
        return
    message = f"{what}: {len(attempts)} write(s) reported failed to the client were stored anyway"
    verdict.warnings.append(message)
    verdict.say(f"  [warn] {message}:")
    for attempt in attempts[:5]:
        verdict.say(f"         {attempt.key} <- {attempt.exchange.signature[:200]}")


_REPO = str(Path(__file__).resolve().parent.parent)


def server_log_summary(path: Path) -> str:
    """What the server wrote about the outage: its log's non-access lines,
    most frequent first, and every traceback that escaped to uvicorn
    grouped by where it left the repository's code and what it raised."""
    lines = path.read_text(errors="replace").splitlines()
    counted: dict[str, int] = {}
    escaped: dict[str, int] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if '"POST /graphql' in line or '"GET /' in line or not line.strip():
            continue
        if line.startswith("ERROR:    Exception in ASGI application"):
            block, index = _traceback_block(lines, index)
            origin = _traceback_origin(block)
            escaped[origin] = escaped.get(origin, 0) + 1
            continue
        if line.startswith((" ", "Traceback", "The above exception", "During handling")):
            continue
        counted[line[:140]] = counted.get(line[:140], 0) + 1
    report = ["Server log: tracebacks that escaped to uvicorn (HTTP 500), by origin:"]
    report += [f"  {n:5d} x {origin}" for origin, n in sorted(escaped.items(), key=_by_count)]
    report.append("Server log: other lines, most frequent first:")
    top = sorted(counted.items(), key=_by_count)[:12]
    report += [f"  {n:5d} x {line}" for line, n in top]
    return "\n".join(report)


def _by_count(item: tuple[str, int]) -> int:
    return -item[1]


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b")

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _traceback_block(lines: Sequence[str], index: int) -> tuple[list[str], int]:
    """The traceback chain starting at ``index`` and the index after it: it
    ends at an exception line that no "The above exception" or "During
    handling" follows (another worker's lines can follow directly)."""
    block: list[str] = []
    while index < len(lines):
        line = lines[index]
        block.append(line)
        index += 1
        if _EXCEPTION_LINE.match(line):
            ahead = index
            while ahead < len(lines) and (
                not lines[ahead].strip() or lines[ahead].startswith(("(Background", "[SQL"))
            ):
                ahead += 1
            if ahead >= len(lines) or not lines[ahead].startswith(
                ("The above exception", "During handling")
            ):
                return block, index
    return block, index


# The session guard's plumbing, the same in every database traceback.
_PLUMBING = ("resolvers/db.py:", " _locked", " run", " work")


def _traceback_origin(block: Sequence[str]) -> str:
    """The repository's frames of the traceback that escaped (the last of a
    chain), outermost first, and the exception it raised. Lines of other
    workers' logs may be interleaved in ``block``: only frames and
    exception lines are read."""
    last = max((i for i, line in enumerate(block) if line.startswith("Traceback")), default=0)
    frames = []
    for line in block[last:]:
        match = _FRAME.search(line)
        if match and match[1].startswith(_REPO) and "/.venv/" not in match[1]:
            frame = f"{match[1][len(_REPO) + 1 :]}:{match[2]} {match[3]}"
            if not (frame.startswith(_PLUMBING[0]) and frame.endswith(_PLUMBING[1:])):
                frames.append(frame)
    raised = next((line for line in reversed(block) if _EXCEPTION_LINE.match(line)), "?")
    return f"{' > '.join(frames) or '?'} -> {raised[:110]}"
