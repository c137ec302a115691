"""sessapp behind a real PgBouncer in transaction pooling mode, as the README's
"Scaling out" recommends it.

Transaction pooling hands each transaction (and each autocommit statement) to
whichever server connection is free, so nothing may live on a server connection
beyond one transaction: no server-side prepared statement (psycopg prepares a
statement from its 5th run; ``sessapp.pgbouncer = true`` turns that off), no
``SET``, advisory lock, temporary table or ``LISTEN``. Here a real ``pserve`` talks
to PostgreSQL only through a PgBouncer started for the test, with fewer server
connections than the app's pool, and every kind of request the app makes runs
through it: sign-in, the signed-in read (an autocommit statement outside the
request's transaction), bearer reads, session writes, and several threads
writing one session.

PgBouncer is Debian's ``pgbouncer`` package (``.ci/run`` installs it). Without
it these tests skip, except where ``SESSAPP_TEST_REQUIRE`` names postgresql (CI):
there a missing PgBouncer fails, because the recommendation is part of what CI
checks.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD, REQUIRED
from servers import Server, free_port, run_app_server
from sqlalchemy import make_url
from test_concurrency import Client, run_threads

from sessapp.models import get_engine

pytestmark = pytest.mark.backends("postgresql")

# Debian installs it in /usr/sbin, which a user's PATH often lacks.
PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
# Fewer server connections than the app's pool (5 + 10 overflow): consecutive
# transactions of one app connection land on different server connections, as
# they do in production. One more than the app's 4 waitress threads, the least
# that always lets a sign-in through: it counts the attempt in a short
# transaction of its own while its request's transaction holds a connection
# (README, "PgBouncer").
SERVER_CONNECTIONS = 5
STARTUP_TIMEOUT = 15.0
CLIENTS = 8
ROUNDS = 10
WRITERS = 8
WRITER_ROUNDS = 5
# What would outlive a transaction on its server connection: a session-level SET
# (SET LOCAL ends with the transaction), a named prepared statement, a cursor WITH
# HOLD, a temporary table, LISTEN, or an advisory lock not scoped to the
# transaction (pg_advisory_xact_lock is).
SESSION_LEVEL = re.compile(
    r"^\s*(SET\s+(?!LOCAL\b)|RESET\b|PREPARE\b|DISCARD\b|LOAD\b|LISTEN\b|UNLISTEN\b"
    r"|CREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\b)"
    r"|\bWITH\s+HOLD\b|\bpg_(try_)?advisory_(unlock|lock)", re.IGNORECASE)


def start_pgbouncer(folder: Path, database_url: str) -> Server:
    """PgBouncer on a free loopback port, transaction pooling, trusting every
    client, forwarding any database name to ``database_url``'s server and user."""
    target = make_url(database_url)
    port = free_port()
    users = folder / "userlist.txt"
    users.write_text(f'"{target.username}" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={target.host} port={target.port or 5432} user={target.username}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {users}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_CONNECTIONS}\n"
        "max_client_conn = 200\n"
    )
    log_path = folder / "pgbouncer.log"
    # PgBouncer refuses to run as root; -u drops to another user after reading
    # its configuration.
    command = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    with log_path.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    # A process on a port with a log, stopped by its PID: what a pserve is too.
    bouncer = Server(process, port, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{bouncer.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return bouncer
        except OSError:
            time.sleep(0.05)
    bouncer.stop()
    raise RuntimeError(f"pgbouncer did not listen within {STARTUP_TIMEOUT}s:\n{bouncer.log()}")


@pytest.fixture
def bouncer_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """``db_url`` reached through PgBouncer instead of directly."""
    if PGBOUNCER is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if "postgresql" in REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    bouncer = start_pgbouncer(tmp_path, db_url)
    try:
        yield make_url(db_url).set(host="127.0.0.1", port=bouncer.port).render_as_string(
            hide_password=False)
    finally:
        bouncer.stop()


@pytest.fixture
def pooled_app(harness, bouncer_url: str, tmp_path: Path) -> Iterator[Client]:
    """pserve with ``sessapp.pgbouncer = true``, its only database PgBouncer."""
    server = run_app_server(tmp_path, bouncer_url, app={"sessapp.pgbouncer": "true"})
    try:
        yield Client(server.port)
    finally:
        server.stop()
        log = server.log()
    assert "Traceback" not in log, log[-5000:]


def test_no_request_leaves_state_on_its_server_connection(harness, testapp):
    """Every statement of sign-in, reads, writes, tokens and logout: none may
    leave anything on the server connection for the next transaction to find."""
    harness.make_user("pooled")
    testapp.login("pooled")
    token = testapp.csrf_token("/profile")
    testapp.post_json("/session-data", {"key": "k", "value": "v"},
                      headers={"X-CSRF-Token": token})
    bearer = testapp.post_json("/api/tokens", {"name": "script", "expires_in_days": 1,
                                               "current_password": PASSWORD},
                               headers={"X-CSRF-Token": token}, status=201).json["token"]
    testapp.get("/api/me", headers={"Authorization": f"Bearer {bearer}"})
    testapp.get("/session-data")
    testapp.logout()

    assert len(harness.sql.statements) > 10
    assert [s for s in harness.sql.statements if SESSION_LEVEL.search(s)] == []
    assert SESSION_LEVEL.search("SET statement_timeout = 0")  # the pattern bites
    assert not SESSION_LEVEL.search("SELECT pg_advisory_xact_lock(1)")


def each_thread(count: int, body: Callable[[int], None]) -> None:
    run_threads([lambda number=number: body(number) for number in range(count)])


def test_reads_writes_and_sign_in_through_transaction_pooling(harness, pooled_app):
    for number in range(CLIENTS):
        harness.make_user(f"pooled{number}")
    clients = [Client(pooled_app.port) for _ in range(CLIENTS)]
    statuses: list[tuple[str, int]] = []

    def browse(number: int) -> None:
        client = clients[number]
        assert client.login(f"pooled{number}").status == 303
        token = client.csrf_token("/profile")
        for round_ in range(ROUNDS):
            for path in ("/profile", "/api/me"):
                statuses.append((path, client.request("GET", path).status))
            statuses.append(("store", client.store(f"k{round_}", f"{number}.{round_}",
                                                   token).status))

    each_thread(CLIENTS, browse)

    assert [s for s in statuses if s[1] >= 500] == []
    assert {s for s in statuses} == {("/profile", 200), ("/api/me", 200), ("store", 303)}
    for number, client in enumerate(clients):
        reply = client.request("GET", "/api/me")
        assert reply.json()["username"] == f"pooled{number}"
        assert client.request("GET", "/session-data").json() == {
            f"k{r}": f"{number}.{r}" for r in range(ROUNDS)}


def test_concurrent_writes_to_one_session_through_transaction_pooling(harness, pooled_app):
    harness.make_user("shared")
    client = pooled_app
    assert client.login("shared").status == 303
    token = client.csrf_token("/profile")
    statuses: list[int] = []

    def write(number: int) -> None:
        for round_ in range(WRITER_ROUNDS):
            statuses.append(client.store(f"t{number}-r{round_}", f"{number}.{round_}",
                                         token).status)

    each_thread(WRITERS, write)

    assert [s for s in statuses if s != 303] == []
    assert client.request("GET", "/session-data").json() == {
        f"t{n}-r{r}": f"{n}.{r}" for n in range(WRITERS) for r in range(WRITER_ROUNDS)}
    assert client.request("GET", "/profile").status == 200


@pytest.mark.parametrize(("setting", "threshold"), [("true", None), ("false", 5)])
def test_the_setting_alone_turns_server_side_preparation_off(db_url, setting, threshold):
    """Direct connections keep psycopg's preparation (the hot path's few
    statements run prepared); only ``sessapp.pgbouncer = true`` turns it off."""
    engine = get_engine({"sqlalchemy.url": db_url, "sessapp.pgbouncer": setting})
    try:
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection.prepare_threshold == threshold
    finally:
        engine.dispose()
