"""Real ``pserve`` processes: production behind a proxy, refusals, scale-out."""

from __future__ import annotations

import http.client
import os
import subprocess

import pytest
from conftest import PASSWORD
from servers import BIN, free_port, run_app_server, write_ini

from sessapp.testing.client import CSRF_FIELD, encode, follow_set_cookies


class RawClient:
    """Keeps cookies by hand, so Secure/__Host- cookies still flow over the
    loopback http that a TLS-terminating proxy would speak to sessapp."""

    def __init__(self, port: int, *, forwarded: dict[str, str] | None = None) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.forwarded = forwarded or {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        all_headers, body = encode(
            {"Host": "app.example", **self.forwarded, **(headers or {})}, self.cookies, form=form)
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        self.set_cookie_headers = response.headers.get_all("Set-Cookie") or []
        follow_set_cookies(self.cookies, self.set_cookie_headers)
        connection.close()
        return response.status, dict(response.headers), text

    def csrf(self, path: str = "/login") -> str:
        _, _, page = self.request("GET", path)
        return CSRF_FIELD.search(page).group(1)

    def login(self, username: str = "alice", password: str = PASSWORD,
              headers: dict[str, str] | None = None) -> int:
        token = self.csrf()
        status, _, _ = self.request("POST", "/login", {
            "username": username, "password": password, "csrf_token": token,
        }, headers=headers)
        return status


# Production reads its signing key from the environment and refuses to start without it.
SECRET = "a-production-secret-of-at-least-32-bytes"

# What production needs before it sends mail (the SMTP server need not answer).
MAIL_READY = {"sessapp.base_url": "https://app.example", "mail.host": "127.0.0.1",
              "mail.sender": "noreply@app.example"}

PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
         "X-Forwarded-Host": "app.example"}


@pytest.fixture
def production_server(harness, tmp_path):
    server = run_app_server(
        tmp_path, harness.url, base="production.ini",
        app={"auth.bcrypt_rounds": "4", **MAIL_READY},
        env={"SESSAPP_DATABASE_URL": harness.url, "SESSAPP_SECRET": SECRET},
    )
    yield server
    server.stop()


def test_production_cookie_flags_exactly_as_contracted(harness, production_server):
    harness.make_user("alice")
    client = RawClient(production_server.port, forwarded=PROXY)
    https_origin = {"Origin": "https://app.example"}
    assert client.login(headers=https_origin) == 303
    session_cookie = [h for h in client.set_cookie_headers if h.startswith("__Host-session=")]
    assert len(session_cookie) == 1
    flags = [part.strip().lower() for part in session_cookie[0].split(";")]
    assert "secure" in flags
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert not any(flag.startswith("domain") for flag in flags)


def test_production_sends_hsts_and_no_store(harness, production_server):
    client = RawClient(production_server.port, forwarded=PROXY)
    _, headers, _ = client.request("GET", "/")
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["Cache-Control"] == "no-store"


def test_trusted_proxy_headers_give_scheme_and_client_ip(harness, production_server):
    harness.make_user("alice")
    client = RawClient(production_server.port, forwarded=PROXY)
    assert client.login(headers={"Origin": "https://app.example"}) == 303
    _, _, page = client.request("GET", "/sessions")
    assert "203.0.113.7" in page


def test_https_requests_get_the_origin_check(harness, production_server):
    harness.make_user("alice")
    client = RawClient(production_server.port, forwarded=PROXY)
    token = client.csrf()
    status, _, _ = client.request(
        "POST", "/login",
        {"username": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert status == 400
    assert harness.count("sessions") == 0


def test_forwarded_headers_from_an_untrusted_address_are_ignored(harness, tmp_path):
    harness.make_user("alice")
    server = run_app_server(
        tmp_path, harness.url, base="production.ini",
        app={"auth.bcrypt_rounds": "4", **MAIL_READY},
        server={"trusted_proxy": "127.0.0.2"},
        env={"SESSAPP_DATABASE_URL": harness.url, "SESSAPP_SECRET": SECRET},
    )
    try:
        client = RawClient(server.port, forwarded=PROXY)
        # Seen as plain http from 127.0.0.1: no https Origin check to pass, and the
        # forged client address is not believed.
        assert client.login() == 303
        _, _, page = client.request("GET", "/sessions")
        assert "203.0.113.7" not in page
        assert "127.0.0.1" in page
    finally:
        server.stop()


@pytest.mark.parametrize(("key", "value", "named"), [
    ("session.secure", "false", "session.secure"),
    ("session.cookie_name", "session", "__Host-"),
    ("session.domain", "example.com", "Domain"),
    ("pyramid.reload_templates", "true", "reload_templates"),
    ("pyramid.debug_notfound", "true", "debug_notfound"),
    ("session.idel_timeout", "60", "session.idel_timeout"),
    ("mail.host", "", "mail.host is not set"),
    ("sessapp.base_url", "", "sessapp.base_url is not set"),
    ("mail.sender", "", "mail.sender is not set"),
])
def test_pserve_refuses_insecure_production_in_one_line(tmp_path, key, value, named):
    app = {**MAIL_READY, key: value}
    if not value:
        del app[key]
    assert_refused_in_one_line(tmp_path, app, {"SESSAPP_SECRET": SECRET}, named)


@pytest.mark.parametrize(("environ", "named"), [
    ({}, "SESSAPP_SECRET is not set"),
    ({"SESSAPP_SECRET": "too-short"}, "SESSAPP_SECRET must be at least 32 bytes"),
])
def test_pserve_refuses_production_without_a_secret_in_one_line(tmp_path, environ, named):
    line = assert_refused_in_one_line(tmp_path, {}, environ, named)
    assert "too-short" not in line


def assert_refused_in_one_line(tmp_path, app, environ, named) -> str:
    port = free_port()
    ini = write_ini(tmp_path / "bad.ini", base="production.ini",
                    app=app, server={"listen": f"127.0.0.1:{port}"})
    result = subprocess.run(
        [str(BIN / "pserve"), str(ini)], capture_output=True, text=True, timeout=60,
        # PYTHONPATH kept: the code under test, not whichever copy is installed.
        env={"PATH": str(BIN), "SESSAPP_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite",
             **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}, **environ},
    )
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("sessapp:")]
    assert len(error_lines) == 1, result.stderr
    assert named in error_lines[0]
    assert "Traceback" not in result.stderr
    return error_lines[0]


def test_two_servers_on_one_database_behave_as_one(harness, tmp_path):
    harness.make_user("alice")
    first = run_app_server(tmp_path, harness.url)
    second = run_app_server(tmp_path, harness.url)
    try:
        browser = RawClient(first.port)
        assert browser.login() == 303
        assert browser.request("GET", "/profile")[0] == 200
        elsewhere = RawClient(second.port)
        elsewhere.cookies = dict(browser.cookies)
        assert elsewhere.request("GET", "/profile")[0] == 200
        token = elsewhere.csrf("/profile")
        assert elsewhere.request("POST", "/logout", {"csrf_token": token})[0] == 303
        status, headers, _ = browser.request("GET", "/profile")
        assert status == 303
        assert "/login" in headers["Location"]
    finally:
        first.stop()
        second.stop()
