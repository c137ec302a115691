"""The security policies: Pyramid's interface, and a third-party policy plugged in
by dotted name from an INI file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest
from conftest import new_browser
from custom_policy import HEADER, HeaderPolicy
from pyramid.interfaces import ISecurityPolicy
from pyramid.paster import get_app
from pyramid.path import DottedNameResolver
from servers import write_ini
from zope.interface.verify import verifyClass, verifyObject

from sessapp.security.policies import BearerSecurityPolicy, PolicyChain, SessionSecurityPolicy
from sessapp.settings import DATABASE_URL_ENV

CUSTOM = "custom_policy.HeaderPolicy"
TESTS = Path(__file__).resolve().parent


# -- the interface ---------------------------------------------------------------


@pytest.mark.parametrize("policy", [
    SessionSecurityPolicy(),
    BearerSecurityPolicy(),
    PolicyChain([SessionSecurityPolicy(), BearerSecurityPolicy()]),
    PolicyChain([BearerSecurityPolicy()]),
    HeaderPolicy(),
], ids=["session", "bearer", "chain", "bearer-only-chain", "custom"])
def test_policies_implement_isecuritypolicy(policy):
    assert verifyObject(ISecurityPolicy, policy)
    assert verifyClass(ISecurityPolicy, type(policy))


def test_the_running_app_uses_the_chain_from_the_ini(harness):
    policy = harness.registry.queryUtility(ISecurityPolicy)
    assert isinstance(policy, PolicyChain)
    assert [type(p) for p in policy.policies] == [SessionSecurityPolicy, BearerSecurityPolicy]
    assert verifyObject(ISecurityPolicy, policy)


# -- a custom policy from an INI file ------------------------------------------------


@pytest.fixture
def ini_app(tmp_path: Path, harness: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Load the app from an INI written to tmp_path, with ``auth.policies`` given."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    # The policy's module must be importable by its dotted name, however pytest
    # imported this file.
    monkeypatch.syspath_prepend(str(TESTS))
    built: list[Any] = []

    def load(policies: str, name: str = "custom.ini") -> webtest.TestApp:
        ini = write_ini(tmp_path / name, app={
            "sqlalchemy.url": harness.url.replace("%", "%%"),
            "auth.policies": policies,
        })
        app = get_app(str(ini))
        built.append(app)
        return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost",
                                                  "REMOTE_ADDR": "192.0.2.10"})

    yield load
    for app in built:
        app.registry["db_engine"].dispose()


def test_the_custom_policy_module_is_importable_by_its_dotted_name(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    assert DottedNameResolver().resolve(CUSTOM) is HeaderPolicy


def test_a_custom_policy_from_the_ini_is_in_the_chain_in_order(ini_app):
    app = ini_app(f"session {CUSTOM} bearer")
    chain = app.app.registry.queryUtility(ISecurityPolicy)
    assert [type(p).__name__ for p in chain.policies] == [
        "SessionSecurityPolicy", "HeaderPolicy", "BearerSecurityPolicy"]


def test_a_custom_policys_identity_is_honoured(ini_app, harness):
    alice = harness.make_user("alice")
    root = harness.make_user("root", admin=True)
    app = ini_app(f"session {CUSTOM} bearer")

    app.get("/api/me", status=401)
    assert app.get("/api/me", headers={HEADER: str(alice)}).json == {
        "id": alice, "username": "alice", "roles": []}
    page = app.get("/profile", headers={HEADER: str(alice)}, status=200)
    assert page.html.find("h1").get_text(strip=True) == "alice"
    # Its principals feed the ACL: roles count, their absence too.
    app.get("/admin", headers={HEADER: str(alice)}, status=403)
    app.get("/admin", headers={HEADER: str(root)}, status=200)
    # Nothing it does creates a session.
    assert harness.count("sessions") == 0


def test_a_custom_policy_that_finds_nobody_leaves_the_request_anonymous(ini_app, harness):
    harness.make_user("alice")
    app = ini_app(f"session {CUSTOM} bearer")
    for value in ("999999", "abc", "", "-1"):
        app.get("/api/me", headers={HEADER: value}, status=401)
        response = app.get("/profile", headers={HEADER: value}, status=303)
        assert "/login?next=" in response.location


def test_without_the_custom_policy_the_header_means_nothing(ini_app, harness):
    alice = harness.make_user("alice")
    app = ini_app("session bearer")
    app.get("/api/me", headers={HEADER: str(alice)}, status=401)


def test_the_chain_order_decides_who_answers(ini_app, harness):
    harness.make_user("alice")
    bob = harness.make_user("bob")
    browser = new_browser(harness)
    browser.login("alice")
    cookie = browser.session_token

    session_first = ini_app(f"session {CUSTOM} bearer", "session-first.ini")
    session_first.set_cookie("session", cookie)
    assert session_first.get("/api/me", headers={HEADER: str(bob)}).json["username"] == "alice"

    header_first = ini_app(f"{CUSTOM} session bearer", "header-first.ini")
    header_first.set_cookie("session", cookie)
    assert header_first.get("/api/me", headers={HEADER: str(bob)}).json["username"] == "bob"
    assert header_first.get("/api/me").json["username"] == "alice"


def test_a_bearer_request_is_never_answered_by_the_custom_policy(ini_app, harness):
    bob = harness.make_user("bob")
    app = ini_app(f"{CUSTOM} session bearer")
    response = app.get("/api/me", status=401,
                       headers={HEADER: str(bob), "Authorization": "Bearer not-a-token"})
    assert "bob" not in response.text


def test_without_a_bearer_policy_no_policy_answers_a_bearer_request(ini_app, harness):
    """CSRF is skipped for bearer requests: an ambient credential (the custom
    header here, a cookie elsewhere) must not be accepted on one."""
    bob = harness.make_user("bob")
    app = ini_app(f"{CUSTOM} session")
    assert app.get("/api/me", headers={HEADER: str(bob)}).json["username"] == "bob"
    app.get("/api/me", status=401,
            headers={HEADER: str(bob), "Authorization": "Bearer anything"})


@pytest.mark.parametrize("policies", [
    "session custom_polcy.HeaderPolicy bearer",
    "session custom_policy.HeaderPolcy bearer",
    "session sesion bearer",
    "session .HeaderPolicy",
])
def test_a_misspelt_policy_name_fails_at_startup_in_one_clear_line(ini_app, policies):
    with pytest.raises(SystemExit) as excinfo:
        ini_app(policies)
    message = str(excinfo.value.code)
    assert message.startswith("sessapp: configuration error:")
    assert "auth.policies" in message
    assert "\n" not in message
    misspelt = next(name for name in policies.split()
                    if name not in {"session", "bearer", CUSTOM})
    assert misspelt in message


@pytest.mark.parametrize("name", ["custom_policy.NotAPolicy", "custom_policy.HEADER",
                                  "custom_policy"])
def test_an_importable_name_that_is_not_a_policy_fails_at_startup(ini_app, name):
    with pytest.raises(SystemExit) as excinfo:
        ini_app(f"session {name} bearer")
    message = str(excinfo.value.code)
    assert message.startswith("sessapp: configuration error:")
    assert "auth.policies" in message
    assert name in message
