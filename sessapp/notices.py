"""One-line notices for a visitor who has no session to flash them into.

Signing out deletes the session, and the page after it must not make a new one
(an anonymous visit that stores nothing creates no row and sets no session
cookie). So the notice travels in a short-lived cookie of its own that holds
only a key from :data:`NOTICES`, never text: the next page shows that key's
message once and expires the cookie. An unknown key is ignored, so nobody can
make the page say something else.
"""

from __future__ import annotations

from typing import Any

from .i18n import _

COOKIE = "notice"
MAX_AGE = 120

NOTICES = {
    "signed-out": _("You have signed out."),
    "session-ended": _("This session has been signed out."),
}


def leave(request: Any, response: Any, key: str) -> None:
    """Have the next page this browser opens show ``NOTICES[key]``."""
    cookie = request.registry.sessapp_settings.session.cookie
    response.set_cookie(COOKIE, key, max_age=MAX_AGE, path="/", secure=cookie.secure,
                        httponly=True, samesite=cookie.samesite)


def pending(request: Any) -> Any:
    """``request.notice``: the message a cookie left for this page, or None.
    Reading it expires the cookie with this response, so it shows once."""
    key = request.cookies.get(COOKIE)
    if key is None:
        return None
    cookie = request.registry.sessapp_settings.session.cookie

    def expire(request: Any, response: Any) -> None:
        response.set_cookie(COOKIE, "", max_age=0, path="/", secure=cookie.secure,
                            httponly=True, samesite=cookie.samesite)

    request.add_response_callback(expire)
    return NOTICES.get(key)


def includeme(config: Any) -> None:
    config.add_request_method(pending, "notice", reify=True)
