"""``pserve production.ini`` on every core: gunicorn's worker processes
(``egg:sessapp#gunicorn``), one PostgreSQL database behind them.

Which worker answered a request is read from gunicorn's access log, which the
test turns on with the worker's PID in each line; each probe is a new
connection, so the kernel hands it to whichever worker accepts first, and
probes go on until every worker has answered.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from servers import BIN, PRODUCTION_MAIL, free_port, run_app_server, write_ini
from test_deployment import PROXY, SECRET, RawClient

from sessapp import prefork

WORKERS = 3
MAX_PROBES = 300
PROBE_BATCH = 12
LOG_WAIT = 5.0
# The access log line of each request: the worker's PID, then the request line.
ACCESS_FORMAT = "access %%(p)s %%(r)s %%(s)s"
ACCESS = re.compile(r"^access <(\d+)> GET /profile\?probe=(\d+) HTTP/1\.\d (\d{3})$", re.M)
HTTPS_ORIGIN = {"Origin": "https://app.example"}


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (name) state ppid ...": the name may hold spaces and brackets.
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def workers_server(harness, tmp_path):
    server = run_app_server(
        tmp_path, harness.url, base="production.ini",
        app={**PRODUCTION_MAIL, "auth.bcrypt_rounds": "4"},
        server={"workers": str(WORKERS), "accesslog": "-",
                "access_log_format": ACCESS_FORMAT},
        env={"SESSAPP_DATABASE_URL": harness.url, "SESSAPP_SECRET": SECRET},
    )
    try:
        wait_for(lambda: len(children_of(server.process.pid)) == WORKERS, 20,
                 f"{WORKERS} worker processes")
        yield server
    finally:
        server.stop()


def listening_sockets(port: int) -> int:
    """How many sockets on this host listen on ``port`` (state 0A in /proc/net)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == "0A":
                count += 1
    return count


def too_large_a_body(port: int) -> bytes:
    """The status line for a POST announcing one byte more than production's
    max_request_body_size, its body never sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"POST /login HTTP/1.1\r\nHost: app.example\r\n"
                           b"Content-Type: application/x-www-form-urlencoded\r\n"
                           b"Content-Length: 1048577\r\n\r\n")
        return connection.recv(200)


class Probes:
    """GET /profile?probe=N, each on a new connection, until every worker has
    answered; returns each worker's statuses."""

    def __init__(self, server, client: RawClient) -> None:
        self.server = server
        self.client = client
        self.sent = 0

    def every_worker(self, workers: set[int]) -> dict[int, list[tuple[int, str]]]:
        first = self.sent
        answers: dict[int, tuple[int, str]] = {}
        seen: dict[int, list[tuple[int, str]]] = {}
        while set(seen) != workers and self.sent - first < MAX_PROBES:
            for _ in range(PROBE_BATCH):
                status, headers, _ = self.client.request("GET", f"/profile?probe={self.sent}")
                answers[self.sent] = (status, headers.get("Location", ""))
                self.sent += 1
            logged = wait_for(lambda: self._logged(first), LOG_WAIT, "the access log")
            seen = {}
            for probe, pid in logged.items():
                seen.setdefault(pid, []).append(answers[probe])
        assert set(seen) == workers, (seen.keys(), workers, self.server.log()[-3000:])
        return seen

    def _logged(self, first: int) -> dict[int, int] | None:
        found = {int(probe): int(pid) for pid, probe, _status
                 in ACCESS.findall(self.server.log()) if int(probe) >= first}
        return found if len(found) == self.sent - first else None


@pytest.mark.backends("postgresql")
def test_workers_share_sign_in_and_sign_out_and_stop_with_their_arbiter(
        harness, workers_server):
    server = workers_server
    workers = children_of(server.process.pid)
    assert len(workers) == WORKERS
    assert f"sessapp: serving on http://127.0.0.1:{server.port}" in server.log()
    # A socket per worker, so the kernel spreads connections over the workers
    # instead of one worker accepting a proxy's whole keep-alive pool.
    wait_for(lambda: listening_sockets(server.port) == WORKERS, 10, "a socket per worker")
    harness.make_user("alice")
    client = RawClient(server.port, forwarded=PROXY)
    probes = Probes(server, client)

    assert client.login(headers=HTTPS_ORIGIN) == 303
    # production.ini's empty ident: gunicorn's own Server header is gone too.
    _, headers, _ = client.request("GET", "/login")
    assert "Server" not in headers
    assert too_large_a_body(server.port).startswith(b"HTTP/1.1 413 ")
    signed_in = probes.every_worker(workers)
    assert {answer for answers in signed_in.values() for answer in answers} == {(200, "")}

    token = client.csrf("/profile")
    kept = dict(client.cookies)
    status, _, _ = client.request("POST", "/logout", {"csrf_token": token},
                                  headers=HTTPS_ORIGIN)
    assert status == 303
    # A copy of the cookie kept from before the logout: every worker must refuse it.
    assert "__Host-session" not in client.cookies
    client.cookies = kept
    signed_out = probes.every_worker(workers)
    for answers in signed_out.values():
        for status, location in answers:
            assert status == 303 and "/login" in location

    server.stop()
    assert server.process.returncode == 0
    wait_for(lambda: not any(alive(pid) for pid in workers), 10, "the workers to exit")
    assert "Traceback" not in server.log()


# -- the runner's own rules, without a server ----------------------------------------


def test_auto_is_one_worker_per_usable_core():
    assert prefork.worker_count("auto") == len(os.sched_getaffinity(0))
    assert prefork.worker_count(None) == len(os.sched_getaffinity(0))
    assert prefork.worker_count("3") == 3
    with pytest.raises(prefork.ServerSettingError):
        prefork.worker_count("0")
    with pytest.raises(prefork.ServerSettingError):
        prefork.worker_count("many")


def test_sqlite_gets_one_worker_and_a_small_pool_a_warning():
    options = {"workers": 4, "threads": 4}
    lines = prefork.fit_to_database({"sqlalchemy.url": "sqlite:///x.sqlite"}, options)
    assert options["workers"] == 1 and "one process" in lines[0]

    options = {"workers": 4, "threads": 4}
    postgresql = {"sqlalchemy.url": "postgresql+psycopg://db/app"}
    small = prefork.fit_to_database({**postgresql, "sqlalchemy.pool_size": "3"}, options)
    assert options["workers"] == 4
    assert "pool_size = 3 is below threads = 4" in small[0]
    assert prefork.fit_to_database({**postgresql, "sqlalchemy.pool_size": "6"}, options) == []


def test_production_ini_follows_the_pool_rule():
    """pool_size = threads + 2 per worker, as production.ini's comment says."""
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(Path(__file__).resolve().parent.parent / "production.ini")
    threads = int(parser.get("server:main", "threads"))
    assert parser.get("server:main", "use") == "egg:sessapp#gunicorn"
    assert int(parser.get("app:main", "sqlalchemy.pool_size")) == threads + 2


def test_server_settings_become_gunicorn_options():
    options = prefork.gunicorn_options({
        "listen": "127.0.0.1:6543 [::1]:6543", "workers": "2", "threads": "4",
        "timeout": "30", "trusted_proxy": "127.0.0.1", "max_request_body_size": "10"})
    assert options["bind"] == ["127.0.0.1:6543", "[::1]:6543"]
    assert (options["workers"], options["threads"], options["timeout"]) == (2, 4, "30")
    assert options["worker_class"] == "gthread"
    # The proxy headers are waitress's middleware's job alone.
    assert options["secure_scheme_headers"] == {}
    assert "trusted_proxy" not in options


def test_an_unknown_server_setting_is_refused():
    with pytest.raises(prefork.ServerSettingError, match="'expose_tracebacks'"):
        prefork.gunicorn_options({"expose_tracebacks": "true"})


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    import io

    def app(environ, start_response):
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    limited = prefork.BodyLimit(app, 5)
    statuses = []

    def start_response(status, headers):
        statuses.append(status)

    big = {"CONTENT_LENGTH": "6", "wsgi.input": io.BytesIO(b"123456")}
    assert b"too large" in b"".join(limited(big, start_response))
    small = {"CONTENT_LENGTH": "5", "wsgi.input": io.BytesIO(b"12345")}
    assert b"".join(limited(small, start_response)) == b"12345"
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"1234567")}
    assert b"too large" in b"".join(limited(chunked, start_response))
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"1234")}
    assert b"".join(limited(chunked, start_response)) == b"1234"
    assert statuses == ["413 Request Entity Too Large", "200 OK"] * 2


# -- what an operator sees, with production.ini's server -----------------------------


def _production_pserve(ini: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "pserve"), str(ini)], capture_output=True, text=True, timeout=60,
        env={"PATH": str(BIN), "SESSAPP_SECRET": SECRET,
             **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}})


@pytest.mark.backends("sqlite", "postgresql")
def test_production_refuses_a_busy_port_in_one_line(harness, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ini = write_ini(tmp_path / "busy.ini", base="production.ini",
                        app={**PRODUCTION_MAIL, "sqlalchemy.url": harness.url,
                             "auth.bcrypt_rounds": "4"},
                        server={"listen": f"127.0.0.1:{port}"})
        result = _production_pserve(ini)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("sessapp:")]
    assert lines == [f"sessapp: cannot listen on 127.0.0.1:{port}: "
                     "the address is already in use"], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.backends("sqlite", "postgresql")
def test_production_refuses_an_unknown_server_setting_in_one_line(harness, tmp_path):
    ini = write_ini(tmp_path / "typo.ini", base="production.ini",
                    app={**PRODUCTION_MAIL, "sqlalchemy.url": harness.url},
                    server={"listen": f"127.0.0.1:{free_port()}", "wokers": "2"})
    result = _production_pserve(ini)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("sessapp:")]
    assert len(lines) == 1 and "'wokers'" in lines[0], result.stderr


@pytest.mark.backends("postgresql")
def test_a_forked_child_opens_its_own_connection(db_url):
    """What a pre-fork server relies on: a connection pooled before the fork is
    never used by the child (two processes on one socket garble both)."""
    from sqlalchemy import text

    from sessapp.models import get_engine

    engine = get_engine({"sqlalchemy.url": db_url})
    backend_pid = text("SELECT pg_backend_pid()")
    try:
        with engine.connect() as connection:
            parent = connection.execute(backend_pid).scalar_one()
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (the child reports through the pipe)
            try:
                with engine.connect() as connection:
                    os.write(write, str(connection.execute(backend_pid).scalar_one()).encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        answer = os.read(read, 64).decode()
        os.close(read)
        assert answer and int(answer) != parent
        with engine.connect() as connection:  # the parent's own is still fine
            assert connection.execute(backend_pid).scalar_one() == parent
    finally:
        engine.dispose()
