"""A throwaway PostgreSQL server for the tests: its own cluster in a temporary folder, on
127.0.0.1 and a free port, with password authentication, removed afterwards.

The server binaries come from Debian's ``postgresql`` package (``.ci/run`` installs it where
``pg_ctl`` and ``initdb`` are missing); they are looked up on PATH and in
``/usr/lib/postgresql/*/bin``. PostgreSQL refuses to run as root, so under root the cluster
belongs to the ``postgres`` user that the package creates and is started through ``runuser``.
``find_problem()`` says why no server can be started here (the tests skip with that reason).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (newest version first)."""
    on_path = shutil.which("pg_ctl")
    candidates = [str(Path(on_path).resolve().parent)] if on_path else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                         reverse=True)
    for folder in candidates:
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _run_as() -> list[str]:
    """The prefix that runs a server command as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh",
                                                               "-c"]


def find_problem() -> str | None:
    """Why no server can be started here; None when one can."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install 'lossbench[postgres]')"
    if _binaries() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
                "/usr/lib/postgresql/*/bin; .ci/run installs Debian's postgresql package")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to own the cluster"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as server: server.url`` -> ``postgresql://bench:…@127.0.0.1:PORT/
    lossbench``; ``server.password`` is what a test checks never leaks."""

    user = "bench"
    database = "lossbench"

    def __init__(self) -> None:
        self.password = "pw-" + secrets.token_hex(8)
        self.port = _free_port()
        # under root, somewhere the postgres user can reach (not a 0700 home's temp folder)
        where = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.folder = Path(tempfile.mkdtemp(prefix="lossbench-pg-", dir=where))
        self.data = self.folder / "data"
        self.bin = _binaries()
        self.url = (f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/"
                    f"{self.database}")

    def _call(self, *command: str) -> None:
        prefix = _run_as()
        argv = [*prefix, shlex.join(command)] if prefix[:1] == ["su"] else [*prefix, *command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = (self.folder / "server.log")
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): "
                               f"{result.stderr[-2000:]}{result.stdout[-1000:]}\n{tail}")

    def start(self) -> PostgresServer:
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chmod(self.folder, 0o700)
            for path in (self.folder, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._call(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user,
                   f"--pwfile={password_file}", "--auth-host=scram-sha-256",
                   "--auth-local=scram-sha-256", "--encoding=UTF8", "--no-sync",
                   "--locale=C")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=100 -c shared_buffers=16MB")
        self._call(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                   "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user,
                                              password=self.password, dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {self.database}")
        connection.close()

    def query(self, sql: str, *args) -> list[tuple]:
        """Rows of ``sql`` run in the test database."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user,
                                      password=self.password, dbname=self.database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall()
        finally:
            connection.close()

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._call(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
