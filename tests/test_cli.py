"""The console script as a person runs it: a mistake of theirs or of the
environment gets one line on stderr and a documented exit code (README,
"Commands"), never a traceback.

Each test runs the installed ``accessgraph`` script in a subprocess, in an
empty working directory, with only the ACCESSGRAPH_* variables it sets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gql.cli.demo_files import write_demo_files

ACCESSGRAPH = str(Path(sys.executable).parent / "accessgraph")
URL_FORMS = "sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
SECRET = "s" * 40


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def accessgraph(cwd: Path, *args: str, **environment: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSGRAPH_")}
    env |= {f"ACCESSGRAPH_{name.upper()}": value for name, value in environment.items()}
    done = subprocess.run(
        [ACCESSGRAPH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def refused(ran: Ran) -> tuple[int, str]:
    """The exit code and the one line on stderr (and nothing else there)."""
    assert "Traceback" not in ran.stderr, ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    return ran.code, lines[0]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database with no one in it."""
    folder = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{folder / 'cli.sqlite3'}"
    ran = accessgraph(folder, "db", "upgrade", database_url=url)
    assert (ran.code, ran.stdout) == (0, "database is up to date\n"), ran.stderr
    return url


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "",
            "accessgraph: ACCESSGRAPH_DATABASE_URL is empty; set it to "
            f"{URL_FORMS} (or unset it for sqlite:///accessgraph.sqlite3).",
        ),
        (
            "not a url",
            "accessgraph: ACCESSGRAPH_DATABASE_URL is not a database URL ('not a url'); "
            f"use {URL_FORMS}.",
        ),
        (
            "mysql://root@127.0.0.1/district",
            "accessgraph: ACCESSGRAPH_DATABASE_URL names an unsupported database ('mysql'); "
            f"use {URL_FORMS}.",
        ),
    ],
)
def test_a_database_url_that_cannot_work_is_a_usage_error(
    tmp_path: Path, url: str, line: str
) -> None:
    ran = accessgraph(tmp_path, "token", "t_art@north.example.edu", database_url=url)

    assert refused(ran) == (2, line)


def test_a_postgresql_that_refuses_connections_is_named_without_its_password(
    tmp_path: Path,
) -> None:
    ran = accessgraph(
        tmp_path, "db", "upgrade", database_url="postgresql://postgres:hunter2@127.0.0.1:1/x"
    )

    assert refused(ran) == (
        1,
        "accessgraph: cannot use the database at postgresql://postgres:***@127.0.0.1:1/x "
        "([Errno 111] Connect call failed ('127.0.0.1', 1)); check ACCESSGRAPH_DATABASE_URL "
        "and that the database server is running.",
    )


def test_a_database_without_tables_says_to_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"

    ran = accessgraph(tmp_path, "token", "t_art@north.example.edu", database_url=url)

    assert refused(ran) == (
        1,
        f"accessgraph: the database at {url} has no tables yet; "
        "run `accessgraph db upgrade` first.",
    )


def test_invalid_settings_are_a_usage_error(tmp_path: Path) -> None:
    ran = accessgraph(tmp_path, "token", "t_art@north.example.edu", env="prod")

    assert refused(ran) == (
        2,
        "accessgraph: invalid configuration: ACCESSGRAPH_SECRET_KEY must be set to a random "
        "value of at least 32 characters in prod; fix the ACCESSGRAPH_* environment variables.",
    )


def test_token_in_prod_is_a_usage_error(tmp_path: Path, migrated: str) -> None:
    ran = accessgraph(
        tmp_path,
        "token",
        "t_art@north.example.edu",
        env="prod",
        secret_key=SECRET,
        database_url=migrated,
    )

    assert refused(ran) == (
        2,
        "accessgraph: `accessgraph token` works only in dev mode (ACCESSGRAPH_ENV=dev); "
        "in prod, people sign in.",
    )


def test_token_and_grant_for_an_unknown_email_fail(tmp_path: Path, migrated: str) -> None:
    token = accessgraph(tmp_path, "token", "nobody@north.example.edu", database_url=migrated)
    grant = accessgraph(
        tmp_path,
        "grant",
        "nobody@north.example.edu",
        "TEACHER",
        "--school",
        "school_a",
        database_url=migrated,
    )

    assert refused(token) == (
        1,
        "accessgraph: no account or staff record has the email 'nobody@north.example.edu'; "
        "check the address (staff come from the roster: accessgraph sync oneroster DIR).",
    )
    assert refused(grant) == (
        1,
        "accessgraph: no account has the email 'nobody@north.example.edu'; the person signs "
        "in once first (staff in dev: accessgraph token EMAIL makes their account).",
    )


def test_sync_of_a_missing_directory_or_a_plain_file_is_refused(
    tmp_path: Path, migrated: str
) -> None:
    missing = tmp_path / "export"
    a_file = tmp_path / "users.csv"
    a_file.write_text("sourcedId\n")

    gone = accessgraph(tmp_path, "sync", "oneroster", str(missing), database_url=migrated)
    file = accessgraph(tmp_path, "sync", "oneroster", str(a_file), database_url=migrated)

    hint = "give the directory (or zip archive) of the OneRoster CSV export."
    assert refused(gone) == (1, f"accessgraph: {missing}: no such directory or zip file; {hint}")
    assert refused(file) == (
        1,
        f"accessgraph: {a_file}: not a directory or a zip archive of OneRoster CSV files; {hint}",
    )


def test_sync_of_a_file_that_is_not_csv_text_names_it_and_writes_nothing(
    tmp_path: Path, migrated: str
) -> None:
    export = tmp_path / "export"
    write_demo_files(export, students=20)
    # users.csv stays whole: its people must not be imported either.
    (export / "classes.csv").write_bytes(b"sourcedId,status\n\xff\xfe\x00\x01 a spreadsheet\n")

    ran = accessgraph(tmp_path, "sync", "oneroster", str(export), database_url=migrated)
    after = accessgraph(tmp_path, "token", "admin@riverside.example.edu", database_url=migrated)

    # The import's report (README, "Importing from the SIS"): the reason
    # first, then the rows that named the unreadable file's records.
    assert ran.code == 1
    assert "Traceback" not in ran.stderr
    assert ran.stderr.splitlines()[:2] == [
        "Refused: nothing was written. 1 reason:",
        "  classes.csv: not UTF-8 text: save the file as CSV UTF-8",
    ]
    assert refused(after) == (
        1,
        "accessgraph: no account or staff record has the email 'admin@riverside.example.edu'; "
        "check the address (staff come from the roster: accessgraph sync oneroster DIR).",
    )


def test_serve_runs_the_app_with_its_lifespan_state_under_uvicorn(
    tmp_path: Path, migrated: str
) -> None:
    """The endpoints read the state the lifespan yields (gql.http.state);
    the other tests drive that lifespan themselves (tests/lifespan.py), this
    one lets uvicorn do it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSGRAPH_")}
    env |= {"ACCESSGRAPH_DATABASE_URL": migrated, "ACCESSGRAPH_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [ACCESSGRAPH, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        ready = httpx.get(f"{base}/readyz")
        anonymous = httpx.post(f"{base}/graphql", json={"query": "{ viewer { isAuthenticated } }"})
        bad_link = httpx.get(f"{base}/access-codes/1/login-instructions.pdf")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)

    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "reachable"})
    assert anonymous.json() == {"data": {"viewer": {"isAuthenticated": False}}}
    assert (bad_link.status_code, bad_link.json()["errors"][0]["extensions"]) == (
        403,
        {"code": "INVALID_LINK"},
    )
    assert "Traceback" not in stderr
