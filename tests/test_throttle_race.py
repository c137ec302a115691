"""Wrong passwords sent all at once to two server processes sharing one database
are checked no more often than the throttle allows (issue: 16-24 simultaneous
attempts on one account once got 7 checked instead of 5)."""

from __future__ import annotations

import http.client
import threading
from collections import Counter

import pytest
from servers import run_app_server

from sessapp.testing.client import CSRF_FIELD, encode, follow_set_cookies

ATTEMPTS = 24
# A bcrypt cost at which each check takes tens of milliseconds, as in a
# deployment: every attempt is then in flight while the others are counted.
SLOW_ROUNDS = "10"


def _request(port: int, method: str, path: str, *, cookies=None, form=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers, body = encode({"Host": "localhost"}, cookies or {}, form=form)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.status, response.getheaders(), response.read()
    connection.close()
    return answer


@pytest.fixture
def two_servers(make_harness, tmp_path):
    harness = make_harness(**{"auth.bcrypt_rounds": SLOW_ROUNDS})
    harness.make_user("victim")
    settings = {"auth.bcrypt_rounds": SLOW_ROUNDS}
    servers = []
    try:
        for _ in range(2):
            servers.append(run_app_server(tmp_path, harness.url, app=settings,
                                          server={"threads": str(ATTEMPTS)}))
        yield harness, servers
    finally:
        for server in servers:
            server.stop()


def _simultaneous_wrong_passwords(servers, username: str) -> Counter:
    jar: dict[str, str] = {}
    _, headers, page = _request(servers[0].port, "GET", "/login")
    follow_set_cookies(jar, [value for name, value in headers if name == "Set-Cookie"])
    token = CSRF_FIELD.search(page.decode()).group(1)
    form = {"username": username, "password": "not the password at all", "csrf_token": token}
    start = threading.Barrier(ATTEMPTS)
    statuses: Counter = Counter()
    lock = threading.Lock()

    def attempt(index: int) -> None:
        port = servers[index % len(servers)].port
        start.wait()
        status, _, _ = _request(port, "POST", "/login", cookies=jar, form=form)
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def test_simultaneous_wrong_passwords_are_checked_no_more_than_the_limit(two_servers):
    harness, servers = two_servers
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    statuses = _simultaneous_wrong_passwords(servers, "victim")
    assert sum(statuses.values()) == ATTEMPTS
    assert set(statuses) <= {422, 429}, statuses
    checked = harness.count("auth_events", "event = 'login_failure'")
    assert checked == statuses[422]
    assert 1 <= checked <= limit, statuses
    assert harness.count("throttle_hits", "scope = 'login_account'") == checked
    # Nothing taken back is left over: the address counted exactly the checks.
    assert harness.count("throttle_hits", "scope = 'login_ip'") == checked


def test_a_right_password_gives_its_count_back(harness, browser_factory):
    harness.make_user("alice")
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    stranger = browser_factory("203.0.113.9")
    for _ in range(limit - 1):
        stranger.login("alice", "not the password at all", status=422)
    browser_factory("198.51.100.7").login("alice", status=303)
    assert harness.count("throttle_hits", "scope = 'login_account'") == limit - 1
    stranger.login("alice", "not the password at all", status=422)
    stranger.login("alice", "not the password at all", status=429)
