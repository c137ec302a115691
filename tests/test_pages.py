"""What the pages say and offer, read through WebTest: every form error at
once, the password rules the server applies, notices a person expects, the
admin's confirmation step and event filters, the signed-in home page."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PASSWORD, new_browser, signed_in_as

from sessapp.accounts import admin as admin_actions
from sessapp.accounts.password_policy import MAX_PASSWORD_BYTES
from sessapp.notices import COOKIE as NOTICE_COOKIE


def described_by(page: Any, field_id: str) -> list[str]:
    return page.html.find(id=field_id).get("aria-describedby", "").split()


def error_text(page: Any, error_id: str) -> str:
    found = page.html.find(id=error_id)
    return "" if found is None else found.get_text(" ", strip=True)


# -- every error at once ---------------------------------------------------------


def test_registration_shows_the_username_and_the_password_errors_together(testapp, harness):
    harness.make_user("taken")
    token = testapp.csrf_token("/register")
    page = testapp.post("/register", {"username": "Taken", "password": "short",
                                      "csrf_token": token}, status=422)
    assert "taken" in error_text(page, "username-error")
    assert "at least 12 characters" in error_text(page, "password-error")
    assert "username-error" in described_by(page, "username")
    assert "password-error" in described_by(page, "password")
    assert harness.count("users") == 1


def test_a_malformed_username_does_not_hide_the_password_error(testapp, harness):
    token = testapp.csrf_token("/register")
    page = testapp.post("/register", {"username": "two words", "password": "password1234",
                                      "csrf_token": token}, status=422)
    assert "only letters" in error_text(page, "username-error")
    assert "commonly used" in error_text(page, "password-error")
    assert harness.count("users") == 0


def test_password_change_shows_both_a_wrong_current_and_a_weak_new_password(testapp, harness):
    harness.make_user("alice")
    testapp.login()
    token = testapp.csrf_token("/password")
    page = testapp.post("/password", {"current_password": "not it", "new_password": "short",
                                      "csrf_token": token}, status=422)
    assert error_text(page, "current-error")
    assert "at least 12 characters" in error_text(page, "new-error")
    assert "new-error" in described_by(page, "new_password")
    # The wrong password was counted as a failed re-authentication all the same.
    assert harness.count("auth_events", "event = 'reauth_failure'") == 1
    testapp.logout()
    testapp.login()  # the old password still works: nothing changed


def test_a_weak_new_password_alone_is_one_error(testapp, harness):
    harness.make_user("alice")
    testapp.login()
    token = testapp.csrf_token("/password")
    page = testapp.post("/password", {"current_password": PASSWORD, "new_password": "short",
                                      "csrf_token": token}, status=422)
    assert error_text(page, "current-error") == ""
    assert error_text(page, "new-error")


# -- the rules, before the form is sent ----------------------------------------------


def test_the_register_page_states_the_servers_rules(make_harness):
    app = make_harness(**{"auth.password_min_length": 16})
    page = new_browser(app).get("/register")
    rules = page.html.find(id="password-rules").get_text(" ", strip=True)
    assert "at least 16 characters" in rules
    hint = page.html.find(id="password-hint")
    assert hint["data-min-length"] == "16"
    assert hint["data-max-bytes"] == str(MAX_PASSWORD_BYTES)
    assert hint["data-site-words"] == "sessapp"
    assert hint["data-username-field"] == "username"
    assert "password-rules" in described_by(page, "password")
    script = page.html.find("script", src=True)
    assert script["src"].endswith("/static/password-hint.js")
    assert page.html.find("script", src=False) is None  # the CSP allows no inline script


def test_the_password_page_gives_the_hint_the_users_name(testapp, harness):
    harness.make_user("alice")
    testapp.login()
    hint = testapp.get("/password").html.find(id="new_password-hint")
    assert hint["data-username"] == "alice"
    assert hint["data-min-length"] == "12"


# -- notices ---------------------------------------------------------------------


def test_welcome_after_registering(testapp):
    token = testapp.csrf_token("/register")
    testapp.post("/register", {"username": "newcomer", "password": PASSWORD,
                               "csrf_token": token}, status=303)
    flash = testapp.get("/profile").html.find(class_="flash").get_text(" ", strip=True)
    assert "Welcome, newcomer!" in flash


def test_signed_out_notice_shows_once_without_a_session(testapp, harness):
    harness.make_user("alice")
    testapp.login()
    response = testapp.logout()
    assert response.headers["Location"].endswith("/")
    home = testapp.get("/")
    assert "You have signed out." in home.html.find(class_="flash").get_text()
    assert testapp.cookies.get(NOTICE_COOKIE) in (None, "")
    assert testapp.session_token is None
    assert harness.count("sessions") == 0
    assert testapp.get("/").html.find(class_="flash") is None


def test_a_notice_cookie_with_unknown_text_shows_nothing(testapp):
    testapp.set_cookie(NOTICE_COOKIE, "You-have-won")
    page = testapp.get("/")
    assert page.html.find(class_="flash") is None
    assert "won" not in page.text


def test_sent_to_sign_in_is_told_why(testapp):
    response = testapp.get("/profile", status=303)
    page = testapp.get(response.location)
    assert "Please sign in to continue." in page.html.find(class_="notice").get_text()
    names = {field.get("name") for field in page.html.find_all("input")}
    assert {"username", "password", "csrf_token", "next"} <= names
    assert testapp.get("/login").html.find(class_="notice") is None


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_a_signed_in_visitor_is_told_so(testapp, harness, path):
    harness.make_user("alice")
    testapp.login()
    page = testapp.get(path, status=200)
    notice = page.html.find(class_="notice").get_text(" ", strip=True)
    assert "already signed in as alice" in notice
    assert page.html.find("form", action=path).find("input", {"name": "username"})


def test_pages_cross_link_sign_in_and_registration(testapp):
    login = testapp.get("/login").html
    assert login.find("a", string="Create an account")["href"] == "/register"
    assert login.find(id="username").has_attr("autofocus")
    register = testapp.get("/register").html
    assert register.find("p", class_="cross-link").find("a")["href"] == "/login"
    assert register.find("a", class_="skip-link")["href"] == "#main"
    assert register.find("main")["id"] == "main"


def test_no_registration_link_when_registration_is_closed(make_harness):
    app = make_harness(**{"sessapp.registration": "false"})
    assert new_browser(app).get("/login").html.find("a", string="Create an account") is None


# -- theme and favicon -------------------------------------------------------------


def test_without_a_choice_the_page_follows_the_system_theme(testapp):
    page = testapp.get("/")
    assert page.html.find("html").get("data-theme") is None
    testapp.set_cookie("theme", "dark")
    assert testapp.get("/").html.find("html")["data-theme"] == "dark"
    testapp.set_cookie("theme", "<blue>")
    assert testapp.get("/").html.find("html").get("data-theme") is None


def test_the_favicon_is_linked_and_served(testapp):
    link = testapp.get("/").html.find("link", rel="icon")
    icon = testapp.get(link["href"])
    assert icon.content_type == "image/svg+xml"
    assert icon.body.startswith(b"<svg")


# -- sessions and home ------------------------------------------------------------------


def test_log_out_everywhere_else_is_offered_only_with_another_session(testapp, harness):
    harness.make_user("alice")
    testapp.login()
    page = testapp.get("/sessions")
    assert page.html.find("form", action="/sessions/revoke-others") is None
    other = new_browser(harness, "192.0.2.20")
    other.login()
    page = testapp.get("/sessions")
    assert page.html.find("form", action="/sessions/revoke-others") is not None
    cells = page.html.select("table.sessions tbody td[data-label]")
    assert {cell["data-label"] for cell in cells} == {"Browser", "IP", "Signed in", "Last seen"}


def test_home_shows_a_signed_in_users_sessions_and_events(testapp, harness):
    harness.make_user("alice")
    testapp.login()
    page = testapp.get("/")
    text = page.html.find("main").get_text(" ", strip=True)
    assert "Firefox on Linux" in text
    assert "this session" in text
    assert "Signed in" in text  # the login_success event


def test_home_for_a_visitor_costs_no_query_and_no_session(testapp, harness):
    harness.sql.clear()
    page = testapp.get("/")
    assert page.html.find("a", string="Create an account") is not None
    assert harness.sql.statements == []
    assert testapp.session_token is None


# -- admin ----------------------------------------------------------------------------


@pytest.fixture
def admin(testapp: Any, harness: Any) -> Any:
    harness.make_user("root", admin=True)
    testapp.login("root")
    return testapp


@pytest.fixture
def bob(harness: Any) -> int:
    return harness.make_user("bob")


@pytest.mark.parametrize("action", ["disable", "revoke-sessions"])
def test_destructive_admin_actions_go_through_a_confirmation_page(admin, harness, bob, action):
    link = admin.get("/admin").html.find("a", href=f"/admin/users/{bob}/{action}/confirm")
    assert "danger" in link["class"]
    page = admin.get(link["href"], status=200)
    form = page.html.find("main").find("form", method="post")
    assert form["action"] == f"/admin/users/{bob}/{action}"
    assert "danger" in form.find("button")["class"]
    assert harness.count("users", "disabled = :yes", yes=True) == 0  # the GET did nothing
    admin.post(form["action"], {"csrf_token": form.find("input")["value"]}, status=303)


def test_ending_everyones_sessions_is_confirmed_first(admin, harness, bob):
    bobs = new_browser(harness, "192.0.2.30")
    bobs.login("bob")
    page = admin.get("/admin/revoke-all-sessions/confirm", status=200)
    assert signed_in_as(bobs) == "bob"
    form = page.html.find("main").find("form", method="post")
    admin.post(form["action"], {"csrf_token": form.find("input")["value"]}, status=303)
    assert signed_in_as(bobs) is None


@pytest.mark.parametrize("path", ["/admin/users/{bob}/enable/confirm",
                                  "/admin/users/{bob}/delete/confirm",
                                  "/admin/users/999999/disable/confirm",
                                  "/admin/users/x/disable/confirm"])
def test_confirmation_pages_exist_only_for_destructive_actions_on_real_users(admin, bob, path):
    admin.get(path.format(bob=bob), status=404)


def test_confirmation_pages_are_for_admins_only(testapp, harness, bob):
    harness.make_user("alice")
    testapp.get(f"/admin/users/{bob}/disable/confirm", status=303)
    testapp.login()
    testapp.get(f"/admin/users/{bob}/disable/confirm", status=403)


def events(page: Any) -> list[tuple[str, str]]:
    table = page.html.find("table", class_="events")
    if table is None:
        return []
    return [tuple(cell.get_text(strip=True) for cell in row.find_all("td")[1:3])
            for row in table.select("tbody tr")]


def test_admin_events_filter_by_user_and_kind(admin, harness, bob):
    stranger = new_browser(harness, "192.0.2.40")
    stranger.login("bob", "wrong password here", status=422)
    stranger.login("bob")
    by_bob = events(admin.get("/admin", {"user": "bob"}))
    assert {user for _, user in by_bob} == {"bob"}
    assert len(by_bob) == 2
    failures = events(admin.get("/admin", {"kind": "login_failure"}))
    assert failures == [("Failed sign-in", "bob")]
    assert events(admin.get("/admin", {"user": "bob", "kind": "login_success"})) == [
        ("Signed in", "bob")]
    select = admin.get("/admin").html.find("select", id="filter-kind")
    assert "login_failure" in [option["value"] for option in select.find_all("option")]


def test_admin_events_are_paged(admin, harness, bob, monkeypatch):
    monkeypatch.setattr(admin_actions, "RECENT_EVENTS", 2)
    failing = new_browser(harness, "192.0.2.50")
    for _ in range(3):
        failing.login("nobody", "wrong password here", status=422)
    assert harness.count("auth_events") == 4  # and root's sign-in
    first = admin.get("/admin")
    assert first.html.find("a", rel="prev") is None
    second = admin.get(first.html.find("a", rel="next")["href"])
    assert len(events(first)) == len(events(second)) == 2
    assert second.html.find("a", rel="next") is None
    assert second.html.find("a", rel="prev") is not None
    assert events(second)[-1] == ("Signed in", "root")  # the oldest comes last
    filtered = admin.get("/admin", {"kind": "login_failure"})
    assert "kind=login_failure" in filtered.html.find("a", rel="next")["href"]


@pytest.mark.parametrize("query", [
    "page=abc", "page=-1", "page=0", "page=99999999999", "page=%FF", "page=%",
    "kind=%3Cscript%3E", "kind=" + "x" * 500, "user=%00", "user=%FF%FE", "user=" + "y" * 5000,
    "page=2&page=3", "kind[]=a", "user=&kind=&page=",
])
def test_junk_in_the_admin_query_is_ignored(admin, query):
    page = admin.get(f"/admin?{query}", status=200)
    assert page.html.find("h2", id="events")
