"""The PostgreSQL the fault run stops and starts: a private throwaway
cluster (default) or the machine's own, and the guarantee that it is
accepting connections again before the run ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import asyncpg

from loadtest.harness import HOST, free_port, log
from loadtest.procfs import child_pids


class Postgres(Protocol):
    """A PostgreSQL server this run may stop and start."""

    admin_url: str
    description: str

    def stop(self) -> None: ...

    def start(self) -> None: ...

    def accepting(self) -> bool: ...

    def thaw(self) -> None: ...

    def close(self) -> None: ...


def _run(command: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  fixed PostgreSQL tools, no shell
        list(command), capture_output=True, text=True, timeout=timeout, check=False
    )


def _pg_isready(port: int) -> bool:
    return _run(["pg_isready", "-q", "-h", HOST, "-p", str(port), "-t", "1"]).returncode == 0


class SystemCluster:
    """The machine's cluster (Debian's pg_ctlcluster), at 127.0.0.1:5432."""

    def __init__(self, cluster: str | None) -> None:
        if cluster is None:
            versions = sorted(os.listdir("/etc/postgresql"))
            if len(versions) != 1:
                raise RuntimeError(f"several PostgreSQL versions {versions}: pass --cluster V/NAME")
            cluster = f"{versions[0]}/main"
        self.version, self.name = cluster.split("/")
        self.port = 5432
        self.admin_url = f"postgresql://postgres@{HOST}:{self.port}/postgres"
        self.description = f"the system cluster {cluster} on {HOST}:{self.port} (pg_ctlcluster)"

    def _ctl(self, action: str) -> None:
        result = _run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action]
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctlcluster {action} failed: {result.stderr.strip()}")

    def stop(self) -> None:
        self._ctl("stop")  # fast mode: sessions are cut, as in a crash of the primary

    def start(self) -> None:
        self._ctl("start")

    def accepting(self) -> bool:
        return _pg_isready(self.port)

    def thaw(self) -> None:
        pass  # never frozen: --fault freeze is for the private cluster only

    def close(self) -> None:
        pass  # the machine's cluster stays; ensure_up() has started it


class PrivateCluster:
    """A throwaway cluster: initdb into a temporary directory, served on a
    free loopback port, deleted by close(). Run as the ``postgres`` user
    when this script runs as root (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        # Debian keeps initdb off PATH, under the version's bin directory.
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)
        on_path = shutil.which("initdb")
        if on_path is None and not bindirs:
            raise RuntimeError("initdb not found: install PostgreSQL or use --postgres system")
        self.bindir = Path(on_path).parent if on_path else Path(bindirs[-1])
        self.directory = Path(tempfile.mkdtemp(prefix="accessgraph-fault-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@{HOST}:{self.port}/postgres"
        self.description = f"a private cluster on {HOST}:{self.port} ({self.data})"
        self._as_postgres: list[str] = []
        self._frozen: list[int] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        result = _run(
            [
                *self._as_postgres,
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",  # a throwaway: no need to wait for the disk here
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
        self.start()

    def _pg_ctl(self, *arguments: str) -> None:
        options = (
            f"-c listen_addresses={HOST} -c port={self.port} "
            f"-c unix_socket_directories={self.directory}"
        )
        result = _run(
            [
                *self._as_postgres,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "postgres.log"),
                "-o",
                options,
                "-w",
                *arguments,
            ]
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {arguments[-1]} failed: {result.stderr.strip()}")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("start")

    def accepting(self) -> bool:
        return _pg_isready(self.port)

    def freeze(self) -> None:
        """SIGSTOP the postmaster and its backends: the port still accepts
        TCP connections (the kernel's backlog) and open connections stay
        up, but nothing answers, as when storage or the host stalls."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        self._frozen = [postmaster, *child_pids(postmaster)]
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def close(self) -> None:
        self.thaw()
        if self.accepting():
            with contextlib.suppress(RuntimeError):
                self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def ensure_up(postgres: Postgres, *, within: float = 60) -> bool:
    """Start PostgreSQL if it is not accepting connections and wait until
    it is (``pg_isready``). Called on every way out of the run."""
    deadline = time.monotonic() + within
    postgres.thaw()
    started = False
    while time.monotonic() < deadline:
        if postgres.accepting():
            return True
        if not started:
            started = True
            try:
                postgres.start()
            except RuntimeError as exc:
                log(f"starting PostgreSQL failed, retrying: {exc}")
                started = False
        time.sleep(0.5)
    return postgres.accepting()


async def other_sessions(admin_url: str) -> list[str]:
    """Client sessions of other databases: people a system stop would cut."""
    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT datname, count(*) AS n FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND datname IS NOT NULL GROUP BY datname ORDER BY datname"
        )
    finally:
        await connection.close()
    return [f"{row['datname']} ({row['n']})" for row in rows]
