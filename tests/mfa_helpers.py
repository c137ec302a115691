"""What the second-factor tests share: codes from pyotp at the app's clock, and
enrolling a browser's user in TOTP through the pages."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pyotp

STEP = 30


def code_at(secret: str, harness: Any, steps: int = 0) -> str:
    """The TOTP code ``steps`` time steps away from the app's clock."""
    moment = harness.clock.now().replace(tzinfo=UTC).timestamp() + steps * STEP
    return pyotp.TOTP(secret).at(int(moment))


def next_step(harness: Any) -> None:
    """Move the app's clock one step on: the codes used so far are spent."""
    harness.clock.advance(STEP)


def enrol(browser: Any, harness: Any) -> tuple[str, list[str]]:
    """Turn TOTP on for ``browser``'s user: the secret and the recovery codes."""
    page = browser.get("/mfa/totp", status=200)
    secret = page.html.find(id="totp-secret").get_text(strip=True)
    shown = browser.post("/mfa/totp", {"code": code_at(secret, harness),
                                       "csrf_token": browser.csrf_token("/mfa")}, status=200)
    codes = [element.get_text(strip=True) for element in shown.html.select(".recovery-code")]
    next_step(harness)
    return secret, codes


def password_step(browser: Any, username: str = "alice", **extra: str) -> Any:
    """Sign in with the password of a user who has a second factor."""
    response = browser.login(username, **extra)
    assert response.location.split("?")[0].endswith("/login/mfa")
    return response


def code_step(browser: Any, code: str, *, status: int = 303) -> Any:
    return browser.post("/login/mfa", {"code": code,
                                       "csrf_token": browser.csrf_token("/login")},
                        status=status)
