"""Passkeys in a real browser: headless Chromium (Debian's, driven by
Playwright) with a virtual authenticator (CDP ``WebAuthn.addVirtualAuthenticator``:
CTAP2, internal transport, resident keys, user verification). The browser makes
the attestations and assertions; the app checks them with py_webauthn.

WebAuthn refuses an IP address as the RP id, so the app is opened as
``http://localhost:PORT`` (a secure context) with ``sessapp.base_url`` saying
so; its RP id is then ``localhost``.
"""

from __future__ import annotations

import re

import pytest
from browsers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from conftest import PASSWORD
from servers import free_port, start_pserve, write_ini

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[testing]')"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.backends("sqlite"),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on the PATH"),
]


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(harness, tmp_path):
    """The app under pserve, and the origin a browser must use for it."""
    port = free_port()
    origin = f"http://localhost:{port}"
    ini = write_ini(tmp_path / f"server-{port}.ini",
                    app={"sqlalchemy.url": harness.url, "sessapp.base_url": origin},
                    server={"listen": f"127.0.0.1:{port}"})
    server = start_pserve(ini, port)
    yield origin
    server.stop()


class Device:
    """One browser context with its own virtual platform authenticator."""

    def __init__(self, chromium, origin: str) -> None:
        self.context = chromium.new_context(base_url=origin)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        self.authenticator = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials",
                             {"authenticatorId": self.authenticator})["credentials"]

    def forget_cookies(self) -> None:
        self.context.clear_cookies()


@pytest.fixture
def device(chromium, site, request):
    made = Device(chromium, site)
    yield made
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        made.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    made.context.close()


def password_sign_in(page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def add_passkey(page, name: str) -> None:
    page.goto("/mfa")
    page.get_by_label("Name of the new passkey").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_load_state()
    page.locator("table.passkeys").get_by_text(name).wait_for()


def sign_out(page) -> None:
    page.locator("header").get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))


# Browsers without WebAuthn Level 3's JSON helpers: the script converts by hand.
WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


@pytest.mark.parametrize("helpers", ["native", "by hand"])
def test_register_a_passkey_then_sign_in_with_it_alone(harness, device, helpers):
    harness.make_user("alice")
    page = device.page
    if helpers == "by hand":
        page.add_init_script(WITHOUT_JSON_HELPERS)
        page.goto("/login")
        assert page.evaluate("typeof PublicKeyCredential.parseCreationOptionsFromJSON") == \
            "undefined"
    else:
        page.goto("/login")
        assert page.evaluate("typeof PublicKeyCredential.parseCreationOptionsFromJSON") == \
            "function"
    password_sign_in(page)
    page.wait_for_url(re.compile(r"//[^/]+/profile$"))
    add_passkey(page, "Virtual laptop")
    [credential] = device.credentials()
    assert credential["isResidentCredential"] is True
    assert harness.count("passkeys") == 1
    sign_out(page)

    page.goto("/login?next=/sessions")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(re.compile(r"//[^/]+/sessions$"))
    assert "alice" in page.locator("header").inner_text()
    assert harness.count("passkeys", "last_used_at IS NOT NULL") == 1
    page.goto("/mfa")
    row = page.locator("table.passkeys tbody tr")
    assert row.count() == 1
    assert "never" not in row.inner_text()


def test_password_then_passkey_as_the_second_factor(harness, device):
    harness.make_user("alice")
    page = device.page
    password_sign_in(page)
    page.wait_for_url(re.compile(r"//[^/]+/profile$"))
    add_passkey(page, "Virtual laptop")
    sign_out(page)

    password_sign_in(page)
    page.wait_for_url(re.compile(r"/login/mfa"))
    page.goto("/profile")
    page.wait_for_url(re.compile(r"/login\?next="))  # not signed in yet
    page.goto("/login/mfa")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(re.compile(r"//[^/]+/profile$"))
    assert "alice" in page.locator("header").inner_text()


def test_a_removed_passkey_no_longer_signs_in(harness, device):
    harness.make_user("alice")
    page = device.page
    password_sign_in(page)
    page.wait_for_url(re.compile(r"//[^/]+/profile$"))
    add_passkey(page, "Old key")
    page.get_by_role("button", name="Remove Old key").click()
    page.wait_for_url(re.compile(r"//[^/]+/mfa$"))
    assert harness.count("passkeys") == 0
    sign_out(page)
    page.goto("/login")
    page.get_by_role("button", name="Use a passkey").click()
    page.locator("#passkey-status.error").wait_for()
    assert "/login" in page.url
