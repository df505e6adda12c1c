"""A real PostgreSQL server for tests: initdb into a temporary directory, a free port on 127.0.0.1 and a unix socket
in that directory, torn down afterwards. Debian's `postgresql` package provides the binaries (`.ci/run` installs it
when missing); tests skip, saying why, only when they are missing.

initdb and postgres refuse to run as root (CI and this machine run the tests as root): then the server runs as an
unprivileged user, `postgres` (which Debian's package creates) or else `capwatch-pg` (created here with useradd),
through `runuser`, and the temporary directory is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

SUPERUSER = "capwatch"  # the database superuser initdb creates; the server trusts local connections


def find_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: $CAPWATCH_PG_BINDIR, else Debian's newest
    /usr/lib/postgresql/N/bin, else the PATH."""
    candidates = []
    if os.environ.get("CAPWATCH_PG_BINDIR"):
        candidates.append(Path(os.environ["CAPWATCH_PG_BINDIR"]))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                      if Path(p).parent.name.isdigit() else 0, reverse=True)
    candidates.extend(Path(p) for p in versions)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def require_bindir() -> Path:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (initdb, pg_ctl, postgres): install Debian's `postgresql` "
                    "package, or set CAPWATCH_PG_BINDIR")
    return bindir


def _server_user() -> str | None:
    """The unprivileged user that runs the server when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "capwatch-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "capwatch-pg"],
                   check=True, capture_output=True)
    return "capwatch-pg"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One server: `start()`, `stop()`, `restart()`, `url(database)`; `close()` stops it and removes its files."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or require_bindir()
        self.user = _server_user()
        # Under /tmp when the server runs as another user: it could not enter a private $TMPDIR.
        self.root = Path(tempfile.mkdtemp(prefix="capwatch-pg-", dir="/tmp" if self.user else None))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.socket_dir.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.socket_dir}'\n"
                # A test server: no wait for the disk (fsync off: a crash of the server, not of the machine, loses
                # nothing), small memory. synchronous_commit stays on, as in production: with it off a server
                # killed in a crash loses its last commits, which the history's writer was told were made.
                "fsync = off\nfull_page_writes = off\nshared_buffers = 64MB\n"
                "max_connections = 50\nlogging_collector = off\n"
            )

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bindir / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr or result.stdout}")
        return result

    def start(self) -> "PostgresServer":
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients disconnected, clean shutdown) or `immediate` (as a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run([str(self.bindir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                 "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------- fixtures
# Registered for every test by tests/conftest.py (pytest_plugins).


@pytest.fixture(scope="session")
def postgres_server():
    """One server per test session (per xdist worker): started on first use, removed at the end."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server, dropped after the test: its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_own_server():
    """A server of the test's own, for tests that stop or restart it."""
    with PostgresServer() as server:
        yield server
