"""``pserve`` processes for a load run: an INI of their own, a free loopback
port, waited for until /healthz answers, stopped by PID (SIGTERM, then SIGKILL)
whatever happened; and what their logs and memory say afterwards."""

from __future__ import annotations

import configparser
import contextlib
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessapp.testing.databases import ROOT
from sessapp.testing.load.constants import LOOPBACK, STARTUP_TIMEOUT, STOP_TIMEOUT

RUN_SECRET = secrets.token_urlsafe(48)  # sessapp.secret shared by this run's processes

BIN = Path(sys.executable).parent
TESTING_INI = ROOT / "testing.ini"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int | None:
    """Resident memory of a live process, from /proc/<pid>/status (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def load_settings(threads: int) -> dict[str, str]:
    """The app settings of a load run: throttles far above anything the run
    does (every browser comes from 127.0.0.1), and a pool per process sized to
    waitress's threads plus headroom, as the README advises."""
    return {
        "auth.throttle.max_failures": "100000",
        "auth.throttle.ip_max_failures": "100000",
        "sqlalchemy.pool_size": str(threads + 2),
        "sqlalchemy.max_overflow": "4",
        "sqlalchemy.pool_timeout": "20",
    }


@dataclass
class AppServer:
    """One ``pserve`` process. Stopped by its PID: SIGTERM, then SIGKILL."""

    name: str
    port: int
    process: subprocess.Popen
    ini: Path
    log_path: Path
    rss_start_kib: int | None = None
    rss_end_kib: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int | None:
        return rss_kib(self.pid) if self.alive() else None

    def kill(self) -> None:
        """SIGKILL, as a crash would (the fault tests)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)


def write_ini(path: Path, db_url: str, port: int, *, threads: int,
              app: dict[str, str] | None = None) -> Path:
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # keep keys' case
    parser.read(TESTING_INI)
    for key, value in {"sqlalchemy.url": db_url, **load_settings(threads),
                       **(app or {})}.items():
        parser.set("app:main", key, value)
    server = {
        "listen": f"{LOOPBACK}:{port}",
        "threads": str(threads),
        # More keep-alive connections than browsers, so none waits to be accepted.
        "connection_limit": "1000",
    }
    for key, value in server.items():
        parser.set("server:main", key, value)
    parser.set("alembic", "script_location", str(ROOT / "migrations"))
    # One line per request would be the bulk of the log; warnings (retries of
    # transient database errors among them) are what a run wants to count.
    parser.set("logger_root", "level", "WARN")
    parser.set("logger_sessapp", "level", "WARN")
    with path.open("w") as handle:
        parser.write(handle)
    return path


def start_app(workdir: Path, db_url: str, *, name: str = "app", threads: int = 8,
              app: dict[str, str] | None = None) -> AppServer:
    """Start ``pserve`` on a free loopback port and wait until /healthz answers."""
    port = free_port()
    ini = write_ini(workdir / f"{name}-{port}.ini", db_url, port, threads=threads, app=app)
    log_path = workdir / f"{name}-{port}.log"
    with log_path.open("wb") as handle:
        process = subprocess.Popen(  # noqa: S603 - our own pserve and INI
            [str(BIN / "pserve"), str(ini)], stdout=handle, stderr=subprocess.STDOUT,
            # One signing key for every process, as a deployment has: a browser
            # that fails over keeps its anonymous CSRF cookie valid.
            env={**os.environ, "SESSAPP_DATABASE_URL": db_url,
                 "SESSAPP_SECRET": RUN_SECRET}, cwd=str(workdir),
        )
    server = AppServer(name=name, port=port, process=process, ini=ini, log_path=log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(f"pserve exited with {process.returncode}:\n{server.log()}")
            try:
                connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    server.rss_start_kib = server.rss_kib()
                    return server
                connection.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pserve did not answer within {STARTUP_TIMEOUT}s:\n{server.log()}")
    except BaseException:
        server.stop()
        raise


@contextlib.contextmanager
def app_servers(workdir: Path, db_url: str, count: int,
                **kwargs: Any) -> Iterator[list[AppServer]]:
    """``count`` app processes on one database, all stopped on the way out."""
    servers: list[AppServer] = []
    try:
        for number in range(count):
            servers.append(start_app(workdir, db_url, name=f"app{number}", **kwargs))
        yield servers
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                if server.alive():
                    server.rss_end_kib = server.rss_end_kib or server.rss_kib()
            server.stop()


_LOG_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\dT", re.M)


def log_records(server: AppServer) -> list[str]:
    """The app's log split into records (a record may span several lines).

    A process that has logged nothing yet has an empty log, and no records."""
    text = server.log()
    starts = [match.start() for match in _LOG_RECORD_START.finditer(text)]
    ends = [*starts[1:], len(text)] if starts else []
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def transient_retries(servers: list[AppServer]) -> Counter[str]:
    """How many transient database errors of each kind the app logged (each one
    was handed to pyramid_retry; only an exhausted one reaches the user, as a 503)."""
    kinds: Counter[str] = Counter()
    for server in servers:
        for record in log_records(server):
            if "transient database error" not in record:
                continue
            lowered = record.lower()
            if "deadlock" in lowered:
                kinds["deadlock"] += 1
            elif "could not serialize" in lowered:
                kinds["serialization failure"] += 1
            elif "database is locked" in lowered:
                kinds["database is locked"] += 1
            elif "sessionconflict" in lowered or "changed or ended concurrently" in lowered:
                kinds["session version conflict"] += 1
            else:
                kinds["other"] += 1
    return kinds
