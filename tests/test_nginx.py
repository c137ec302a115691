"""Real nginx in front of two ``pserve production.ini`` processes on one
PostgreSQL database, with the configuration the README shows
(``deploy/nginx.conf``): only its listen addresses, certificate paths and
upstream servers are filled in here.

nginx is Debian's package (``.ci/run`` installs it); the TLS certificate comes
from a CA made for the test (trustme). Clients connect from loopback addresses
other than nginx's own (127.0.0.2, 127.0.0.3), so the address sessapp records
can only be the client's if ``X-Forwarded-For`` went through as configured.
Which process answered each request is read from nginx's access log
(``$upstream_addr``: two addresses when nginx tried a second process).

Without nginx these tests skip, except where ``SESSAPP_TEST_REQUIRE`` names
postgresql (CI): there a missing nginx fails.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from conftest import PASSWORD, REQUIRED, ROOT
from servers import PRODUCTION_MAIL, Server, free_port, run_app_server
from sqlalchemy import text
from test_deployment import SECRET
from test_prefork import children_of

from sessapp.accounts.passwords import PasswordHasher
from sessapp.testing.client import CSRF_FIELD, encode, follow_set_cookies

pytestmark = pytest.mark.backends("postgresql")

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
SITE = ROOT / "deploy" / "nginx.conf"
HOST = "app.example"
ORIGIN = {"Origin": f"https://{HOST}"}
STARTUP_TIMEOUT = 15.0
LOG_WAIT = 5.0
# A low per-IP budget, so the throttling check takes a few requests.
IP_BUDGET = 3
READERS = 4
# A sign-in slow enough to be in flight when its process is killed.
SLOW_BCRYPT = 14
RUN_SECONDS = 15.0
KILL_AFTER = 1.0
# What the test's main configuration logs per request.
ACCESS = re.compile(r'^(\S+) "([A-Z]+) (\S+) [^"]*" (\d{3}) upstream="([^"]*)"$', re.M)


def fill_in(site: str, *, https_port: int, http_port: int, upstreams: list[int],
            certificate: Path, key: Path) -> str:
    """deploy/nginx.conf with this test's ports and paths; each line that is
    replaced must be there exactly once, so a changed file fails loudly."""
    replacements = [
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    server 127.0.0.1:6543;\n",
         "".join(f"    server 127.0.0.1:{port};\n" for port in upstreams)),
        ("/etc/ssl/app.example/fullchain.pem", str(certificate)),
        ("/etc/ssl/app.example/privkey.pem", str(key)),
    ]
    for old, new in replacements:
        assert site.count(old) == 1, f"deploy/nginx.conf no longer has {old.strip()!r} once"
        site = site.replace(old, new)
    return site


def main_config(folder: Path, site: Path) -> Path:
    """nginx's own main file for the test: everything in ``folder``."""
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir(exist_ok=True)
    # Workers run as nobody when nginx starts as root; the test's folder is
    # root's alone, so they stay root here (the site file is unchanged).
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = folder / "nginx-main.conf"
    config.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    client_body_temp_path {folder / 'client_body'};\n"
        f"    proxy_temp_path {folder / 'proxy'};\n"
        f"    fastcgi_temp_path {folder / 'fastcgi'};\n"
        f"    uwsgi_temp_path {folder / 'uwsgi'};\n"
        f"    scgi_temp_path {folder / 'scgi'};\n"
        "    log_format probe '$remote_addr \"$request\" $status upstream=\"$upstream_addr\"';\n"
        f"    access_log {folder / 'access.log'} probe;\n"
        f"    include {site};\n"
        "}\n")
    return config


@dataclass
class Nginx:
    server: Server
    folder: Path
    https_port: int
    http_port: int
    ca: trustme.CA

    def access(self) -> list[tuple[str, str, str, int, str]]:
        path = self.folder / "access.log"
        text = path.read_text() if path.exists() else ""
        return [(ip, method, uri, int(status), upstream)
                for ip, method, uri, status, upstream in ACCESS.findall(text)]

    def logged(self, uri: str) -> tuple[str, str, str, int, str]:
        """The access log line of the one request to ``uri`` (waits for it)."""
        deadline = time.monotonic() + LOG_WAIT
        while time.monotonic() < deadline:
            lines = [line for line in self.access() if line[2] == uri]
            if lines:
                assert len(lines) == 1, lines
                return lines[0]
            time.sleep(0.02)
        raise AssertionError(f"{uri} never reached nginx's access log")


def start_nginx(folder: Path, upstreams: list[int]) -> Nginx:
    ca = trustme.CA()
    issued = ca.issue_cert(HOST, "127.0.0.1")
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    issued.cert_chain_pems[0].write_to_path(str(certificate))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(str(certificate), append=True)
    issued.private_key_pem.write_to_path(str(key))
    https_port, http_port = free_port(), free_port()
    site = folder / "sessapp-site.conf"
    site.write_text(fill_in(SITE.read_text(), https_port=https_port, http_port=http_port,
                            upstreams=upstreams, certificate=certificate, key=key))
    config = main_config(folder, site)
    log_path = folder / "nginx.out"
    with log_path.open("wb") as handle:
        # "daemon off": nginx stays the process the test started, stopped by its PID.
        process = subprocess.Popen([NGINX, "-c", str(config), "-g", "daemon off;"],
                                   stdout=handle, stderr=subprocess.STDOUT)
    nginx = Nginx(Server(process, https_port, log_path), folder, https_port, http_port, ca)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error_log = folder / "error.log"
            raise RuntimeError(f"nginx exited with {process.returncode}:\n"
                               f"{nginx.server.log()}\n"
                               f"{error_log.read_text() if error_log.exists() else ''}")
        try:
            HttpsClient(nginx).request("GET", "/healthz")
            return nginx
        except OSError:
            time.sleep(0.05)
    nginx.server.stop()
    raise RuntimeError(f"nginx did not answer within {STARTUP_TIMEOUT}s:\n{nginx.server.log()}")


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class HttpsClient:
    """A browser at ``source`` talking https to nginx as https://app.example."""

    nginx: Nginx
    source: str = "127.0.0.2"
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        context = ssl.create_default_context()
        self.nginx.ca.configure_trust(context)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.nginx.https_port, context=context, timeout=15,
            source_address=(self.source, 0))
        all_headers, body = encode({"Host": HOST, **(headers or {})}, self.cookies, form=form)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            reply = Reply(response.status, response.headers,
                          response.read().decode("utf-8", "replace"))
        finally:
            connection.close()
        self.set_cookies = reply.headers.get_all("Set-Cookie") or []
        follow_set_cookies(self.cookies, self.set_cookies)
        return reply

    def csrf(self, path: str = "/login") -> str:
        reply = self.request("GET", path)
        assert reply.status == 200, (path, reply.status)
        return CSRF_FIELD.search(reply.body).group(1)

    def login(self, username: str = "alice", password: str = PASSWORD,
              headers: dict[str, str] | None = None) -> Reply:
        token = self.csrf()
        return self.request("POST", "/login", {
            "username": username, "password": password, "csrf_token": token},
            headers={**ORIGIN, **(headers or {})})


def start_stack(folder: Path, db_url: str, processes: int = 2
                ) -> tuple[Nginx, list[Server]]:
    """``processes`` ``pserve production.ini`` (one worker each) and nginx in front."""
    if NGINX is None:
        message = "nginx is not installed (apt-get install nginx)"
        if "postgresql" in REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    apps: list[Server] = []
    try:
        for _ in range(processes):
            apps.append(run_app_server(
                folder, db_url, base="production.ini",
                app={**PRODUCTION_MAIL, "auth.bcrypt_rounds": "4",
                     "auth.throttle.ip_max_failures": str(IP_BUDGET)},
                server={"workers": "1"},
                env={"SESSAPP_DATABASE_URL": db_url, "SESSAPP_SECRET": SECRET}))
        return start_nginx(folder, [app.port for app in apps]), apps
    except BaseException:
        for app in apps:
            app.stop()
        raise


def stop_stack(nginx: Nginx, apps: list[Server]) -> None:
    nginx.server.stop()
    for app in apps:
        app.stop()
    for app in apps:
        assert "Traceback" not in app.log(), app.log()[-3000:]


@pytest.fixture(scope="module")
def proxied(db_url, tmp_path_factory) -> Iterator[tuple[Nginx, list[Server]]]:
    """One stack for the tests that leave it running (the database is emptied
    after each test by ``harness``)."""
    stack = start_stack(tmp_path_factory.mktemp("nginx"), db_url)
    yield stack
    stop_stack(*stack)


@pytest.fixture
def doomed(harness, tmp_path) -> Iterator[tuple[Nginx, list[Server]]]:
    """A stack of its own, of three processes, for the test that kills two."""
    stack = start_stack(tmp_path, harness.url, processes=3)
    yield stack
    stop_stack(*stack)


def upstream_port(line: tuple[str, str, str, int, str]) -> int:
    return int(line[4].rpartition(":")[2])


def test_the_readme_shows_the_tested_configuration():
    readme = (ROOT / "README.md").read_text()
    assert f"```nginx\n{SITE.read_text()}```" in readme


def test_cookies_hsts_origin_and_real_ip_through_nginx(harness, proxied):
    nginx, _apps = proxied
    harness.make_user("alice")
    browser = HttpsClient(nginx)

    reply = browser.login(headers={"X-Forwarded-For": "203.0.113.66"})
    assert reply.status == 303
    session = [line for line in browser.set_cookies if line.startswith("__Host-session=")]
    assert len(session) == 1
    flags = {part.strip().lower() for part in session[0].split(";")[1:]}
    assert {"secure", "httponly", "path=/", "samesite=lax"} <= flags
    assert not any(flag.startswith("domain") for flag in flags)
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert reply.headers["Location"].startswith(f"https://{HOST}/")
    # nginx hides the application server's own header.
    assert reply.headers["Server"] == "nginx"

    # The client's own address, not nginx's and not what the client claimed.
    sessions = browser.request("GET", "/sessions", headers={"X-Forwarded-For": "198.51.100.9"})
    assert sessions.status == 200
    assert "127.0.0.2" in sessions.body
    assert "203.0.113.66" not in sessions.body and "198.51.100.9" not in sessions.body

    # A form posted from another site is refused (Pyramid's https Origin check).
    stranger = HttpsClient(nginx, source="127.0.0.2")
    token = stranger.csrf()
    refused = stranger.request("POST", "/login", {
        "username": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.example"})
    assert refused.status == 400
    assert harness.count("sessions") == 1

    # Plain http is sent to https.
    connection = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    connection.request("GET", "/profile?x=1", headers={"Host": HOST})
    plain = connection.getresponse()
    connection.close()
    assert plain.status == 301
    assert plain.headers["Location"] == f"https://{HOST}/profile?x=1"


def test_throttling_counts_the_real_client_address(harness, proxied):
    nginx, _apps = proxied
    harness.make_user("alice")
    attacker = HttpsClient(nginx, source="127.0.0.3")
    statuses = []
    for number in range(IP_BUDGET + 1):
        # Each a different name (no account lock) and a forged address each time.
        reply = attacker.login(f"guess{number}", "wrong password",
                               headers={"X-Forwarded-For": f"198.51.100.{number}"})
        statuses.append(reply.status)
    assert statuses[-1] == 429
    assert statuses[:IP_BUDGET].count(429) == 0
    # Another client behind the same nginx is not held by it.
    assert HttpsClient(nginx, source="127.0.0.2").login().status == 303


def test_sign_in_on_one_process_and_sign_out_seen_by_the_other(harness, proxied):
    nginx, apps = proxied
    harness.make_user("alice")
    browser = HttpsClient(nginx)
    assert browser.login().status == 303

    def probes(first: int, count: int, expected: int) -> set[int]:
        answered = set()
        for number in range(first, first + count):
            uri = f"/profile?probe={number}"
            assert browser.request("GET", uri).status == expected
            answered.add(upstream_port(nginx.logged(uri)))
        return answered

    # nginx takes the two processes in turn.
    assert probes(0, 4, 200) == {app.port for app in apps}
    kept = dict(browser.cookies)
    token = browser.csrf("/profile")
    assert browser.request("POST", "/logout?probe=out", {"csrf_token": token},
                           headers=ORIGIN).status == 303
    signed_out_by = upstream_port(nginx.logged("/logout?probe=out"))
    browser.cookies = kept  # the old cookie, sent again
    assert probes(10, 4, 303) == {app.port for app in apps}
    assert signed_out_by in {app.port for app in apps}


def kill_process_tree(server: Server) -> None:
    """SIGKILL a pserve and its gunicorn worker at once: the arbiter first, so
    it restarts nothing."""
    workers = children_of(server.process.pid)
    os.kill(server.process.pid, signal.SIGKILL)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def busiest(apps: list[Server], seconds: float = 0.4) -> Server:
    """The app whose worker used the most CPU over ``seconds``."""
    def cpu(app: Server) -> float:
        return sum(process_cpu(pid) for pid in children_of(app.process.pid))
    before = {app.port: cpu(app) for app in apps}
    time.sleep(seconds)
    return max(apps, key=lambda app: cpu(app) - before[app.port])


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_processes_killed_mid_run_lose_no_get_and_no_post_is_sent_twice(harness, doomed):
    """Three processes. First one is killed while only GETs flow: the GETs that
    meet it (in flight, or sent before nginx gives up on it) are sent to
    another, and every GET is answered 200. Then, with a slow sign-in (bcrypt
    cost 14) in flight and nothing else, the process working on it is killed:
    that POST is answered 502 and never sent to another process. Writes made
    meanwhile by other clients are all stored."""
    nginx, apps = doomed
    readers = []
    for number in range(READERS):
        harness.make_user(f"reader{number}")
        reader = HttpsClient(nginx, source="127.0.0.2")
        assert reader.login(f"reader{number}").status == 303
        readers.append(reader)
    harness.make_user("writer")
    writer = HttpsClient(nginx, source="127.0.0.2")
    assert writer.login("writer").status == 303
    write_token = writer.csrf("/profile")

    stop = threading.Event()
    gets: list[tuple[float, int]] = []
    failures: list[BaseException] = []

    def read(client: HttpsClient) -> None:
        try:
            while not stop.is_set():
                gets.append((time.monotonic(), client.request("GET", "/profile").status))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=read, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AFTER)
    first = apps[0]
    kill_process_tree(first)
    killed = time.monotonic()
    deadline = killed + RUN_SECONDS
    while time.monotonic() < deadline and sum(1 for at, _ in gets if at > killed) < READERS * 3:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert {status for _, status in gets} == {200}
    assert sum(1 for at, _ in gets if at > killed) >= READERS * 3
    log = nginx.access()
    retried = [line for line in log if "," in line[4]]
    assert retried, "no GET was retried on another process"
    assert all(line[1] == "GET" and line[3] == 200 for line in retried), retried
    assert all(line[4].startswith(f"127.0.0.1:{first.port},") for line in retried)

    # Writes through the two left, one stored value each.
    stored_keys = []
    for number in range(4):
        reply = writer.request("POST", f"/session-data?post={number}",
                               {"key": f"k{number}", "value": str(number)},
                               headers={"X-CSRF-Token": write_token, **ORIGIN})
        assert reply.status == 303
        stored_keys.append(f"k{number}")

    # A POST in flight when its process dies.
    slow = harness.make_user("slow")
    with harness.engine.begin() as connection:
        connection.execute(text("UPDATE users SET password_hash = :h WHERE id = :i"),
                           {"h": PasswordHasher(SLOW_BCRYPT).hash(PASSWORD), "i": slow})
    signing_in = HttpsClient(nginx, source="127.0.0.2")
    token = signing_in.csrf("/login?probe=slow")
    answer: list[Reply] = []
    posting = threading.Thread(target=lambda: answer.append(signing_in.request(
        "POST", "/login?probe=slow-post",
        {"username": "slow", "password": PASSWORD, "csrf_token": token}, headers=ORIGIN)))
    posting.start()
    time.sleep(0.2)
    alive_apps = [app for app in apps if app is not first]
    target = busiest(alive_apps)
    assert posting.is_alive(), "the slow sign-in ended before its process could be killed"
    kill_process_tree(target)
    posting.join(timeout=30)
    assert answer and answer[0].status == 502
    line = nginx.logged("/login?probe=slow-post")
    # Sent to the killed process and to no other; nginx may first have tried the
    # process killed before (refused at connect, so nothing was sent there).
    *refused, sent_to = line[4].split(", ")
    assert line[3] == 502 and sent_to == f"127.0.0.1:{target.port}", line
    assert set(refused) <= {f"127.0.0.1:{first.port}"}, line

    # The last process still answers, and nothing written was lost.
    stored = json.loads(writer.request("GET", "/session-data").body)
    assert set(stored_keys) <= set(stored)
    assert writer.request("GET", "/profile").status == 200
