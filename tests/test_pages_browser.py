"""What a person meets in the pages, in headless Chromium: keyboard-only use,
the password hint as they type, the notices, the phone layout, the theme that
follows the system, and the admin's confirmation step.

One browser and one ``pserve`` for the module (see tests/browsers.py); the
database is emptied after each test.
"""

from __future__ import annotations

import re

import pytest
from browsers import (
    DESKTOP,
    PHONE,
    keep_failure_screenshots,
    launch,
    needs_chromium,
    serve_for_module,
    sign_in,
)
from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite"), needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[testing]')"
)
DARK_BACKGROUND = "rgb(22, 23, 26)"
LIGHT_BACKGROUND = "rgb(250, 250, 250)"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from serve_for_module(tmp_path_factory)


@pytest.fixture(scope="module")
def chromium():
    yield from launch(playwright_api)


@pytest.fixture
def harness(site):
    yield site.harness
    site.harness.wipe()


@pytest.fixture
def open_page(chromium, site, harness, request):
    contexts = []

    def factory(path: str = "/", *, viewport=DESKTOP, color_scheme="light"):
        context = chromium.new_context(base_url=site.url, viewport=viewport,
                                       color_scheme=color_scheme)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(path)
        return page

    yield factory
    keep_failure_screenshots(request, contexts)
    for context in contexts:
        context.close()


def focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.textContent")


# -- keyboard only -----------------------------------------------------------------


def test_sign_in_with_the_keyboard_alone(harness, open_page):
    harness.make_user("alice")
    page = open_page("/login")
    assert focused(page) == "username"  # autofocus
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/profile$"))


def test_the_skip_link_is_the_first_stop_and_reaches_the_content(open_page):
    page = open_page("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def tab_to(page, name: str, limit: int = 60) -> None:
    """Press Tab until the focused element's accessible text contains ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate("(document.activeElement.getAttribute('aria-label') || '')"
                              " + ' ' + document.activeElement.textContent")
        if name in label:
            return
    raise AssertionError(f"no focusable element named {name!r}")


def test_revoke_another_session_with_the_keyboard(harness, open_page):
    harness.make_user("alice")
    first, second = open_page(), open_page()
    sign_in(first)
    sign_in(second)
    first.goto("/sessions")
    tab_to(first, "Revoke")
    first.keyboard.press("Enter")
    first.wait_for_load_state()
    assert "That session has been signed out." in first.locator(".flash").inner_text()
    assert first.locator("table.sessions tbody tr").count() == 1
    second.goto("/profile")
    second.wait_for_url(re.compile(r"/login\?next="))
    assert "Please sign in to continue." in second.locator(".notice").inner_text()


def test_an_admin_disables_a_user_with_the_keyboard_after_confirming(harness, open_page):
    harness.make_user("root", admin=True)
    harness.make_user("bob")
    page = open_page()
    sign_in(page, "root")
    page.goto("/admin")
    tab_to(page, "Disable bob")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/disable/confirm$"))
    assert "Disable bob?" in page.locator("h1").inner_text()
    assert harness.count("users", "disabled = :yes", yes=True) == 0
    tab_to(page, "Disable bob")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin$"))
    assert "bob is disabled" in page.locator(".flash").inner_text()
    assert harness.count("users", "disabled = :yes", yes=True) == 1


def test_destructive_buttons_look_destructive(harness, open_page):
    harness.make_user("root", admin=True)
    harness.make_user("bob")
    page = open_page()
    sign_in(page, "root")
    page.goto("/admin")
    error_colour = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--error').trim()")
    assert error_colour == "#b3261e"
    link = page.get_by_role("link", name="Disable bob")
    assert link.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"
    link.click()
    button = page.locator("main").get_by_role("button", name="Disable bob")
    assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(179, 38, 30)"


# -- the password hint -----------------------------------------------------------------


def test_the_strength_hint_follows_the_servers_rules_as_one_types(open_page):
    page = open_page("/register")
    rules = page.locator("#password-rules").inner_text()
    assert "at least 12 characters" in rules
    hint = page.locator("#password-hint")
    page.get_by_label("Username").fill("marguerite")
    password = page.get_by_label("Password", exact=True)
    password.press_sequentially("short")
    assert hint.inner_text() == "Too short: 7 more characters to go."
    assert hint.get_attribute("data-strength") == "weak"
    password.fill("my name is Marguerite")
    password.dispatch_event("input")
    assert hint.inner_text() == "It contains your username."
    password.fill("sessapp rocks hard")
    password.dispatch_event("input")
    assert hint.inner_text() == "It contains the site's name."
    password.fill("aaaaaaaaaaaaaaaa")
    password.dispatch_event("input")
    assert "Too easy to guess" in hint.inner_text()
    password.fill("lantern orbit")
    password.dispatch_event("input")
    assert hint.get_attribute("data-strength") == "fair"
    password.fill("lantern orbit pickle meadow")
    password.dispatch_event("input")
    assert hint.get_attribute("data-strength") == "strong"
    password.fill("")
    password.dispatch_event("input")
    assert hint.inner_text() == ""


def test_every_error_of_the_form_at_once(open_page):
    page = open_page("/register")
    page.get_by_label("Username").fill("two words")
    page.get_by_label("Password", exact=True).fill("short")
    with page.expect_response(re.compile(r"/register$")) as answer:
        page.get_by_role("button", name="Create account").click()
    assert answer.value.status == 422
    assert "only letters" in page.locator("#username-error").inner_text()
    assert "at least 12" in page.locator("#password-error").inner_text()
    assert "username-error" in page.get_by_label("Username").get_attribute("aria-describedby")


# -- notices -----------------------------------------------------------------------------


def test_welcome_then_signed_out(open_page):
    page = open_page("/register")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/profile$"))
    assert "Welcome, newcomer!" in page.locator(".flash").inner_text()
    page.goto("/login")
    assert "already signed in as newcomer" in page.locator(".notice").inner_text()
    page.locator("header").get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "You have signed out." in page.locator(".flash").inner_text()
    page.reload()
    assert page.locator(".flash").count() == 0


# -- phone --------------------------------------------------------------------------------


def test_on_a_phone_session_rows_keep_their_labels(harness, open_page):
    harness.make_user("alice")
    other = open_page()
    sign_in(other)
    page = open_page(viewport=PHONE)
    sign_in(page)
    page.goto("/sessions")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    first_cell = page.locator("table.sessions tbody tr td").first
    label = first_cell.evaluate("e => getComputedStyle(e, '::before').content")
    assert label == '"Browser"'
    assert page.get_by_role("heading", name="Log out everywhere else").is_visible()
    page.get_by_label("Name", exact=True).fill("phone token")
    page.locator("#token-password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    page.wait_for_selector("#new-token")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_one_session_offers_no_log_out_everywhere_else(harness, open_page):
    harness.make_user("alice")
    page = open_page()
    sign_in(page)
    page.goto("/sessions")
    assert page.get_by_role("heading", name="Log out everywhere else").count() == 0
    assert "only browser signed in" in page.locator("main").inner_text()


# -- theme -------------------------------------------------------------------------------------


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_theme_follows_the_system_until_one_is_picked(open_page):
    page = open_page("/", color_scheme="dark")
    assert background(page) == DARK_BACKGROUND
    assert page.get_by_role("button", name="Switch to light theme").is_visible()
    assert not page.get_by_role("button", name="Switch to dark theme").is_visible()
    page.get_by_role("button", name="Switch to light theme").click()
    page.wait_for_load_state()
    assert background(page) == LIGHT_BACKGROUND  # the pick beats the system's preference
    assert page.get_by_role("button", name="Switch to dark theme").is_visible()
    light = open_page("/", color_scheme="light")
    assert background(light) == LIGHT_BACKGROUND


def test_the_favicon_is_the_sites_own(open_page):
    page = open_page("/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    response = page.request.get(href)
    assert response.ok and response.headers["content-type"].startswith("image/svg+xml")
