"""What a person does in the pages, in headless Chromium (Debian's package,
driven by Playwright), against the app served by ``pserve``.

Skipped, with the reason, where no ``chromium`` is on the PATH. A failing test
leaves a screenshot in ``test-artifacts/``. With SESSAPP_SCREENSHOTS=DIR the
tour test also saves the README's screenshots there (``make screenshots``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pyotp
import pytest
from browsers import PHONE, keep_failure_screenshots, launch, needs_chromium, sign_in
from conftest import PASSWORD
from servers import run_app_server

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite"), needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[testing]')"
)

NEW_PASSWORD = "a brand new passphrase here"


@pytest.fixture(scope="module")
def chromium():
    yield from launch(playwright_api)


@pytest.fixture
def server(harness, tmp_path):
    running = run_app_server(tmp_path, harness.url)
    yield running
    running.stop()


@pytest.fixture
def open_page(chromium, server, request):
    """``open_page()`` gives a page in a fresh browser context (its own cookies)."""
    contexts = []

    def factory(path: str = "/"):
        context = chromium.new_context(base_url=server.url, viewport={"width": 1100,
                                                                      "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(path)
        return page

    yield factory
    keep_failure_screenshots(request, contexts)
    for context in contexts:
        context.close()


def screenshot_for_docs(page, name: str) -> None:
    folder = os.environ.get("SESSAPP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_sign_up_lands_signed_in_on_the_profile(open_page):
    page = open_page("/register")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/profile$"))
    assert page.locator("h1").inner_text() == "newcomer"
    assert page.get_by_role("button", name="Log out").first.is_visible()


def test_weak_password_is_explained_next_to_the_field(open_page):
    page = open_page("/register")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    error = page.locator("#password-error")
    assert "at least 12 characters" in error.inner_text()
    described_by = page.get_by_label("Password").get_attribute("aria-describedby").split()
    assert "password-error" in described_by


def test_tour_sign_in_profile_sessions(harness, chromium, server, open_page):
    """The README's pictures: each page as a newcomer meets it."""
    harness.make_user("alice", admin=True)
    harness.make_user("bob")
    page = open_page("/login")
    screenshot_for_docs(page, "login")
    page.goto("/register")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill("lantern orbit")
    assert "Long enough" in page.locator("#password-hint").inner_text()
    screenshot_for_docs(page, "register")
    elsewhere = open_page()
    sign_in(elsewhere)
    sign_in(page)
    assert "alice" in page.locator("header").inner_text()
    screenshot_for_docs(page, "profile")
    page.goto("/")
    assert "Where you are signed in" in page.locator("main").inner_text()
    screenshot_for_docs(page, "home")
    page.get_by_role("link", name="Sessions").first.click()
    assert "(this session)" in page.locator("table.sessions").inner_text()
    assert "Linux" in page.locator("table.sessions").inner_text()
    screenshot_for_docs(page, "sessions")
    page.goto("/admin")
    page.get_by_role("link", name="Disable bob").click()
    screenshot_for_docs(page, "admin-confirm")
    page.goto("/admin")
    screenshot_for_docs(page, "admin")

    phone = chromium.new_context(base_url=server.url, viewport=PHONE, color_scheme="dark")
    try:
        small = phone.new_page()
        sign_in(small)
        small.goto("/sessions")
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot_for_docs(small, "sessions-phone-dark")
    finally:
        phone.close()


@pytest.mark.parametrize("path", ["/", "/login", "/sessions"])
def test_pages_fit_a_phone_screen(harness, chromium, server, path):
    harness.make_user("alice")
    context = chromium.new_context(base_url=server.url, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        sign_in(page)
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


def test_the_session_cookie_is_invisible_to_scripts(harness, open_page):
    harness.make_user("alice")
    page = open_page()
    sign_in(page)
    cookies = page.evaluate("document.cookie")
    assert "session=" not in cookies
    names = [cookie["name"] for cookie in page.context.cookies()]
    assert "session" in names


def test_ending_another_browsers_session_signs_it_out(harness, open_page):
    harness.make_user("alice")
    first, second = open_page(), open_page()
    sign_in(first)
    sign_in(second)
    first.goto("/sessions")
    rows = first.locator("table.sessions tbody tr")
    assert rows.count() == 2
    first.locator("table.sessions tbody tr:not(.current)").get_by_role(
        "button", name="Revoke").click()
    # A click waits for the next page to start, not to be read: count once it has.
    first.wait_for_load_state()
    assert first.locator("table.sessions tbody tr").count() == 1
    second.get_by_role("link", name="Sessions").first.click()
    second.wait_for_url(re.compile(r"/login\?next="))


def test_changing_the_password_signs_out_the_other_browser(harness, open_page):
    harness.make_user("alice")
    first, second = open_page(), open_page()
    sign_in(first)
    sign_in(second)
    first.goto("/password")
    first.get_by_label("Current password").fill(PASSWORD)
    first.get_by_label("New password").fill(NEW_PASSWORD)
    first.get_by_role("button", name="Change password").click()
    first.wait_for_url(re.compile(r"/profile$"))
    assert "Password changed" in first.locator(".flash").inner_text()
    second.reload()
    second.wait_for_url(re.compile(r"/login\?next="))


def test_logout_button(harness, open_page):
    harness.make_user("alice")
    page = open_page()
    sign_in(page)
    page.locator("header").get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    page.goto("/profile")
    page.wait_for_url(re.compile(r"/login\?next="))


def test_theme_switch_changes_the_look(open_page):
    page = open_page()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name="Switch to dark theme").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("data-theme") == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != background
    page.get_by_role("button", name="Switch to light theme").click()
    assert page.locator("html").get_attribute("data-theme") == "light"


def test_a_tampered_csrf_token_gets_the_error_page(harness, open_page):
    harness.make_user("alice")
    page = open_page("/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').value = 'forged'")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_response(re.compile(r"/login$")) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 400
    assert "tampered" in page.locator("main").inner_text()
    assert "session" not in [cookie["name"] for cookie in page.context.cookies()]


def test_the_forbidden_page(harness, open_page):
    harness.make_user("alice")
    page = open_page()
    sign_in(page)
    response = page.goto("/admin")
    assert response.status == 403
    assert "permission" in page.locator("main").inner_text()


def test_the_device_cookie_outlives_logout_and_lets_the_owner_past_a_lockout(harness, open_page):
    """Logout's Clear-Site-Data must not take the device cookie with it: Chromium
    honours the header, so this is the place to see the cookie survive."""
    harness.make_user("alice")
    owner = open_page()
    sign_in(owner)
    owner.locator("header").get_by_role("button", name="Log out").click()
    owner.wait_for_url(re.compile(r"/$"))
    names = {cookie["name"] for cookie in owner.context.cookies()}
    assert "device" in names and "session" not in names

    stranger = open_page("/login")
    for _ in range(harness.registry.sessapp_settings.auth.throttle_max_failures + 1):
        stranger.get_by_label("Username").fill("alice")
        stranger.get_by_label("Password").fill("not the password at all")
        stranger.get_by_role("button", name="Sign in").click()
        stranger.wait_for_load_state()
    assert "Too many attempts" in stranger.locator("main").inner_text()

    sign_in(owner)  # the owner's browser is not held
    assert "alice" in owner.locator("header").inner_text()
    fresh = open_page("/login")
    fresh.get_by_label("Username").fill("alice")
    fresh.get_by_label("Password").fill(PASSWORD)
    fresh.get_by_role("button", name="Sign in").click()
    fresh.wait_for_load_state()
    assert "Too many attempts" in fresh.locator("main").inner_text()


def test_the_language_picker_switches_the_page_by_keyboard_and_stays_on_it(harness, open_page):
    harness.make_user("alice")
    page = open_page("/login?next=%2Fsessions")
    assert page.locator("html").get_attribute("lang") == "en"
    picker = page.get_by_label("Language")
    picker.focus()
    picker.select_option("de")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Change language"
    # The picker returns to the very same URL, so a URL wait would match the
    # page it leaves; wait for the navigation itself.
    with page.expect_navigation(url=re.compile(r"/login\?next=%2Fsessions$")):
        page.keyboard.press("Enter")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Anmelden"
    page.get_by_label("Benutzername").fill("alice")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/sessions$"))
    assert "(diese Sitzung)" in page.locator("table.sessions").inner_text()
    page.get_by_label("Sprache").select_option("en")
    with page.expect_navigation(url=re.compile(r"/sessions$")):
        page.get_by_role("button", name="Sprache wechseln").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Your sessions"


def test_a_german_browser_gets_german_pages_without_choosing(chromium, server):
    context = chromium.new_context(base_url=server.url, locale="de-DE")
    try:
        page = context.new_page()
        page.goto("/login")
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.get_by_role("button", name="Anmelden").is_visible()
    finally:
        context.close()


def test_totp_walk_enrol_sign_out_sign_in_with_password_and_code(harness, open_page):
    """Turn TOTP on by reading #totp-secret, sign out, then sign in with the
    password and a code. The server runs on the real clock: the sign-in uses
    the next step's code (within the one step of drift allowed), so it is not
    the code that turned TOTP on, and no waiting is needed."""


    harness.make_user("alice")
    page = open_page("/login")
    sign_in(page)
    page.goto("/mfa")
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.wait_for_url(re.compile(r"/mfa/totp$"))
    assert page.locator(".totp-qr svg").is_visible()
    screenshot_for_docs(page, "totp")
    secret = page.locator("#totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.at(int(time.time())))
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_load_state()
    assert page.locator(".recovery-code").count() == 10
    page.get_by_role("button", name="Log out").first.click()
    page.wait_for_url(re.compile(r"/$"))

    page.goto("/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/login/mfa$"))  # no next given
    assert "alice" not in page.locator("header").inner_text()
    page.get_by_label("Code").fill(totp.at(int(time.time()) + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/profile$"))
    assert page.locator("h1").inner_text() == "alice"
