"""Run sessapp under real ``pserve`` processes on free loopback ports.

Each server gets an INI written next to the tests' temporary files (copied from
one of the repo's INI files, with the listen address, database URL and any
setting changed), is waited for until it answers, and is stopped by its PID.
"""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 30.0
# Processes sharing a database share the signing key too, as a deployment's do:
# an anonymous form fetched from one server is posted to another.
SHARED_SECRET = "test-servers-" + "k" * 32


# What production.ini needs before it starts (it refuses to run without a way to
# send mail); the SMTP server need not answer.
PRODUCTION_MAIL = {"sessapp.base_url": "https://app.example", "mail.host": "127.0.0.1",
                   "mail.sender": "noreply@app.example"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_ini(
    path: Path,
    *,
    base: str = "testing.ini",
    app: dict[str, str] | None = None,
    server: dict[str, str] | None = None,
) -> Path:
    """Copy ``base`` with [app:main] and [server:main] keys replaced or added."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # keep keys' case
    parser.read(ROOT / base)
    for key, value in (app or {}).items():
        parser.set("app:main", key, value)
    for key, value in (server or {}).items():
        parser.set("server:main", key, value)
    # Migrations are found relative to the INI's own folder.
    parser.set("alembic", "script_location", str(ROOT / "migrations"))
    with path.open("w") as handle:
        parser.write(handle)
    return path


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_pserve(ini: Path, port: int, *, env: dict[str, str] | None = None) -> Server:
    """Start ``pserve ini`` and wait until /healthz answers (or fail with its log)."""
    log_path = ini.with_suffix(f".{port}.log")
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [str(BIN / "pserve"), str(ini)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SESSAPP_SECRET": SHARED_SECRET, **(env or {})},
        cwd=str(ini.parent),
    )
    server = Server(process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pserve exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):  # noqa: S310
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"pserve did not answer within {STARTUP_TIMEOUT}s:\n{server.log()}")


def run_app_server(tmp_path: Path, db_url: str, *, base: str = "testing.ini",
                   app: dict[str, str] | None = None, server: dict[str, str] | None = None,
                   env: dict[str, Any] | None = None) -> Server:
    port = free_port()
    ini = write_ini(
        tmp_path / f"server-{port}.ini",
        base=base,
        app={"sqlalchemy.url": db_url, **(app or {})},
        server={"listen": f"127.0.0.1:{port}", **(server or {})},
    )
    return start_pserve(ini, port, env=env)
