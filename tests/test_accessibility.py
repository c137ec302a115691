"""The accessibility gate: axe-core, in Chromium, finds nothing on any page.

Every page a person can reach (anonymous, signed in, admin, error pages, forms
showing their errors) is checked in the light and the dark theme, at desktop
(1280x800) and phone (390x844) width, against WCAG 2.0/2.1 A and AA and axe's
best practices. A single violation fails the test with axe's description of
it. axe's script comes from axe-playwright-python, which ships it: nothing is
fetched while the tests run.
"""

from __future__ import annotations

import re

import pytest
from browsers import (
    DESKTOP,
    PHONE,
    Site,
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
axe_module = pytest.importorskip(
    "axe_playwright_python.sync_playwright",
    reason="axe-playwright-python is not installed (pip install -e '.[testing]')",
)

AXE_OPTIONS = {
    "runOnly": {"type": "tag",
                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}
THEMES = ("light", "dark")
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}

ANONYMOUS_PAGES = ["/", "/login", "/login?next=%2Fprofile", "/register", "/logout",
                   "/no-such-page", "/password/forgot"]
SIGNED_IN_PAGES = ["/", "/profile", "/sessions", "/password", "/login", "/register", "/admin",
                   "/mfa", "/mfa/totp", "/sudo", "/email"]
ADMIN_PAGES = ["/admin", "/admin?kind=login_success", "/admin/users/{bob}/disable/confirm",
               "/admin/users/{bob}/revoke-sessions/confirm", "/admin/revoke-all-sessions/confirm",
               "/sessions"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from serve_for_module(tmp_path_factory)


@pytest.fixture(scope="module")
def people(site: Site) -> dict[str, int]:
    harness = site.harness
    ids = {"root": harness.make_user("root", admin=True), "alice": harness.make_user("alice"),
           "bob": harness.make_user("bob")}
    return ids


@pytest.fixture(scope="module")
def chromium():
    yield from launch(playwright_api)


@pytest.fixture(scope="module")
def axe():
    return axe_module.Axe()


@pytest.fixture
def new_page(chromium, site, request):
    """``new_page(theme, viewport, locale)``: a page in a fresh context whose
    system colour scheme is ``theme`` (no theme cookie: the page follows it)
    and whose browser asks for ``locale``'s language."""
    contexts = []

    def factory(theme: str = "light", viewport: dict[str, int] = DESKTOP,
                locale: str = "en-US"):
        context = chromium.new_context(base_url=site.url, viewport=viewport,
                                       color_scheme=theme, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield factory
    keep_failure_screenshots(request, contexts)
    for context in contexts:
        context.close()


def violations(axe, page) -> list[str]:
    """One line per axe violation on the page as it is now."""
    results = axe.run(page, options=AXE_OPTIONS)
    found = []
    for violation in results.response["violations"]:
        targets = [" ".join(node["target"]) for node in violation["nodes"]][:3]
        found.append(f"{page.url}: {violation['id']} ({violation['impact']}): "
                     f"{violation['help']} at {targets}")
    return found


def check_pages(axe, page, paths: list[str], width: int) -> list[str]:
    found = []
    for path in paths:
        page.goto(path)
        found += violations(axe, page)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            found.append(f"{page.url}: {scroll_width}px wide, wider than the {width}px screen")
    return found


def form_errors_shown(page) -> None:
    """The register and password forms after a refused submission."""
    page.goto("/register")
    page.get_by_label("Username").fill("bad name!")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("#password-error")


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("theme", THEMES)
def test_anonymous_pages_have_no_violations(axe, new_page, people, theme, viewport):
    page = new_page(theme, VIEWPORTS[viewport])
    found = check_pages(axe, page, ANONYMOUS_PAGES, VIEWPORTS[viewport]["width"])
    form_errors_shown(page)
    found += violations(axe, page)
    page.goto("/register")
    page.get_by_label("Password", exact=True).fill("sessapp sessapp")
    found += violations(axe, page)  # the strength hint showing
    assert found == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("theme", THEMES)
def test_signed_in_pages_have_no_violations(axe, new_page, people, theme, viewport):
    elsewhere = new_page(theme, VIEWPORTS[viewport])
    sign_in(elsewhere)  # a second session: "log out everywhere else" is shown
    page = new_page(theme, VIEWPORTS[viewport])
    sign_in(page)
    found = violations(axe, page)  # the welcome back on /profile
    found += check_pages(axe, page, SIGNED_IN_PAGES, VIEWPORTS[viewport]["width"])
    page.goto("/password")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("#new-error")
    found += violations(axe, page)
    assert found == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("theme", THEMES)
def test_admin_pages_have_no_violations(axe, new_page, people, theme, viewport):
    page = new_page(theme, VIEWPORTS[viewport])
    sign_in(page, "root")
    paths = [path.format(bob=people["bob"]) for path in ADMIN_PAGES]
    found = check_pages(axe, page, paths, VIEWPORTS[viewport]["width"])
    page.goto("/sessions")
    page.get_by_label("Name", exact=True).fill("nightly backup")
    page.locator("#token-password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    page.wait_for_selector("#new-token")
    found += violations(axe, page)  # a new token's secret on show
    assert found == []


@pytest.mark.parametrize("theme", THEMES)
def test_a_chosen_theme_has_no_violations(axe, new_page, people, theme):
    """The theme picked with the footer's button, against the system's."""
    page = new_page("dark" if theme == "light" else "light")
    page.goto("/login")
    page.get_by_role("button", name=f"Switch to {theme} theme").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("data-theme") == theme
    assert check_pages(axe, page, ["/", "/login", "/register"], DESKTOP["width"]) == []


GERMAN_PAGES = ["/", "/login", "/register", "/no-such-page", "/password/forgot"]
GERMAN_SIGNED_IN_PAGES = ["/", "/sessions", "/password", "/admin",
                          "/admin/users/{bob}/disable/confirm", "/mfa", "/mfa/totp", "/sudo",
                          "/email"]


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("theme", THEMES)
def test_german_pages_have_no_violations(axe, new_page, people, theme, viewport):
    """German pages (longer words, lang="de", the picker on Deutsch), signed
    in as an admin, and a form showing its errors. (The password form: the
    registration throttle per IP is spent by the English tests' attempts.)"""
    width = VIEWPORTS[viewport]["width"]
    page = new_page(theme, VIEWPORTS[viewport], locale="de-DE")
    found = check_pages(axe, page, GERMAN_PAGES, width)
    assert page.locator("html").get_attribute("lang") == "de"
    page.goto("/login")
    page.get_by_label("Benutzername").fill("root")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/profile$"))
    found += violations(axe, page)  # the German welcome back on /profile
    page.goto("/password")
    page.get_by_label("Aktuelles Passwort").fill("not my password")
    page.get_by_label("Neues Passwort").fill("short")
    page.get_by_role("button", name="Passwort ändern").click()
    page.wait_for_selector("#new-error")
    found += violations(axe, page)
    paths = [path.format(bob=people["bob"]) for path in GERMAN_SIGNED_IN_PAGES]
    found += check_pages(axe, page, paths, width)
    assert found == []


def test_the_gate_sees_a_violation(axe, new_page, people):
    """The gate itself works: axe runs in these pages despite their CSP, and
    reports what it should."""
    page = new_page()
    page.goto("/login")
    page.evaluate("document.querySelector('label[for=username]').remove()")
    found = violations(axe, page)
    assert any(re.search(r": label \(critical\)", line) for line in found), found
