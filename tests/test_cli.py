"""The console scripts as a user runs them: installed entry points in
subprocesses, pointed at the test database by ``SESSAPP_DATABASE_URL`` and at
``testing.ini`` (bcrypt cost 4), checked from the outside: exit status, what they
print, and what a browser sees afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import webtest
from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import PASSWORD, TESTING_INI
from servers import free_port, write_ini
from sqlalchemy import select

from sessapp.accounts import api_tokens
from sessapp.clock import SystemClock
from sessapp.models import AuthEvent, SessionRecord, User
from sessapp.sessions.tokens import new_public_id

ROOT = Path(TESTING_INI).parent
BIN = Path(sys.executable).parent
SCRIPT_TIMEOUT = 60
PSERVE_TIMEOUT = 20
NEW_PASSWORD = "another long passphrase 42"
UNREACHABLE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def run(script: str, *args: str, url: str | None, stdin: str | None = None,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run an installed console script; ``url`` becomes SESSAPP_DATABASE_URL."""
    env = {key: value for key, value in os.environ.items() if key != "SESSAPP_DATABASE_URL"}
    if url is not None:
        env["SESSAPP_DATABASE_URL"] = url
    return subprocess.run(
        [str(BIN / script), *args], input=stdin if stdin is not None else "",
        capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, env=env, cwd=str(cwd),
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Non-zero exit, exactly one line on stderr (containing ``expected``), no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def user(harness: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run sessapp-user on the harness's database.

    The script stamps users with the real time (created, sessions epoch); the
    harness app's clock stands still since the test began. Bring it up to now,
    or every session the app issues next would predate the user's epoch.
    """
    result = run("sessapp-user", "testing.ini", *args, url=harness.url, stdin=stdin)
    harness.clock.current = max(harness.clock.current, SystemClock().now())
    return result


def add_user(harness: Any, name: str, *flags: str, password: str = PASSWORD) -> None:
    result = user(harness, "add", name, *flags, stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    assert f"created user {name}" in result.stdout


def signed_in(browser_factory: Any, name: str, password: str = PASSWORD) -> Any:
    browser = browser_factory()
    browser.login(name, password)
    assert browser.get("/api/me").json["username"] == name
    return browser


def is_anonymous(browser: Any) -> bool:
    return browser.get("/api/me", headers={"Accept": "application/json"},
                       expect_errors=True).status_int == 401


# -- sessapp-initdb ---------------------------------------------------------------


def test_initdb_is_idempotent_and_prints_the_revision(harness):
    head = ScriptDirectory.from_config(Config(TESTING_INI)).get_current_head()
    for _ in range(2):
        result = run("sessapp-initdb", "testing.ini", url=harness.url)
        assert result.returncode == 0, result.stderr
        assert f"revision {head}" in result.stdout
    assert harness.count("users") == 0


def test_initdb_builds_an_empty_database_then_leaves_it_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    first = run("sessapp-initdb", "testing.ini", url=url)
    second = run("sessapp-initdb", "testing.ini", url=url)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1]
    assert "Running upgrade" in first.stderr
    assert "Running upgrade" not in second.stderr


def test_initdb_reports_a_missing_migrations_folder_in_one_line(tmp_path):
    ini = write_ini(tmp_path / "moved.ini")
    text = ini.read_text()
    ini.write_text(re.sub(r"(?m)^script_location = .*$",
                          f"script_location = {tmp_path / 'nowhere'}", text))
    result = run("sessapp-initdb", str(ini), url=f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert_one_line_error(result, "sessapp-initdb:", "nowhere")


# -- sessapp-user add ---------------------------------------------------------------


def test_user_add_reads_the_password_from_stdin_and_the_user_can_sign_in(harness, testapp):
    add_user(harness, "bob")
    assert testapp.login("bob", PASSWORD).status_int == 303
    me = testapp.get("/api/me").json
    assert (me["username"], me["roles"]) == ("bob", [])


def test_user_add_admin_gives_the_admin_role(harness, testapp):
    add_user(harness, "root", "--admin")
    testapp.login("root", PASSWORD)
    assert testapp.get("/api/me").json["roles"] == ["admin"]


@pytest.mark.parametrize("name", ["bob", "BOB"])
def test_user_add_refuses_a_taken_name_in_any_case(harness, name):
    add_user(harness, "bob")
    result = user(harness, "add", name, stdin=PASSWORD + "\n")
    assert_one_line_error(result, "sessapp-user:", "taken")
    assert harness.count("users") == 1


def test_user_add_refuses_a_look_alike_of_a_taken_name(harness):
    add_user(harness, "admin")
    result = user(harness, "add", "\u0430dmin", stdin=PASSWORD + "\n")  # Cyrillic a, U+0430
    assert_one_line_error(result, "sessapp-user:", "That username is taken.")
    assert harness.count("users") == 1


def test_user_add_refuses_a_weak_password(harness):
    result = user(harness, "add", "bob", stdin="short\n")
    assert_one_line_error(result, "sessapp-user:", "12 characters")
    assert harness.count("users") == 0


def test_user_add_without_a_password_on_stdin_fails_in_one_line(harness):
    result = user(harness, "add", "bob", stdin="")
    assert_one_line_error(result, "sessapp-user:", "password")
    assert harness.count("users") == 0


@pytest.mark.parametrize("command", ["set-password", "disable", "enable", "revoke-sessions",
                                     "unlock"])
def test_user_commands_report_an_unknown_user_in_one_line(harness, command):
    result = user(harness, command, "nobody", stdin=NEW_PASSWORD + "\n")
    assert_one_line_error(result, "sessapp-user:", "no such user: nobody")


# -- sessapp-user: what a signed-in browser sees afterwards -------------------------


def test_set_password_changes_it_and_ends_the_users_sessions(harness, browser_factory):
    add_user(harness, "bob")
    browser = signed_in(browser_factory, "bob")

    result = user(harness, "set-password", "bob", stdin=NEW_PASSWORD + "\n")

    assert result.returncode == 0, result.stderr
    assert "ended 1 session" in result.stdout
    assert is_anonymous(browser)
    assert browser_factory().login("bob", PASSWORD, status=422)
    assert signed_in(browser_factory, "bob", NEW_PASSWORD)


def test_set_password_refuses_a_weak_one_and_keeps_the_old(harness, browser_factory):
    add_user(harness, "bob")
    browser = signed_in(browser_factory, "bob")
    result = user(harness, "set-password", "bob", stdin="short\n")
    assert_one_line_error(result, "sessapp-user:")
    assert not is_anonymous(browser)
    assert signed_in(browser_factory, "bob", PASSWORD)


def test_disable_ends_sessions_and_refuses_login_until_enable(harness, browser_factory):
    add_user(harness, "bob")
    browser = signed_in(browser_factory, "bob")

    disabled = user(harness, "disable", "bob")
    assert disabled.returncode == 0, disabled.stderr
    assert is_anonymous(browser)
    browser_factory().login("bob", PASSWORD, status=422)

    enabled = user(harness, "enable", "bob")
    assert enabled.returncode == 0, enabled.stderr
    assert signed_in(browser_factory, "bob")


def _live_token(harness: Any, username: str) -> str:
    """A live API token of ``username``'s, made straight in the database."""
    with harness.transaction() as dbsession:
        owner = dbsession.scalars(select(User).where(User.username == username)).one()
        _, secret = api_tokens.create(dbsession, owner, "script", 30, SystemClock().now(),
                                      ["read"])
    return secret


def _token_status(harness: Any, secret: str) -> int:
    script = webtest.TestApp(harness.app, extra_environ={"HTTP_HOST": "localhost"})
    return script.get("/api/me", headers={"Authorization": f"Bearer {secret}"},
                      status="*").status_int


def test_revoke_sessions_ends_every_session_and_token_of_the_user_only(
        harness, browser_factory):
    add_user(harness, "bob")
    add_user(harness, "eve")
    bob_here, bob_there = signed_in(browser_factory, "bob"), signed_in(browser_factory, "bob")
    eve = signed_in(browser_factory, "eve")
    bobs_token, eves_token = _live_token(harness, "bob"), _live_token(harness, "eve")
    assert _token_status(harness, bobs_token) == 200

    result = user(harness, "revoke-sessions", "bob")

    assert result.returncode == 0, result.stderr
    assert "ended 2 session(s) and revoked 1 API token(s) of bob" in result.stdout
    assert is_anonymous(bob_here)
    assert is_anonymous(bob_there)
    assert _token_status(harness, bobs_token) == 401
    assert not is_anonymous(eve)
    assert _token_status(harness, eves_token) == 200


def _events(harness: Any) -> list[tuple[str, str | None, str | None, str | None]]:
    with harness.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(AuthEvent.event, AuthEvent.username, AuthEvent.ip, AuthEvent.user_agent)
            .order_by(AuthEvent.id))]


def test_unlock_lifts_the_lock_strangers_made_and_is_audited(harness, browser_factory):
    add_user(harness, "bob")
    add_user(harness, "carol")
    limit = harness.registry.sessapp_settings.auth.throttle_max_failures
    for name in ("bob", "carol"):
        attacker = browser_factory(f"203.0.113.{len(name)}")
        for _ in range(limit):
            attacker.login(name, "not the password", status=422)
    browser_factory().login("bob", status=429)
    result = user(harness, "unlock", "BOB")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"unlocked bob; forgot {limit} failed sign-in(s)"
    browser_factory().login("bob", status=303)
    browser_factory().login("carol", status=429)  # only the one named
    assert [event[0] for event in _events(harness)].count("shell_unlocked") == 1


def test_every_account_change_from_the_shell_is_an_auth_event(harness, browser_factory):
    add_user(harness, "bob")
    signed_in(browser_factory, "bob")
    for args, stdin in ((("set-password", "bob"), NEW_PASSWORD + "\n"),
                        (("revoke-sessions", "bob"), None), (("disable", "bob"), None),
                        (("enable", "bob"), None), (("list",), None)):
        assert user(harness, *args, stdin=stdin).returncode == 0

    shell = [event for event in _events(harness) if event[0].startswith("shell_")]
    assert [event[0] for event in shell] == [
        "shell_user_added", "shell_password_set", "shell_sessions_revoked",
        "shell_disabled", "shell_enabled",
    ]
    for _event, username, ip, agent in shell:
        assert username == "bob" and ip is None
        assert agent.startswith("sessapp-user, run by "), agent
    # An admin reads them in words, with the rest of the trail.
    add_user(harness, "root", "--admin")
    admin = signed_in(browser_factory, "root")
    page = admin.get("/admin").text
    assert "Account created with sessapp-user" in page
    assert "Account disabled with sessapp-user" in page


def test_a_refused_shell_command_leaves_no_auth_event(harness):
    add_user(harness, "bob")
    before = _events(harness)
    assert user(harness, "set-password", "bob", stdin="short\n").returncode != 0
    assert user(harness, "add", "bob", stdin=PASSWORD + "\n").returncode != 0
    assert _events(harness) == before


def test_list_prints_every_user_with_roles_and_state(harness):
    add_user(harness, "bob")
    add_user(harness, "root", "--admin")
    assert user(harness, "disable", "bob").returncode == 0

    result = user(harness, "list")

    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[1:] for row in rows] == [["bob", "-", "disabled", "-"],
                                         ["root", "admin", "active", "-"]]


def test_set_email_normalizes_marks_verified_and_is_audited(harness):
    add_user(harness, "bob")
    result = user(harness, "set-email", "BOB", "Bob@Example.ORG")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "e-mail address of bob set to Bob@example.org (verified)"
    with harness.engine.connect() as connection:
        email, verified = connection.execute(
            select(User.email, User.email_verified_at).where(User.username == "bob")).one()
    assert email == "Bob@example.org" and verified is not None
    assert [event[0] for event in _events(harness)][-1] == "shell_email_set"
    listed = user(harness, "list").stdout.split("\t")
    assert listed[-1].strip() == "Bob@example.org"


@pytest.mark.parametrize(("args", "expected"), [
    (("set-email", "nobody", "a@example.org"), "no such user: nobody"),
    (("set-email", "bob", "not an address"), "not a valid e-mail address"),
    (("set-email", "bob", "CAROL@example.org"), "belongs to another account"),
])
def test_set_email_refusals_are_one_line(harness, args, expected):
    add_user(harness, "bob")
    add_user(harness, "carol")
    assert user(harness, "set-email", "carol", "carol@example.org").returncode == 0
    assert_one_line_error(user(harness, *args), "sessapp-user:", expected)


# -- failures before any account is touched ------------------------------------------


SCRIPTS = [
    ("sessapp-user", ["list"]),
    ("sessapp-gc", []),
    ("sessapp-initdb", []),
]


@pytest.mark.parametrize(("script", "args"), SCRIPTS)
def test_missing_ini_file_is_one_line(tmp_path, script, args):
    result = run(script, str(tmp_path / "absent.ini"), *args, url=None)
    assert_one_line_error(result, f"{script}:", "absent.ini")


@pytest.mark.parametrize(("script", "args"), SCRIPTS)
def test_unreachable_database_is_one_line(script, args):
    result = run(script, "testing.ini", *args, url=UNREACHABLE_URL)
    assert_one_line_error(result, f"{script}:", "database error")


@pytest.mark.parametrize(("script", "args"), SCRIPTS)
def test_misspelt_setting_in_a_copied_ini_is_one_line_naming_it(tmp_path, script, args):
    ini = write_ini(tmp_path / "copy.ini", app={"session.idel_timeout": "60"})
    result = run(script, str(ini), *args, url=f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert_one_line_error(result, f"{script}:", "session.idel_timeout")


def test_pserve_refuses_a_misspelt_setting_in_one_line(tmp_path):
    port = free_port()
    ini = write_ini(tmp_path / "typo.ini", app={"session.idel_timeout": "60"},
                    server={"listen": f"127.0.0.1:{port}"})
    env = {**os.environ, "SESSAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"}
    process = subprocess.Popen([str(BIN / "pserve"), str(ini)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    try:
        stdout, stderr = process.communicate(timeout=PSERVE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
        pytest.fail("pserve started despite the misspelt setting")
    assert process.returncode != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "session.idel_timeout" in lines[0]
    assert "Traceback" not in stderr + stdout


# -- sessapp-gc ---------------------------------------------------------------------


def _session_row(expires_at: Any) -> SessionRecord:
    return SessionRecord(
        token_hash=os.urandom(32).hex(), public_id=new_public_id(), user_id=None,
        data="{}", version=1, created_at=expires_at - timedelta(hours=2),
        last_seen_at=expires_at - timedelta(hours=1), expires_at=expires_at,
    )


@pytest.mark.parametrize("batch_size", ["2", "5"])
def test_gc_deletes_expired_sessions_in_batches_and_keeps_live_ones(harness, batch_size):
    now = SystemClock().now()
    with harness.transaction() as dbsession:
        dbsession.add_all([_session_row(now - timedelta(minutes=m)) for m in range(1, 6)])
        dbsession.add_all([_session_row(now + timedelta(minutes=m)) for m in range(10, 13)])

    result = run("sessapp-gc", "testing.ini", "--batch-size", batch_size, url=harness.url)

    assert result.returncode == 0, result.stderr
    assert "deleted 5 expired sessions" in result.stdout
    assert harness.count("sessions") == 3
    assert harness.count("sessions", "expires_at <= :now", now=now) == 0


def test_gc_deletes_auth_events_past_retention_only(harness):
    now = SystemClock().now()
    with harness.transaction() as dbsession:
        dbsession.add_all([
            AuthEvent(occurred_at=now - timedelta(days=91), event="login_success"),
            AuthEvent(occurred_at=now - timedelta(days=89), event="login_success"),
        ])
    result = run("sessapp-gc", "testing.ini", url=harness.url)
    assert result.returncode == 0, result.stderr
    assert "1 old auth events" in result.stdout
    assert harness.count("auth_events") == 1


def test_gc_refuses_a_batch_size_below_one(harness):
    result = run("sessapp-gc", "testing.ini", "--batch-size", "0", url=harness.url)
    assert result.returncode != 0
    assert "--batch-size must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr
