"""The fault run: PostgreSQL stops under load and comes back.

    python -m loadtest.fault                      # a private PostgreSQL (default)
    python -m loadtest.fault --postgres system    # the machine's cluster

Same setup as the load run (fresh database, demo district, viewers,
``accessgraph serve --workers N`` on a free loopback port), light continuous
load with writes, then PostgreSQL is stopped (fast shutdown) for ``--down``
seconds and started again. Checks:

- while it is down, ``/readyz`` answers 503 ``{"status": "unavailable"}``
  and ``/healthz`` 200;
- every GraphQL request that fails, fails within ``--fail-fast`` seconds,
  and with a clear error: HTTP 503 and a JSON GraphQL error whose code is
  not the masked ``INTERNAL_SERVER_ERROR``;
- after PostgreSQL accepts connections again, every request succeeds again
  within ``--recover-within`` seconds, with the same server processes;
- no lost or half-done write: every acknowledged write is in the database,
  and every reset of a batch of access codes is there whole or not at all,
  with its audit events.

The writes are served mutations, so the run needs nothing but the server:
``resetAccessCodes`` by school admins (per student, the ACTIVE code becomes
RESET and a new one is issued, both audited, in one transaction: the write
where "half done" has a meaning) and ``createHomework`` by teachers (one
row with a unique title: "lost" and "stored twice" are exact). The SIS
import would be a bigger write but a command, not a request, so an outage
would not show what clients see.

PostgreSQL is always started again on the way out (an exception, Ctrl-C or
SIGTERM included), and the run waits for ``pg_isready`` before it exits.

Which PostgreSQL: by default a private cluster this run creates with
``initdb`` on a free loopback port and deletes at the end; the failure is the
same (the postmaster shuts down, connections are cut, the port refuses), and
nobody else's tests or data loads break. ``--postgres system`` stops the
machine's own cluster with ``pg_ctlcluster``, as a deployment would see it;
it refuses while other databases have sessions, unless ``--even-if-busy``.
``--fault freeze`` (private only) SIGSTOPs PostgreSQL instead: a database
that hangs rather than refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from loadtest.clients import Behaviour, Client, Exchange, read_loop
from loadtest.fault_checks import (
    Observed,
    Probe,
    Timeline,
    Verdict,
    WriteAttempt,
    judge_outage,
    judge_writes,
    server_log_summary,
)
from loadtest.harness import (
    Server,
    Viewer,
    configure_environment,
    create_database,
    create_viewers,
    database_url,
    drop_database,
    load_demo,
    log,
    role_mix,
)
from loadtest.postgres import (
    Postgres,
    PrivateCluster,
    SystemCluster,
    ensure_up,
    other_sessions,
)

ENABLE_PORTAL_ACCESS = """
mutation EnablePortalAccess($ids: [ID!]!) {
  enablePortalAccess(input: {studentIds: $ids}) {
    accessCodes { id code status student { id } }
    userErrors { code message }
  }
}"""

# A reset is several rows in one transaction: each student's ACTIVE code
# becomes RESET, a new ACTIVE code is inserted, and both are audited. A half
# done reset would leave a student with no ACTIVE code or with two, or codes
# without their audit events: the checks look for exactly that.
RESET_ACCESS_CODES = """
mutation ResetAccessCodes($ids: [ID!]!) {
  resetAccessCodes(input: {studentIds: $ids}) {
    accessCodes { id code status student { id } }
    userErrors { code message }
  }
}"""

CREATE_HOMEWORK = """
mutation CreateHomework($section: ID!, $title: String!, $due: Date!) {
  createHomework(input: {sectionId: $section, title: $title, dueOn: $due}) {
    homework { id title }
    userErrors { code message }
  }
}"""

TEACHER_SECTIONS = "query TeacherSections { viewer { actingAs { sections { id } } } }"

SCHOOL_STUDENTS = "query SchoolStudents { students(first: 60) { edges { node { id } } } }"

# Small batches, two per writer: every reset touches several rows per
# student and several students, and a writer's batches never overlap
# another's, so no reset waits on another writer's row locks.
BATCH_SIZE = 3
BATCHES_PER_WRITER = 2


def _payload(data: Any, field_name: str) -> dict[str, Any] | None:
    if isinstance(data, dict) and isinstance(data.get(field_name), dict):
        return dict(data[field_name])
    return None


def _acknowledged_codes(data: Any, field_name: str, batch: Sequence[str]) -> tuple[str, ...]:
    """The codes, in batch order, if the payload acknowledges the whole
    batch with no user error; () otherwise."""
    payload = _payload(data, field_name)
    if payload is None or payload.get("userErrors"):
        return ()
    codes: dict[str, str] = {}
    for code in payload.get("accessCodes") or []:
        student = (code.get("student") or {}).get("id") if isinstance(code, dict) else None
        if isinstance(student, str) and isinstance(code.get("code"), str):
            # Shown as XXXX-XXXX-XXXX, stored normalised: compare as stored.
            codes[student] = "".join(ch for ch in code["code"].upper() if ch.isalnum())
    if sorted(codes) != sorted(batch):
        return ()
    return tuple(codes[s] for s in batch)


async def _write_loop(
    index: int,
    client: Client,
    *,
    batches: Sequence[Sequence[str]],
    sections: Sequence[str],
    tag: str,
    pause: float,
    stop: asyncio.Event,
    until: float,
    attempts: list[WriteAttempt],
    exchanges: list[Exchange],
) -> None:
    """One writer: resets its own batches of codes (a school admin) or
    records homework with unique titles (a teacher), one after another, so
    that the order of its acknowledged writes is known. Bounded by time,
    count and ``stop``."""
    for number in range(100_000):
        if stop.is_set() or time.monotonic() >= until:
            return
        if batches:
            batch = list(batches[number % len(batches)])
            exchange, data = await client.graphql(
                "ResetAccessCodes", {"ids": batch}, document=RESET_ACCESS_CODES
            )
            codes = _acknowledged_codes(data, "resetAccessCodes", batch) if exchange.ok else ()
            attempt = WriteAttempt("reset", index, exchange, bool(codes), tuple(batch), codes)
        else:
            title = f"{tag} writer {index} #{number}"
            exchange, data = await client.graphql(
                "CreateHomework",
                {
                    "section": sections[number % len(sections)],
                    "title": title,
                    "due": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
                },
                document=CREATE_HOMEWORK,
            )
            payload = (_payload(data, "createHomework") if exchange.ok else None) or {}
            homework = payload.get("homework")
            acknowledged = not payload.get("userErrors", True) and isinstance(homework, dict)
            attempt = WriteAttempt(
                "homework",
                index,
                exchange,
                acknowledged,
                (title,),
                (str(homework["id"]),) if isinstance(homework, dict) and acknowledged else (),
            )
        attempts.append(attempt)
        exchanges.append(exchange)
        await asyncio.sleep(pause if exchange.status is not None else max(pause, 0.05))


async def _probe_loop(
    base_url: str, *, start: float, stop: asyncio.Event, until: float, probes: list[Probe]
) -> None:
    """/readyz and /healthz every quarter second, as a load balancer and a
    process supervisor would ask; each on its own, so that one hanging
    does not hide the other."""

    async def probe(http: httpx.AsyncClient, path: str) -> None:
        while not stop.is_set() and time.monotonic() < until:
            began = time.monotonic()
            try:
                response = await http.get(path)
                status, body = response.status_code, response.text[:200]
            except httpx.HTTPError as exc:
                status, body = None, f"no response ({type(exc).__name__})"
            probes.append(Probe(path, began - start, time.monotonic() - began, status, body))
            await asyncio.sleep(0.25)

    async with (
        httpx.AsyncClient(base_url=base_url, timeout=5) as ready,
        httpx.AsyncClient(base_url=base_url, timeout=5) as health,
    ):
        await asyncio.gather(probe(ready, "/readyz"), probe(health, "/healthz"))


async def _prepare_writers(
    clients: Sequence[Client], roles: Sequence[str]
) -> tuple[list[list[list[str]]], list[list[str]], dict[str, str], list[WriteAttempt]]:
    """Each writer's batches (school admins) or sections (teachers), found
    the way a client finds them, and the students' first codes."""
    batches: list[list[list[str]]] = []
    sections: list[list[str]] = []
    taken: set[str] = set()
    initial: dict[str, str] = {}
    attempts: list[WriteAttempt] = []
    for index, (client, role) in enumerate(zip(clients, roles, strict=True)):
        if role == "school_admin":
            _, data = await client.graphql("SchoolStudents", {}, document=SCHOOL_STUDENTS)
            mine = [
                edge["node"]["id"]
                for edge in data["students"]["edges"]
                if edge["node"]["id"] not in taken
            ][: BATCH_SIZE * BATCHES_PER_WRITER]
            if len(mine) < BATCH_SIZE * BATCHES_PER_WRITER:
                raise RuntimeError(f"writer {index} found too few students of its own")
            taken.update(mine)
            exchange, data = await client.graphql(
                "EnablePortalAccess", {"ids": mine}, document=ENABLE_PORTAL_ACCESS
            )
            codes = _acknowledged_codes(data, "enablePortalAccess", mine) if exchange.ok else ()
            if not codes:
                raise RuntimeError(f"enablePortalAccess failed: {exchange.signature}")
            initial.update(zip(mine, codes, strict=True))
            attempts.append(WriteAttempt("enable", index, exchange, True, tuple(mine), codes))
            batches.append([mine[i : i + BATCH_SIZE] for i in range(0, len(mine), BATCH_SIZE)])
            sections.append([])
        else:
            _, data = await client.graphql("TeacherSections", {}, document=TEACHER_SECTIONS)
            found = [s["id"] for s in data["viewer"]["actingAs"]["sections"]]
            if not found:
                raise RuntimeError(f"writer {index} teaches no section")
            batches.append([])
            sections.append(found)
    return batches, sections, initial, attempts


async def _observe(
    server: Server,
    viewers: Sequence[Viewer],
    writers: int,
    args: argparse.Namespace,
    postgres: Postgres,
) -> Observed:
    start = time.monotonic()
    timeline = Timeline()
    observed = Observed(timeline, wall_start=time.time())
    clients = [Client(server.base_url, v, timeout=30, start=start) for v in viewers]
    stop = asyncio.Event()
    # Past this nothing keeps running whatever happens: the bound of every loop.
    until = start + args.before + args.down + args.after + 120
    try:
        batches, sections, initial, setup = await _prepare_writers(
            clients[:writers], [v.role for v in viewers[:writers]]
        )
        observed.initial_codes = initial
        observed.attempts.extend(setup)
        observed.writer_students = list(initial)
        observed.batches = [tuple(b) for writer in batches for b in writer]
        observed.workers_before = server.worker_pids()
        tag = f"loadtest-{int(time.time())}"
        loops = [
            _write_loop(
                index,
                clients[index],
                batches=batches[index],
                sections=sections[index],
                tag=tag,
                pause=args.pause,
                stop=stop,
                until=until,
                attempts=observed.attempts,
                exchanges=observed.exchanges,
            )
            for index in range(writers)
        ]
        loops += [
            read_loop(
                clients[index],
                Behaviour(viewers[index].role, random.Random(args.seed * 1000 + index)),  # noqa: S311
                until=until,
                max_requests=100_000,
                pause=args.pause,
                exchanges=observed.exchanges,
                stop=stop,
            )
            for index in range(writers, len(viewers))
        ]
        loops.append(
            _probe_loop(
                server.base_url, start=start, stop=stop, until=until, probes=observed.probes
            )
        )

        async def outage() -> None:
            try:
                log(f"steady load for {args.before:.0f} s")
                await asyncio.sleep(args.before)
                timeline.stop_issued = time.monotonic() - start
                if isinstance(postgres, PrivateCluster) and args.fault == "freeze":
                    log(f"freezing {postgres.description}")
                    postgres.freeze()
                else:
                    log(f"stopping {postgres.description}")
                    await asyncio.to_thread(postgres.stop)
                if await asyncio.to_thread(postgres.accepting):
                    raise RuntimeError("PostgreSQL still accepts connections after stop")
                timeline.down = time.monotonic() - start
                log(f"PostgreSQL down; staying down {args.down:.0f} s")
                await asyncio.sleep(args.down)
                timeline.start_issued = time.monotonic() - start
                log("starting PostgreSQL")
                if not await asyncio.to_thread(ensure_up, postgres):
                    raise RuntimeError("PostgreSQL did not come back")
                timeline.up = time.monotonic() - start
                log(f"PostgreSQL accepting again; load continues {args.after:.0f} s")
                await asyncio.sleep(args.after)
            finally:
                stop.set()

        async with asyncio.timeout(until - time.monotonic()):
            await asyncio.gather(outage(), *loops)
        timeline.end = time.monotonic() - start
    finally:
        for client in clients:
            await client.close()
    observed.workers_after = server.worker_pids()
    observed.server_alive = server.running()
    return observed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.fault", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--postgres",
        choices=("private", "system"),
        default="private",
        help="stop a private cluster made for the run (default) or the machine's",
    )
    parser.add_argument(
        "--fault",
        choices=("stop", "freeze"),
        default="stop",
        help="stop PostgreSQL (default), or freeze it with SIGSTOP (private cluster only): "
        "a database that hangs instead of refusing",
    )
    parser.add_argument("--cluster", help="system: VERSION/NAME for pg_ctlcluster (15/main)")
    parser.add_argument(
        "--even-if-busy",
        action="store_true",
        help="system: stop it although other databases have sessions",
    )
    parser.add_argument("--before", type=float, default=15, help="load before the stop (15 s)")
    parser.add_argument("--down", type=float, default=10, help="how long it stays down (10 s)")
    parser.add_argument("--after", type=float, default=20, help="load after it is back (20 s)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument("--writers", type=int, default=4, help="writing clients (4)")
    parser.add_argument("--readers", type=int, default=4, help="reading clients (4)")
    parser.add_argument("--pause", type=float, default=0.1, help="think time per client (0.1 s)")
    parser.add_argument("--students", type=int, default=2000, help="demo size (2000)")
    parser.add_argument(
        "--fail-fast", type=float, default=2.0, help="bound on a failed request (2 s)"
    )
    parser.add_argument(
        "--recover-within",
        type=float,
        default=10.0,
        help="bound on recovery once PostgreSQL accepts again (10 s)",
    )
    parser.add_argument("--seed", type=int, default=6)
    return parser


async def run(args: argparse.Namespace, postgres: Postgres) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM unwinds like Ctrl-C: every finally below runs (server, database).
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    if isinstance(postgres, SystemCluster):
        others = await other_sessions(postgres.admin_url)
        if others and not args.even_if_busy:
            print(
                "Other databases have sessions that stopping PostgreSQL would cut: "
                f"{', '.join(others)}. Use the default private cluster, wait, or pass "
                "--even-if-busy.",
                file=sys.stderr,
            )
            return 2
    name = await create_database(postgres.admin_url, "ag_fault")
    workdir = Path(tempfile.mkdtemp(prefix="accessgraph-fault-"))
    log(f"{postgres.description}; database {name}; server log in {workdir}")
    url = database_url(postgres.admin_url, name)
    try:
        settings = configure_environment(url)
        demo = await asyncio.to_thread(load_demo, args.students)
        writer_roles = [("school_admin", "teacher")[i % 2] for i in range(args.writers)]
        roles = writer_roles + role_mix(args.readers)
        viewers = await create_viewers(settings, roles, seed=args.seed)
        server = Server(workers=args.workers, log_path=workdir / "server.log")
        server.start()
        try:
            await server.wait_ready()
            observed = await _observe(server, viewers, args.writers, args, postgres)
        finally:
            server.stop()
        verdict = Verdict()
        _header(verdict, args, postgres, demo.students, roles)
        judge_outage(observed, args, verdict)
        verdict.say("")
        verdict.say("Writes (checked with SQL after the run):")
        await judge_writes(url, observed, verdict)
        verdict.say("")
        verdict.say(server_log_summary(server.log_path))
    finally:
        if not await asyncio.to_thread(ensure_up, postgres):
            log("PostgreSQL is NOT accepting connections")
        await drop_database(postgres.admin_url, name)
        log(f"dropped {name}")
    if verdict.warnings:
        verdict.say("Warnings: " + "; ".join(verdict.warnings))
    verdict.say("PASS" if not verdict.failures else f"FAIL: {len(verdict.failures)} check(s)")
    print("\n".join(verdict.lines))
    # The server's log is worth reading only when something failed.
    if verdict.failures or verdict.warnings:
        log(f"server log kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if verdict.failures else 0


def _header(
    verdict: Verdict,
    args: argparse.Namespace,
    postgres: Postgres,
    students: int,
    roles: Sequence[str],
) -> None:
    say = verdict.say
    say(f"Fault run, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    say(
        f"Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; Python {platform.python_version()}"
    )
    say(f"Command: python -m loadtest.fault {' '.join(sys.argv[1:])}".rstrip())
    how = "frozen (SIGSTOP)" if args.fault == "freeze" else "stopped (fast shutdown)"
    say(f"PostgreSQL: {postgres.description}; {how}")
    say(
        f"Data: {students:,} students (accessgraph demo); server: accessgraph serve --workers {args.workers}"
    )
    say(
        f"Clients: {args.writers} writers ({', '.join(roles[: args.writers])}), "
        f"{args.readers} readers ({', '.join(roles[args.writers :])}); think time {args.pause:g} s"
    )
    say("")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.fault == "freeze" and args.postgres != "private":
        print("--fault freeze works on the private cluster only", file=sys.stderr)
        return 2
    postgres: Postgres = (
        PrivateCluster() if args.postgres == "private" else SystemCluster(args.cluster)
    )
    try:
        return asyncio.run(run(args, postgres))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted")
        return 130
    finally:
        # Whatever happened above: PostgreSQL is started and accepting
        # before this process exits.
        if ensure_up(postgres):
            log("PostgreSQL is accepting connections (pg_isready)")
        else:
            log("PostgreSQL is NOT accepting connections: start it by hand")
        postgres.close()


if __name__ == "__main__":
    sys.exit(main())
