"""A forgotten password, in Chromium against ``pserve``: ask for a link, read
the mail a real SMTP server received, follow the link, set a new password,
sign in with it."""

from __future__ import annotations

import re

import pytest
from browsers import launch, needs_chromium
from conftest import PASSWORD
from servers import free_port, start_pserve, write_ini

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite"), needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[testing]')"
)


@pytest.fixture(scope="module")
def chromium():
    yield from launch(playwright_api)

NEW_PASSWORD = "a brand new passphrase here"


def test_forgot_mail_reset_and_sign_in(harness, smtp_server, chromium, tmp_path):
    harness.make_user("alice")
    harness.set_email("alice", "alice@example.org")
    port = free_port()
    site = f"http://localhost:{port}"
    ini = write_ini(tmp_path / "app.ini", app={
        "sqlalchemy.url": harness.url, "sessapp.base_url": site, "mail.delivery": "smtp",
        "mail.host": "127.0.0.1", "mail.port": str(smtp_server.port),
        "mail.sender": "noreply@localhost",
    }, server={"listen": f"127.0.0.1:{port}"})
    server = start_pserve(ini, port)
    context = chromium.new_context(base_url=site)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/login")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("E-mail address").fill("alice@example.org")
        page.get_by_role("button", name="Send the link").click()
        page.locator("#reset-sent").wait_for()

        [mail] = smtp_server.wait_for(1)
        link = mail.link("/password/reset/")
        assert link.startswith(site + "/password/reset/")
        page.goto(link)
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set the new password").click()
        page.wait_for_url(re.compile(r"/login$"))

        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.locator("#login-error").wait_for()  # visible, once the answer is read
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/profile$"))
        # The reset notice, then the new browser's sign-in notice.
        subjects = [m.subject for m in smtp_server.wait_for(3)[1:]]
        assert "Your sessapp password was reset" in subjects
        playwright_api  # noqa: B018 (imported for its skip)
    finally:
        context.close()
        server.stop()
