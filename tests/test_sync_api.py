"""``accessgraph sync oneroster-api`` against a OneRoster 1.2 REST provider
served on loopback (tests/oneroster_provider.py: OAuth 2.0 client
credentials, limit/offset paging, dateLastModified filters), on SQLite and
PostgreSQL. The provider serves a CSV fixture export, so a pull is compared
with the CSV import of the same export."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.errors import CliError
from gql.cli.sync import run_sync
from gql.cli.sync_api import read_secret, run_sync_api
from gql.settings import Settings
from resolvers import tables
from tests.databases import Backend
from tests.oneroster_provider import CLIENT_ID, CLIENT_SECRET, Provider, now_stamp, running_provider

EXPORT = Path(__file__).parent / "fixtures" / "oneroster" / "rest-1.2"

SECTIONS = tables.Section.__table__
STAFF = tables.StaffMember.__table__
STUDENTS = tables.Student.__table__
GUARDIANS = tables.Guardian.__table__
ENROLMENTS = tables.SectionEnrolment.__table__
STATES = tables.SisSyncState.__table__


def counts(
    added: int = 0, changed: int = 0, deactivated: int = 0, removed: int = 0
) -> dict[str, int]:
    return {"added": added, "changed": changed, "deactivated": deactivated, "removed": removed}


async def pull(
    database_url: str,
    provider: Provider,
    capsys: pytest.CaptureFixture[str],
    *,
    secret: str = CLIENT_SECRET,
    full: bool = False,
    scope: str | None = None,
    strict: bool = False,
) -> tuple[int, dict[str, Any]]:
    """``sync oneroster-api --json`` with two records a page: its exit code and output."""
    code = await run_sync_api(
        Settings(database_url=database_url),
        base_url=provider.base_url,
        client_id=CLIENT_ID,
        client_secret=secret,
        token_url=None,
        full=full,
        scope=scope,
        strict=strict,
        dry_run=False,
        as_json=True,
        page_size=2,
        retry_backoff=0.01,
    )
    return code, json.loads(capsys.readouterr().out)


async def csv_import(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    code = await run_sync(
        Settings(database_url=database_url), str(EXPORT), dry_run=False, as_json=True
    )
    return code, json.loads(capsys.readouterr().out)


async def fetch(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


def students_query() -> sa.Select[Any]:
    return sa.select(
        STUDENTS.c.sourced_id, STUDENTS.c.given_name, STUDENTS.c.status, STUDENTS.c.date_of_birth
    ).order_by(STUDENTS.c.sourced_id)


def enrolments_query() -> sa.Select[Any]:
    return (
        sa.select(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id, ENROLMENTS.c.active)
        .join(SECTIONS, SECTIONS.c.id == ENROLMENTS.c.section_id)
        .join(STUDENTS, STUDENTS.c.id == ENROLMENTS.c.student_id)
        .order_by(SECTIONS.c.sourced_id, STUDENTS.c.sourced_id)
    )


def without_timing(printed: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in printed.items() if key in _OUTCOME}


_OUTCOME = ("ok", "outcome", "exit_code", "changes", "total", "problems", "refused", "warnings")

STUDENTS_OF_EXPORT = [
    ("s-lee-1", "Mia", "ENROLLED", dt.date(2017, 3, 14)),
    ("s-lee-2", "Noah", "ENROLLED", dt.date(2010, 11, 2)),
    ("s-ms", "Ava", "ENROLLED", dt.date(2013, 6, 30)),
]


# ---------------------------------------------------------------- a full pull


async def test_a_full_pull_imports_what_the_csv_import_of_the_same_export_does(
    backend: Backend, database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    from_csv = await backend.fresh()
    try:
        csv_code, csv_printed = await csv_import(from_csv, capsys)
        async with running_provider(EXPORT) as provider:
            code, printed = await pull(database_url, provider, capsys)
    finally:
        await backend.drop(from_csv)

    assert (code, csv_code) == (0, 0)
    assert without_timing(printed) == without_timing(csv_printed)
    assert printed["changes"]["students"] == counts(added=3)
    assert printed["changes"]["guardians"] == counts(added=2)  # the teacher, in both districts
    assert printed["since"] is None
    assert printed["pulled"] == {
        "orgs": 5,
        "academicSessions": 1,
        "classes": 1,
        "users": 5,
        "enrollments": 2,
        "demographics": 3,
    }
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT
    # The same rows: the CSV import of the export over the pull changes nothing.
    again_code, again = await csv_import(database_url, capsys)
    assert (again_code, again["total"], again["problems"]) == (0, counts(), [])
    # Paged by X-Total-Count: three pages of users, the last one short; two
    # enrolments fill one page and no empty page is asked for.
    assert [(q["offset"], q["limit"]) for q in provider.asked("users")] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "2"),
    ]
    assert [q["offset"] for q in provider.asked("enrollments")] == ["0"]
    assert not any("filter" in query for _, query, _ in provider.requests)
    assert await fetch(engine, sa.select(STATES.c.source)) == [(provider.base_url,)]


@pytest.mark.parametrize(
    ("paging", "max_limit", "user_offsets", "enrolment_offsets"),
    [
        # Link: rel="next" is followed until a page has none.
        ("link", None, ["0", "2", "4"], ["0"]),
        # No header: a page shorter than those before ends it; a full last
        # page, or a short first one, needs one more, empty.
        ("none", None, ["0", "2", "4"], ["0", "2"]),
        # A provider answering one record a page, whatever is asked for.
        ("none", 1, ["0", "1", "2", "3", "4", "5"], ["0", "1", "2"]),
    ],
)
async def test_pages_are_followed_by_link_header_or_until_a_short_page(
    database_url: str,
    engine: AsyncEngine,
    capsys: pytest.CaptureFixture[str],
    paging: str,
    max_limit: int | None,
    user_offsets: list[str],
    enrolment_offsets: list[str],
) -> None:
    async with running_provider(EXPORT, paging=paging, max_limit=max_limit) as provider:
        code, printed = await pull(database_url, provider, capsys)

    assert (code, printed["problems"]) == (0, [])
    assert [q["offset"] for q in provider.asked("users")] == user_offsets
    assert [q["offset"] for q in provider.asked("enrollments")] == enrolment_offsets
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT


# ---------------------------------------------------------------- tokens


async def test_a_token_that_expires_mid_pull_is_fetched_again_and_the_pull_completes(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    # authlib renews a token 30 s before it expires: this one is good for a
    # second, and the pull takes about three.
    async with running_provider(EXPORT, token_seconds=31, delay=0.2) as provider:
        code, printed = await pull(database_url, provider, capsys)

    assert (code, printed["problems"]) == (0, [])
    assert len(provider.asked("token")) >= 2
    assert 401 not in [status for _, _, status in provider.requests]
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT


async def test_a_token_the_provider_revokes_mid_pull_is_fetched_again_once(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT, revoke_after=4) as provider:
        code, printed = await pull(database_url, provider, capsys)

    assert (code, printed["problems"]) == (0, [])
    assert [status for _, _, status in provider.requests].count(401) == 1
    assert [status for _, _, status in provider.requests if status != 200] == [401]
    assert len(provider.asked("token")) == 2
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT


async def test_a_wrong_client_secret_is_one_line_and_nothing_is_written(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT) as provider:
        with pytest.raises(CliError) as refused:
            await pull(database_url, provider, capsys, secret="wrong")

    # gql.cli.main prints it as one line on stderr and exits 1.
    assert refused.value.exit_code == 1
    assert refused.value.message == (
        f"{provider.base_url}/token: the provider refused the client credentials "
        "(invalid_client); check --client-id and the secret in --client-secret-file; "
        "nothing was written."
    )
    assert [name for name, _, _ in provider.requests] == ["token"]
    assert await fetch(engine, students_query()) == []
    assert await fetch(engine, sa.select(STATES.c.source)) == []


async def test_the_scope_a_provider_wants_is_asked_for_with_every_token(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    scope = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
    async with running_provider(EXPORT, required_scope=scope, revoke_after=3) as provider:
        with pytest.raises(CliError) as refused:
            await pull(database_url, provider, capsys)
        code, printed = await pull(database_url, provider, capsys, scope=scope)

    assert refused.value.message == (
        f"{provider.base_url}/token: the provider refused the client credentials "
        "(invalid_scope); check --scope against the scopes the provider grants this client; "
        "nothing was written."
    )
    assert (code, printed["problems"]) == (0, [])
    # The first token, and the one after the provider revoked it.
    assert [query.get("scope") for query in provider.asked("token")] == [None, scope, scope]
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT


def test_the_client_secret_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("  s3cret-value\n")
    assert read_secret(str(secret)) == "s3cret-value"
    with pytest.raises(CliError) as missing:
        read_secret(str(tmp_path / "none"))
    assert missing.value.message == (
        f"{tmp_path / 'none'}: No such file or directory; give the file holding the client secret."
    )


# ---------------------------------------------------------------- a failing provider


async def test_a_5xx_mid_pull_aborts_after_the_retries_and_writes_nothing(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT, failing={("users", 2): None}) as provider:
        with pytest.raises(CliError) as failed:
            await pull(database_url, provider, capsys)

    assert failed.value.exit_code == 1
    assert failed.value.message == (
        f"{provider.base_url}/ims/oneroster/rostering/v1p2/users: HTTP 503 upstream "
        "unavailable (4 attempts); nothing was written."
    )
    # The first page was read; the second was tried four times; nothing after it.
    assert provider.statuses("users") == [200, 503, 503, 503, 503]
    assert provider.asked("enrollments") == []
    assert await fetch(engine, students_query()) == []
    assert await fetch(engine, sa.select(STATES.c.source)) == []


async def test_a_5xx_that_passes_is_retried_and_the_pull_completes(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT, failing={("enrollments", 0): 2}) as provider:
        code, printed = await pull(database_url, provider, capsys)

    assert (code, printed["problems"]) == (0, [])
    assert provider.statuses("enrollments") == [503, 503, 200]
    assert await fetch(engine, enrolments_query()) == [("oak-ms-sci", "s-ms", True)]


# ---------------------------------------------------------------- deltas


async def test_a_later_pull_asks_for_changes_only_and_applies_them_as_a_delta(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT) as provider:
        await pull(database_url, provider, capsys)
        guardians = await fetch(engine, sa.select(GUARDIANS.c.sourced_id, GUARDIANS.c.active))
        staff = await fetch(engine, sa.select(STAFF.c.sourced_id, STAFF.c.active))
        changed = now_stamp()
        data = provider.data
        # An enrolment ends, a student is renamed, another's date of birth
        # changes alone, and a student joins with an enrolment.
        enrolment = next(e for e in data["enrollments"] if e["sourcedId"] == "e2")
        enrolment.update(status="tobedeleted", dateLastModified=changed)
        mia = next(u for u in data["users"] if u["sourcedId"] == "s-lee-1")
        mia.update(givenName="Mila", dateLastModified=changed)
        noah = next(d for d in data["demographics"] if d["sourcedId"] == "s-lee-2")
        noah.update(birthDate="2010-11-03", dateLastModified=changed)
        new = {**next(u for u in data["users"] if u["sourcedId"] == "s-ms")}
        new.update(sourcedId="s-new", givenName="Ola", dateLastModified=changed)
        data["users"].append(new)
        data["enrollments"].append(
            {**enrolment, "sourcedId": "e3", "status": "active", "user": {"sourcedId": "s-new"}}
        )
        provider.requests.clear()

        code, printed = await pull(database_url, provider, capsys)

    assert (code, printed["problems"]) == (0, [])
    since = dt.datetime.fromisoformat(printed["since"])
    stamp = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    # Every collection, every page, asks only for what changed.
    assert {name for name, _, _ in provider.requests} == {
        "token",
        "orgs",
        "academicSessions",
        "classes",
        "users",
        "enrollments",
        "demographics",
        "user",
    }
    assert {
        q.get("filter") for name, q, _ in provider.requests if name not in {"token", "user"}
    } == {f"dateLastModified>'{stamp}'"}
    # Noah's user record did not change: it is read alone, for his demographics.
    assert provider.asked("user") == [{"sourcedId": "s-lee-2"}]
    assert printed["pulled"]["users"] == 3
    assert {kind: c for kind, c in printed["changes"].items() if c != counts()} == {
        "students": counts(added=1, changed=2),
        "enrolments": counts(added=1, deactivated=1),
    }
    assert await fetch(engine, students_query()) == [
        ("s-lee-1", "Mila", "ENROLLED", dt.date(2017, 3, 14)),
        ("s-lee-2", "Noah", "ENROLLED", dt.date(2010, 11, 3)),
        ("s-ms", "Ava", "ENROLLED", dt.date(2013, 6, 30)),
        ("s-new", "Ola", "ENROLLED", None),  # no demographics record
    ]
    assert await fetch(engine, enrolments_query()) == [
        ("oak-ms-sci", "s-ms", False),
        ("oak-ms-sci", "s-new", True),
    ]
    # What the delta did not carry is untouched: nothing is deactivated for
    # being absent.
    assert await fetch(engine, sa.select(GUARDIANS.c.sourced_id, GUARDIANS.c.active)) == guardians
    assert await fetch(engine, sa.select(STAFF.c.sourced_id, STAFF.c.active)) == staff


async def test_a_failed_delta_writes_nothing_and_the_next_pull_asks_from_the_same_time(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT) as provider:
        await pull(database_url, provider, capsys)
        before = await fetch(engine, sa.select(STATES.c.source, STATES.c.last_success_at))
        enrolment = next(e for e in provider.data["enrollments"] if e["sourcedId"] == "e2")
        enrolment.update(status="tobedeleted", dateLastModified=now_stamp())
        provider.failing[("enrollments", 0)] = None
        with pytest.raises(CliError):
            await pull(database_url, provider, capsys)
        assert await fetch(engine, enrolments_query()) == [("oak-ms-sci", "s-ms", True)]
        assert await fetch(engine, sa.select(STATES.c.source, STATES.c.last_success_at)) == before

        provider.failing.clear()
        code, printed = await pull(database_url, provider, capsys)

    assert (code, printed["changes"]["enrolments"]) == (0, counts(deactivated=1))
    assert await fetch(engine, enrolments_query()) == [("oak-ms-sci", "s-ms", False)]


async def test_skipped_rows_are_outcomes_as_for_csv_and_the_next_pull_asks_for_them_again(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT) as provider:
        ava = next(u for u in provider.data["users"] if u["sourcedId"] == "s-ms")
        ava["roles"][0]["role"] = "wizard"
        strict_code, strict = await pull(database_url, provider, capsys, strict=True)
        code, printed = await pull(database_url, provider, capsys)
        # Written with problems: not a successful pull, so the next one is
        # a full one again, and reads Ava once her role is fixed.
        ava["roles"][0]["role"] = "student"
        provider.requests.clear()
        fixed_code, fixed = await pull(database_url, provider, capsys)

    problem = {
        "file": "roles.csv",
        "line": 8,  # the roles of the users before her, one row each
        "sourcedId": "s-ms",
        "reason": "unknown role 'wizard'",
    }
    assert (strict_code, strict["outcome"], strict["problems"]) == (1, "refused", [problem])
    assert (code, printed["outcome"], printed["problems"]) == (
        3,
        "written_with_problems",
        [problem],
    )
    assert (fixed_code, fixed["since"], fixed["changes"]["students"]) == (0, None, counts(added=1))
    assert not any("filter" in query for _, query, _ in provider.requests)
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT
    assert await fetch(engine, sa.select(STATES.c.source)) == [(provider.base_url,)]


async def test_without_demographics_on_offer_dates_of_birth_stay_as_stored(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT) as provider:
        await pull(database_url, provider, capsys)
        provider.offers_demographics = False
        code, printed = await pull(database_url, provider, capsys, full=True)

    assert (code, printed["total"], printed["not_offered"]) == (0, counts(), ["demographics"])
    assert await fetch(engine, students_query()) == STUDENTS_OF_EXPORT


async def test_a_dry_run_writes_nothing_and_a_later_pull_is_still_the_first(
    database_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_provider(EXPORT) as provider:
        code = await run_sync_api(
            Settings(database_url=database_url),
            base_url=provider.base_url + "/",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_url=None,
            full=False,
            dry_run=True,
            as_json=True,
        )
        printed = json.loads(capsys.readouterr().out)

    assert (code, printed["dry_run"], printed["changes"]["students"]) == (0, True, counts(added=3))
    assert await fetch(engine, students_query()) == []
    assert await fetch(engine, sa.select(STATES.c.source)) == []


async def test_the_command_line_reads_the_secret_file_and_says_a_refusal_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not-the-secret\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSGRAPH_")}
    env["ACCESSGRAPH_DATABASE_URL"] = database_url
    async with running_provider(EXPORT) as provider:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "accessgraph"),
            *("sync", "oneroster-api", "--base-url", provider.base_url),
            *("--client-id", CLIENT_ID, "--client-secret-file", str(secret)),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()

    assert (process.returncode, stdout) == (1, b"")
    assert stderr.decode().splitlines() == [
        f"accessgraph: {provider.base_url}/token: the provider refused the client credentials "
        "(invalid_client); check --client-id and the secret in --client-secret-file; "
        "nothing was written."
    ]
