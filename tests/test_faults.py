"""Faults under load, on a private PostgreSQL server that these tests own.

Each module run starts a throwaway PostgreSQL cluster of its own (``initdb`` into
a temporary directory, ``pg_ctl`` on a free loopback port, its socket in that
directory, run as the ``postgres`` OS user when we are root): the machine's own
server is never touched, so the tests may stop and start this one at will.
Where the PostgreSQL server binaries are missing the tests are skipped, saying
so. The app runs under real ``pserve`` processes (sessapp.testing.load) with
simulated browsers going round the site while the fault happens:

(a) the database stops mid-run: every answer that needed it is a 503 with
    Retry-After (never a signed-in page on a session nobody could check),
    /healthz says 503, and once the database is back the app recovers by itself
    with every session committed before the outage still valid;
(b) one of two app processes is killed with SIGKILL: the other serves every
    session, the dead one's included;
(c) serialization failures and deadlocks, natural (a SERIALIZABLE database,
    many writers on one session, sessions revoking each other) and injected
    (a trigger raising SQLSTATE 40001 / 40P01 on every other write), are
    retried: no client ever sees one, and no value is lost.

Every wait is bounded; every process started here is stopped by its PID, in
finalizers that run whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sessapp.testing.load.browser import Browser
from sessapp.testing.load.checks import Stats
from sessapp.testing.load.constants import SESSION_COOKIE
from sessapp.testing.load.database import Database, create_users
from sessapp.testing.load.processes import (
    AppServer,
    app_servers,
    free_port,
    log_records,
    transient_retries,
)
from sessapp.testing.load.races import same_session_phase
from sessapp.testing.load.workload import MixRun

PG_BIN = Path(os.environ.get("SESSAPP_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_TIMEOUT = 60  # seconds for initdb / start / stop
RECOVERY_TIMEOUT = 60.0  # the app must answer /healthz 200 again within this
PHASE_TIMEOUT = 60.0  # any "wait until something happened" loop
MAX_REQUESTS = 200_000  # hard cap per test


# -- a private PostgreSQL cluster ------------------------------------------------


def _missing_binaries() -> str | None:
    for name in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / name).exists():
            return (f"PostgreSQL server binaries not found ({PG_BIN / name} is missing; "
                    "install postgresql or set SESSAPP_PG_BIN)")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root needs runuser to start PostgreSQL as another user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs a 'postgres' OS user to own the test cluster"
    return None


class PrivateCluster:
    """A PostgreSQL server of our own: trust auth, loopback only, socket in its
    own directory. ``stop()``/``start()`` can be called at will; ``destroy()``
    stops it (by the postmaster's PID if pg_ctl cannot) and removes its files."""

    def __init__(self) -> None:
        # Directly under /tmp: pytest's tmp_path lives in a directory only root
        # may enter, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="sessapp-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*self._as_postgres, *args], capture_output=True, text=True,
                                timeout=PG_TIMEOUT, cwd=str(self.root))
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}\n{self.log()}")
        return result

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200 -c deadlock_timeout=200ms")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                  "-o", options, "-w", "-t", str(PG_TIMEOUT), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                  "-t", str(PG_TIMEOUT), "stop")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        try:
            if self.running():
                try:
                    self.stop("immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    pid = self.postmaster_pid()
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate stop
                        _wait_until(lambda: not self.running(), PG_TIMEOUT)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _wait_until(condition, seconds: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    reason = _missing_binaries()
    if reason:
        pytest.skip(reason)
    made = PrivateCluster()
    try:
        made.init()
        made.start()
        yield made
    finally:
        made.destroy()


# -- helpers -------------------------------------------------------------------------


def _wait_for_traffic(stats: Stats, at_least: int) -> None:
    assert _wait_until(lambda: stats.requests >= at_least, PHASE_TIMEOUT), (
        f"the load never got going: {stats.requests} requests, {stats.failures[:3]}")


def _signed_in(stats: Stats, port: int, username: str, values: int) -> tuple[Browser, dict]:
    """A browser signed in as ``username`` holding ``values`` acknowledged values."""
    browser = Browser(stats, [port], username)
    page = browser.request("GET", "/login")
    reply = browser.request("POST", "/login", {
        "username": username, "password": "correct horse battery staple",
        "csrf_token": page.csrf() or ""})
    assert reply.status == 303, reply.status
    token = browser.request("GET", "/profile").csrf()
    stored = {}
    for number in range(values):
        key, value = f"{username}-before-{number}", f"v{number}"
        reply = browser.request("POST", "/session-data",
                                {"key": key, "value": value, "csrf_token": token})
        assert reply.status == 303, reply.status
        stored[key] = value
    return browser, stored


def _assert_clean(stats: Stats) -> None:
    assert stats.lost_values == 0, stats.failures[:10]
    assert stats.resurrected == 0, stats.failures[:10]
    assert stats.failures == [], stats.failures[:10]


def _server_log_tail(servers: list[AppServer]) -> str:
    return "\n".join(server.log()[-3000:] for server in servers)


# -- (a) the database goes away mid-run ------------------------------------------------

OUTAGE_CLIENTS = 16
OUTAGE_SECONDS = 2.0
NEEDS_DATABASE = re.compile(r"^/(profile|sessions|session-data|logout)\b")


def test_database_outage_fails_closed_and_recovers(cluster, tmp_path):
    with Database("postgresql", server_url=cluster.url()) as db:
        stats = Stats(MAX_REQUESTS, keep_events=True)
        names = [f"outage{n:02d}" for n in range(OUTAGE_CLIENTS)]
        mix = MixRun(stats, [], names, register_every=0, tolerate_503=True)
        create_users(db, [*names, "keeper", "leaver"])
        with app_servers(tmp_path, db.url, 1, threads=8) as servers:
            port = servers[0].port
            mix.servers = servers
            # Sessions committed before the outage: one holding values, one ended.
            keeper, kept = _signed_in(stats, port, "keeper", values=3)
            leaver, _ = _signed_in(stats, port, "leaver", values=0)
            dead_cookie = leaver.cookies[SESSION_COOKIE]
            token = leaver.request("GET", "/profile").csrf()
            assert leaver.request("POST", "/logout", {"csrf_token": token}).status == 303
            probe = Browser(stats, [port], "probe")

            stopped = False
            mix.start(seconds=PHASE_TIMEOUT * 3)
            try:
                _wait_for_traffic(stats, 300)
                stopped = True
                cluster.stop("immediate")
                down = time.monotonic()

                # While it is down: honest 503s, and nothing signed in.
                health = probe.request("GET", "/healthz")
                assert health.status == 503 and "Retry-After" in health.headers
                page = keeper.request("GET", "/profile")
                assert page.status == 503 and "Retry-After" in page.headers
                assert "keeper" not in page.body
                revoked = probe.request("GET", "/profile", cookies={SESSION_COOKIE: dead_cookie})
                assert revoked.status == 503 and "Retry-After" in revoked.headers
                refused = keeper.request("POST", "/session-data",
                                         {"key": "during", "value": "x", "csrf_token": "t"})
                assert refused.status == 503
                time.sleep(OUTAGE_SECONDS)  # let the browsers run into it

                up = time.monotonic()
                cluster.start()
                stopped = False
                ready = time.monotonic()
                assert _wait_until(
                    lambda: probe.request("GET", "/healthz").status == 200,
                    RECOVERY_TIMEOUT, interval=0.1,
                ), "the app did not recover after the database came back:\n" + \
                    _server_log_tail(servers)
                healthy = time.monotonic()
                recovered_at = stats.requests
                _wait_for_traffic(stats, recovered_at + 300)
            finally:
                mix.stop()
                mix.join()
                if stopped:  # the test failed mid-outage: bring it back for the clean-up
                    cluster.start()
            mix.final_checks()

            # Every session committed before the outage is still good.
            assert keeper.request("GET", "/profile").status == 200
            assert keeper.request("GET", "/session-data").json() == kept
            gone = probe.request("GET", "/profile", cookies={SESSION_COOKIE: dead_cookie})
            assert gone.status == 303 and "/login" in gone.location
            log_text = _server_log_tail(servers)

    events = stats.events
    assert all(e.status in (200, 303, 400, 503) for e in events), \
        sorted({(e.status, e.path) for e in events if e.status not in (200, 303, 400, 503)})
    unavailable = [e for e in events if e.status == 503]
    assert unavailable, "no request met the outage"
    assert all(e.retry_after for e in unavailable)
    assert sum(u.sessions_lost for u in mix.users) == 0
    # Requests sent and answered while the database was down: none was served as
    # if a session had been checked.
    during = [e for e in events if e.started >= down and e.ended <= up]
    assert during, "no request ran during the outage"
    assert [e for e in during if e.signed_in_cookie and e.status != 503] == []
    assert [e for e in during if NEEDS_DATABASE.match(e.path) and e.status == 200] == []
    # Once /healthz said 200 again, nothing more was turned away.
    after = [e for e in events if e.started >= healthy]
    assert after
    assert [e for e in after if e.status == 503] == [], log_text
    assert stats.transport_errors == []
    _assert_clean(stats)
    print(f"\noutage: PostgreSQL down {up - down:.1f}s, restarted in {ready - up:.2f}s, "
          f"/healthz 200 again {healthy - ready:.2f}s later; {len(unavailable)} of "
          f"{len(events)} answers were 503, none after that")


# -- (b) one of two app processes is killed -------------------------------------------

KILL_CLIENTS = 16


def test_killing_one_of_two_app_processes_loses_no_session(cluster, tmp_path):
    with Database("postgresql", server_url=cluster.url()) as db:
        stats = Stats(MAX_REQUESTS, keep_events=True)
        names = [f"kill{n:02d}" for n in range(KILL_CLIENTS)]
        mix = MixRun(stats, [], names)
        create_users(db, [*mix.precreated(), "stayer"])
        with app_servers(tmp_path, db.url, 2, threads=8) as servers:
            victim, survivor = servers
            mix.servers = servers
            # A session made on the process about to die, holding values.
            stayer, kept = _signed_in(stats, victim.port, "stayer", values=3)
            mix.start(seconds=PHASE_TIMEOUT * 3)
            try:
                _wait_for_traffic(stats, 400)
                victim.kill()  # SIGKILL: no clean shutdown, requests cut off mid-way
                killed = time.monotonic()
                _wait_for_traffic(stats, stats.requests + 400)
            finally:
                mix.stop()
                mix.join()
            assert not victim.alive() and survivor.alive()
            mix.final_checks(port=survivor.port)

            # The dead process's session is served by the other, values and all.
            stayer.ports = [victim.port, survivor.port]
            assert stayer.fail_over()
            assert stayer.request("GET", "/profile").status == 200
            assert stayer.request("GET", "/session-data").json() == kept

    # MixRun spreads browsers over the processes in turn: even ones began on the victim.
    on_victim = [u for index, u in enumerate(mix.users) if index % 2 == 0]
    on_survivor = [u for index, u in enumerate(mix.users) if index % 2 == 1]
    # Only the killed process failed to answer, and only after it was killed.
    assert stats.transport_errors, "no request met the killed process"
    assert all(f":{victim.port}:" in error for error in stats.transport_errors), \
        stats.transport_errors[:5]
    assert all(u.failovers == 1 for u in on_victim), [(u.username, u.failovers)
                                                       for u in on_victim]
    assert all(u.failovers == 0 for u in on_survivor)
    assert sum(u.sessions_lost for u in mix.users) == 0
    assert [e for e in stats.events if e.status >= 500] == []
    assert [e for e in stats.events if e.port == victim.port and e.started > killed] == []
    _assert_clean(stats)
    print(f"\nkill -9: {len(on_victim)} browsers failed over, {len(stats.transport_errors)} "
          f"requests cut off, {stats.requests} requests, none lost")


# -- (c) serialization failures and deadlocks ----------------------------------------

SERIAL_WRITERS = 3  # writers racing on one session in each round
SERIAL_ROUNDS = 3
NATURAL_TRIES = 10  # rounds of racing until the database has refused at least once
INJECTED = 5  # writes per injected SQLSTATE

INJECT_FAULTS = [
    "CREATE SEQUENCE sessapp_fault_seq",
    # A session write whose data holds an "inject-<kind>-" key fails on every
    # other attempt (the sequence is not rolled back with the transaction), with
    # the SQLSTATE PostgreSQL gives a real deadlock or serialization failure.
    """
    CREATE FUNCTION sessapp_inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      kind text;
    BEGIN
      IF NEW.data LIKE '%"inject-deadlock-%' THEN
        kind := 'deadlock';
      ELSIF NEW.data LIKE '%"inject-serialize-%' THEN
        kind := 'serialize';
      ELSE
        RETURN NEW;
      END IF;
      IF nextval('sessapp_fault_seq') % 2 = 1 THEN
        IF kind = 'deadlock' THEN
          RAISE EXCEPTION 'injected fault: deadlock detected' USING ERRCODE = '40P01';
        END IF;
        RAISE EXCEPTION 'injected fault: could not serialize access' USING ERRCODE = '40001';
      END IF;
      RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER sessapp_inject_fault BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessapp_inject_fault()
    """,
]


def _log_count(servers: list[AppServer], needle: str) -> int:
    return sum(1 for server in servers for record in log_records(server)
               if "transient database error" in record and needle in record)


def _revoke_each_other(stats: Stats, db: Database, ports: list[int], username: str) -> list:
    """Two sessions of one user each ask, at the same moment, to end every other
    session: each deletes the row the other holds. One wins; the other, rerun
    after the deadlock, finds itself signed out and is sent to the login page."""
    pair = [_signed_in(stats, port, username, values=0)[0] for port in ports[:2]]
    tokens = [browser.request("GET", "/sessions").csrf() for browser in pair]
    barrier = threading.Barrier(len(pair))
    replies: list = [None] * len(pair)

    def revoke(index: int) -> None:
        barrier.wait(timeout=PHASE_TIMEOUT)
        replies[index] = pair[index].request(
            "POST", "/sessions/revoke-others",
            {"current_password": "correct horse battery staple", "csrf_token": tokens[index]})

    threads = [threading.Thread(target=revoke, args=(n,), daemon=True) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PHASE_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "revoke-others hung"
    outcomes = sorted((reply.status, urlsplit(reply.location).path) for reply in replies)
    assert outcomes == [(303, "/login"), (303, "/sessions")], outcomes
    left = db.scalar("SELECT COUNT(*) FROM sessions s JOIN users u ON s.user_id = u.id "
                     "WHERE u.username = :name", name=username)
    assert left == 1, left
    for browser in pair:
        browser.close()
    return outcomes


def test_serialization_failures_and_deadlocks_never_reach_a_client(cluster, tmp_path):
    with Database("postgresql", server_url=cluster.url(), serializable=True) as db:
        assert db.scalar("SHOW default_transaction_isolation") == "serializable"
        with db.engine().begin() as connection:
            from sqlalchemy import text

            for statement in INJECT_FAULTS:
                connection.execute(text(statement))
        stats = Stats(MAX_REQUESTS)
        writers = [f"serial{n:02d}" for n in range(NATURAL_TRIES)]
        revokers = [f"revoker{n:02d}" for n in range(NATURAL_TRIES)]
        create_users(db, [*writers, *revokers, "injected-deadlock", "injected-serialize"])
        # Two processes, so the races also run across processes. SERIALIZABLE
        # with the retries the README asks for there (retry.attempts = 10):
        # with 3, two sessions ending each other can still fail three times over
        # (each round a deadlock for one, a pivot for the other) on a loaded
        # machine, even with the pause between attempts (sessapp.retries).
        with app_servers(tmp_path, db.url, 2, threads=8,
                         app={"retry.attempts": "10"}) as servers:
            ports = [server.port for server in servers]

            # Natural serialization failures: writers race on one session, in
            # rounds, until PostgreSQL has refused at least one transaction.
            raced = 0
            for name in writers:
                result = same_session_phase(stats, servers, [name], writers=SERIAL_WRITERS,
                                            rounds=SERIAL_ROUNDS)
                raced += 1
                assert result.statuses == {303: SERIAL_WRITERS * SERIAL_ROUNDS}, \
                    (result.statuses, stats.failures[:5])
                if transient_retries(servers)["serialization failure"]:
                    break
            natural_serialization = transient_retries(servers)["serialization failure"]
            assert natural_serialization > 0, f"no serialization failure in {raced} tries"

            # Natural deadlocks: sessions of one user revoking each other at once.
            for name in revokers:
                _revoke_each_other(stats, db, ports, name)
                if transient_retries(servers)["deadlock"]:
                    break
            natural_deadlocks = transient_retries(servers)["deadlock"]
            assert natural_deadlocks > 0, f"no deadlock in {len(revokers)} tries"

            # Injected: every other write of these keys fails with 40P01 / 40001.
            for kind in ("deadlock", "serialize"):
                browser, _ = _signed_in(stats, ports[0], f"injected-{kind}", values=0)
                token = browser.request("GET", "/profile").csrf()
                stored = {}
                for number in range(INJECTED):
                    key = f"inject-{kind}-{number}"
                    reply = browser.request("POST", "/session-data",
                                            {"key": key, "value": kind, "csrf_token": token})
                    assert reply.status == 303, (reply.status, _server_log_tail(servers))
                    stored[key] = kind
                assert browser.request("GET", "/session-data").json() == stored
                browser.close()
            injected_deadlocks = _log_count(servers, "injected fault: deadlock")
            injected_serialization = _log_count(servers, "injected fault: could not serialize")

    assert stats.server_errors == []
    _assert_clean(stats)
    # Every injected failure was retried once (the retry then passed), unseen.
    assert injected_deadlocks == INJECTED
    assert injected_serialization == INJECTED
    print(f"\nSERIALIZABLE: {natural_serialization} serialization failures in {raced} "
          f"same-session race(s), {natural_deadlocks} deadlock(s) from revoking races, "
          f"{INJECTED}+{INJECTED} injected; all retried, no client saw one")
