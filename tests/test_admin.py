"""The admin pages: who may see them, and what disabling and revoking do at once."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PASSWORD, Browser, new_browser, signed_in_as

from sessapp.accounts.signin import LOGIN_FAILED
from sessapp.models import User
from sessapp.templating import describe_event

USER_ACTIONS = ("revoke-sessions", "disable", "enable")


# -- helpers ----------------------------------------------------------------


def admin_post(browser: Browser, path: str, *, status: int = 303,
               form_page: str = "/profile") -> Any:
    token = browser.csrf_token(form_page)
    return browser.post(path, {"csrf_token": token}, status=status)


def bearer_token_for(browser: Browser) -> str:
    """Create an API token through the API with the browser's session."""
    token = browser.csrf_token("/profile")
    return browser.post_json("/api/tokens", {"name": "script", "expires_in_days": 7,
                                                "current_password": PASSWORD},
                             headers={"X-CSRF-Token": token}, status=201).json["token"]


def api_me_status(harness: Any, secret: str) -> int:
    """Status of /api/me for a cookie-less script holding ``secret``."""
    script = Browser(harness.app, extra_environ={"HTTP_HOST": "localhost"})
    return script.get("/api/me", headers={"Authorization": f"Bearer {secret}"},
                      status="*").status_int


def users_table(page: Any) -> dict[str, dict[str, str]]:
    """username -> {roles, sessions, state} from the admin page's users table."""
    table = page.html.find("h2", string="Users").find_next("table")
    users = {}
    for row in table.select("tbody tr"):
        name, roles, sessions, state = (
            cell.get_text(strip=True) for cell in row.find_all("td")[:4]
        )
        users[name] = {"roles": roles, "sessions": sessions, "state": state}
    return users


def events_table(page: Any) -> list[tuple[str, str]]:
    """(event, username) of the recent auth events, newest first."""
    table = page.html.find("h2", string="Recent auth events").find_next("table")
    events = []
    for row in table.select("tbody tr"):
        cells = [cell.get_text(strip=True) for cell in row.find_all("td")]
        events.append((cells[1], cells[2]))
    return events


@pytest.fixture
def root(harness: Any) -> int:
    return harness.make_user("root", admin=True)


@pytest.fixture
def admin(testapp: Browser, root: int) -> Browser:
    """``testapp`` signed in as the admin ``root``."""
    testapp.login("root")
    return testapp


@pytest.fixture
def bob(harness: Any) -> int:
    return harness.make_user("bob")


@pytest.fixture
def bobs_browser(harness: Any, bob: int) -> Browser:
    browser = new_browser(harness, "198.51.100.20")
    browser.login("bob")
    return browser


# -- who may see /admin --------------------------------------------------------


def test_admin_page_sends_anonymous_visitors_to_login(testapp, harness):
    response = testapp.get("/admin", status=303)
    assert response.location.endswith("/login?next=%2Fadmin")


def test_admin_page_is_403_html_for_a_signed_in_non_admin(harness, bobs_browser):
    response = bobs_browser.get("/admin", status=403)
    assert response.content_type == "text/html"
    assert "Forbidden" in response.text
    assert "Recent auth events" not in response.text


def test_admin_page_lists_users_session_counts_and_recent_events(admin, harness, bob):
    harness.make_user("carol")
    for ip in ("198.51.100.1", "198.51.100.2"):
        new_browser(harness, ip).login("bob")
    page = admin.get("/admin", status=200)
    users = users_table(page)
    assert users["root"] == {"roles": "admin", "sessions": "1", "state": "active"}
    assert users["bob"] == {"roles": "", "sessions": "2", "state": "active"}
    assert users["carol"] == {"roles": "", "sessions": "0", "state": "active"}
    events = events_table(page)
    assert (describe_event("login_success"), "bob") in events
    assert (describe_event("login_success"), "root") in events


def test_admin_page_shows_failed_logins(admin, harness, bob):
    new_browser(harness, "198.51.100.3").login("bob", "a wrong password", status=422)
    assert (describe_event("login_failure"), "bob") in events_table(admin.get("/admin"))


# -- disable / enable ------------------------------------------------------------


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(
        admin, harness, bob, bobs_browser):
    secret = bearer_token_for(bobs_browser)
    second_browser = new_browser(harness, "198.51.100.21")
    second_browser.login("bob")
    assert api_me_status(harness, secret) == 200
    assert signed_in_as(bobs_browser) == "bob"

    response = admin_post(admin, f"/admin/users/{bob}/disable")
    assert response.location.endswith("/admin")
    assert signed_in_as(bobs_browser) is None
    assert signed_in_as(second_browser) is None
    assert api_me_status(harness, secret) == 401
    assert harness.count("sessions", "user_id = :id", id=bob) == 0
    assert harness.count("api_tokens", "user_id = :id AND revoked_at IS NULL", id=bob) == 0
    assert users_table(admin.get("/admin"))["bob"]["state"] == "disabled"


def test_a_disabled_user_cannot_log_in_and_gets_the_generic_message(admin, harness, bob):
    admin_post(admin, f"/admin/users/{bob}/disable")
    disabled = new_browser(harness, "198.51.100.30").login("bob", PASSWORD, status=422)
    wrong = new_browser(harness, "198.51.100.31").login("bob", "a wrong password", status=422)
    unknown = new_browser(harness, "198.51.100.32").login("nobody", PASSWORD, status=422)
    for response in (disabled, wrong, unknown):
        assert LOGIN_FAILED in response.text
        assert "disabled" not in response.text.lower()
    assert harness.count("sessions", "user_id = :id", id=bob) == 0


def test_enabling_restores_login_but_not_the_ended_sessions_or_tokens(
        admin, harness, bob, bobs_browser):
    secret = bearer_token_for(bobs_browser)
    admin_post(admin, f"/admin/users/{bob}/disable")
    admin_post(admin, f"/admin/users/{bob}/enable")
    assert users_table(admin.get("/admin"))["bob"]["state"] == "active"
    fresh = new_browser(harness, "198.51.100.40")
    fresh.login("bob")
    assert signed_in_as(fresh) == "bob"
    assert signed_in_as(bobs_browser) is None
    assert api_me_status(harness, secret) == 401


def test_an_admin_cannot_disable_themselves(admin, harness, root):
    response = admin_post(admin, f"/admin/users/{root}/disable")
    assert response.location.endswith("/admin")
    assert harness.count("users", "id = :id AND disabled = :no", id=root, no=False) == 1
    assert harness.count("sessions", "user_id = :id", id=root) == 1
    page = admin.get("/admin", status=200)
    assert "cannot disable your own account" in page.text
    assert signed_in_as(admin) == "root"


# -- revoke sessions --------------------------------------------------------------


def test_revoke_sessions_ends_every_session_of_that_user(admin, harness, bob, bobs_browser):
    carol = harness.make_user("carol")
    carols = new_browser(harness, "198.51.100.50")
    carols.login("carol")
    second_browser = new_browser(harness, "198.51.100.21")
    second_browser.login("bob")

    response = admin_post(admin, f"/admin/users/{bob}/revoke-sessions")
    assert response.location.endswith("/admin")
    assert signed_in_as(bobs_browser) is None
    assert signed_in_as(second_browser) is None
    assert harness.count("sessions", "user_id = :id", id=bob) == 0
    assert signed_in_as(carols) == "carol"
    assert harness.count("sessions", "user_id = :id", id=carol) == 1
    assert signed_in_as(admin) == "root"
    # Not disabled: bob may sign in again.
    new_browser(harness, "198.51.100.22").login("bob")


def test_revoke_all_sessions_ends_everyone_elses_but_keeps_the_admins_current(
        admin, harness, bob, bobs_browser):
    harness.make_user("carol")
    carols = new_browser(harness, "198.51.100.50")
    carols.login("carol")
    admins_other = new_browser(harness, "198.51.100.60")
    admins_other.login("root")

    response = admin_post(admin, "/admin/revoke-all-sessions")
    assert response.location.endswith("/admin")
    for browser in (bobs_browser, carols, admins_other):
        assert signed_in_as(browser) is None
    assert signed_in_as(admin) == "root"
    assert harness.count("sessions", "user_id IS NOT NULL") == 1


# -- refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_a_non_admin_posting_a_user_action_gets_403_and_changes_nothing(
        harness, bobs_browser, action):
    carol = harness.make_user("carol")
    carols = new_browser(harness, "198.51.100.50")
    carols.login("carol")
    if action == "enable":
        with harness.transaction() as dbsession:
            dbsession.get(User, carol).disabled = True
    response = admin_post(bobs_browser, f"/admin/users/{carol}/{action}", status=403)
    assert response.content_type == "text/html"
    expected_disabled = action == "enable"
    assert harness.count("users", "id = :id AND disabled = :flag",
                         id=carol, flag=expected_disabled) == 1
    if not expected_disabled:
        assert signed_in_as(carols) == "carol"
    assert signed_in_as(bobs_browser) == "bob"


def test_a_non_admin_cannot_revoke_all_sessions(harness, bob, bobs_browser):
    harness.make_user("carol")
    carols = new_browser(harness, "198.51.100.50")
    carols.login("carol")
    admin_post(bobs_browser, "/admin/revoke-all-sessions", status=403)
    assert signed_in_as(carols) == "carol"
    assert harness.count("sessions", "user_id IS NOT NULL") == 2


@pytest.mark.parametrize("path", [
    "/admin/users/{bob}/disable", "/admin/users/{bob}/revoke-sessions",
    "/admin/revoke-all-sessions",
])
def test_anonymous_admin_posts_go_to_login_and_change_nothing(
        testapp, harness, bob, bobs_browser, path):
    response = admin_post(testapp, path.format(bob=bob), status=303, form_page="/login")
    assert "/login" in response.location
    assert signed_in_as(bobs_browser) == "bob"
    assert harness.count("users", "disabled = :yes", yes=True) == 0


@pytest.mark.parametrize("path", [
    "/admin/users/999999/disable", "/admin/users/999999/revoke-sessions",
    "/admin/users/not-a-number/disable", "/admin/users/99999999999999999999/disable",
    "/admin/users/-1/enable", "/admin/users/{bob}/delete",
    "/admin/users/{bob}/promote", "/admin/users/{bob}/Disable",
])
def test_unknown_user_or_action_is_404(admin, harness, bob, bobs_browser, path):
    admin_post(admin, path.format(bob=bob), status=404)
    assert signed_in_as(bobs_browser) == "bob"
    assert harness.count("users", "disabled = :yes", yes=True) == 0


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_a_get_never_performs_a_user_action(admin, harness, bob, bobs_browser, action):
    admin.get(f"/admin/users/{bob}/{action}", status=404)
    assert signed_in_as(bobs_browser) == "bob"
    assert harness.count("users", "disabled = :yes", yes=True) == 0


@pytest.mark.parametrize("path", [
    "/admin/users/{bob}/disable", "/admin/users/{bob}/revoke-sessions",
    "/admin/revoke-all-sessions",
])
@pytest.mark.parametrize("token", [None, "forged"])
def test_admin_posts_need_a_csrf_token(admin, harness, bob, bobs_browser, path, token):
    form = {} if token is None else {"csrf_token": token}
    admin.post(path.format(bob=bob), form, status=400)
    assert signed_in_as(bobs_browser) == "bob"
    assert harness.count("users", "disabled = :yes", yes=True) == 0
    assert harness.count("sessions", "user_id = :id", id=bob) == 1


def test_admin_enable_needs_a_csrf_token(admin, harness, bob):
    admin_post(admin, f"/admin/users/{bob}/disable")
    admin.post(f"/admin/users/{bob}/enable", status=400)
    assert harness.count("users", "id = :id AND disabled = :yes", id=bob, yes=True) == 1
