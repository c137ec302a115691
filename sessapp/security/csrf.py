"""CSRF tokens that keep anonymous visitors row-free.

An anonymous visitor's token lives in its own cookie (Pyramid's cookie storage:
no session row for a login form), signed: OWASP's *signed* double-submit
cookie. The value is a random token and an HMAC-SHA256 over it under a key
derived from ``sessapp.secret``, so a cookie the visitor (or a cookie-planting
neighbour) made up is worth nothing: it is treated as absent. Once signed in,
the token lives in the server-side session, so it dies with the session,
changes at login (rotation starts an empty one) and cannot be planted by a
sibling subdomain's cookie. A bearer request has neither: it is never checked
(``csrf_applies``), and the pages it gets carry no token and set no cookie.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from pyramid.csrf import CookieCSRFStoragePolicy
from pyramid.interfaces import ICSRFStoragePolicy
from webob.cookies import make_cookie
from zope.interface import implementer

from .. import keys

if TYPE_CHECKING:
    from pyramid.request import Request

    from ..settings import SessappSettings

SESSION_KEY = "_csrft_"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class CookieTokenPolicy(CookieCSRFStoragePolicy):
    """Pyramid's cookie storage with 256-bit tokens instead of a UUID's 122.

    Every first page of a visit sets this cookie, and WebOb's cookie profile
    rebuilt the same attributes for each: they are serialized once, by WebOb,
    at start-up.
    """

    _token_factory = staticmethod(_new_token)

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("max_age") is not None:
            # Its Expires attribute would be frozen at start-up.
            raise ValueError("CookieTokenPolicy sets session cookies only (no max_age)")
        super().__init__(**kwargs)
        start = f"{self.cookie_name}=0"
        sample = make_cookie(self.cookie_name, "0", path=kwargs.get("path", "/"),
                             domain=kwargs.get("domain"), secure=kwargs.get("secure", False),
                             httponly=kwargs.get("httponly", False),
                             samesite=kwargs.get("samesite", "Lax"))
        if not sample.startswith(start):
            raise ValueError(f"unexpected cookie serialization: {sample!r}")
        self._attributes = sample[len(start):]

    # Pyramid's new_csrf_token replaced, kept because it pays on every first page
    # of a visit: 8 µs per token against 14 µs through the cookie profile, and
    # bench.inprocess's anonymous home page took 173 µs without this against
    # 164 µs with it on SQLite (179 against 157 on PostgreSQL, best of 3 runs).
    # tests/test_library_canaries.py fails if the header differs from Pyramid's.
    def new_csrf_token(self, request: Request) -> str:
        token = self._token_factory()
        request.cookies[self.cookie_name] = token
        header = ("Set-Cookie", f"{self.cookie_name}={token}{self._attributes}")
        request.add_response_callback(
            lambda _request, response: response.headerlist.append(header))
        return token


# Longer cookie values are not ours (ours are 87 characters): no HMAC over them.
SIGNED_TOKEN_MAX = 200


class SignedCookieTokenPolicy(CookieTokenPolicy):
    """The cookie holds ``<random token>.<HMAC-SHA256 of it, base64url>``.

    A cookie whose signature does not verify is treated as absent: a new token
    is issued, and the request's check fails. The form field carries the whole
    value and is compared with the cookie's in constant time.
    """

    def __init__(self, key: bytes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key
        # CookieTokenPolicy.new_csrf_token takes its tokens from here.
        self._token_factory = self._new_signed_token

    def _signature(self, token: str) -> str:
        return base64.urlsafe_b64encode(keys.sign(self._key, token)).rstrip(b"=").decode()

    def _new_signed_token(self) -> str:
        token = _new_token()
        return f"{token}.{self._signature(token)}"

    def is_signed(self, value: str) -> bool:
        token, dot, signature = value.rpartition(".")
        if not dot or not token or len(value) > SIGNED_TOKEN_MAX:
            return False
        return hmac.compare_digest(self._signature(token).encode(), signature.encode())

    def get_csrf_token(self, request: Request) -> str:
        value = request.cookies.get(self.cookie_name)
        if value and self.is_signed(value):
            return value
        return self.new_csrf_token(request)

    def check_csrf_token(self, request: Request, supplied_token: str) -> bool:
        expected = self.get_csrf_token(request)
        if not isinstance(supplied_token, str):
            return False
        return hmac.compare_digest(expected.encode(), supplied_token.encode())


@implementer(ICSRFStoragePolicy)
class SessionOrCookieCSRFStoragePolicy:
    def __init__(self, cookie_policy: CookieCSRFStoragePolicy) -> None:
        self.cookie_policy = cookie_policy

    @staticmethod
    def _signed_in_session(request: Request) -> Any:
        session = request.session
        return session if session.user_id is not None else None

    def new_csrf_token(self, request: Request) -> str:
        if has_bearer_credentials(request):
            return ""
        session = self._signed_in_session(request)
        if session is None:
            return self.cookie_policy.new_csrf_token(request)
        token = _new_token()
        session[SESSION_KEY] = token
        return token

    def get_csrf_token(self, request: Request) -> str:
        if has_bearer_credentials(request):
            # No token to show and no cookie to set: a bearer request has no
            # ambient credential to protect, and must not be given one.
            return ""
        session = self._signed_in_session(request)
        if session is None:
            return self.cookie_policy.get_csrf_token(request)
        token = session.get(SESSION_KEY)
        return token if isinstance(token, str) else self.new_csrf_token(request)

    def check_csrf_token(self, request: Request, supplied_token: str) -> bool:
        if has_bearer_credentials(request):
            return False
        session = self._signed_in_session(request)
        if session is None:
            return self.cookie_policy.check_csrf_token(request, supplied_token)
        expected = session.get(SESSION_KEY)
        if not isinstance(expected, str) or not isinstance(supplied_token, str):
            return False
        return hmac.compare_digest(expected.encode(), supplied_token.encode())


def has_bearer_credentials(request: Request) -> bool:
    # Read from the environ: asked four to six times a request, and WebOb's
    # header view renames the key at each look-up.
    return request.environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "


def csrf_applies(request: Request) -> bool:
    """Bearer requests carry no ambient credential, so they need no CSRF token
    (and the policy chain never falls back to the cookie for them)."""
    return not has_bearer_credentials(request)


def includeme(config: Any) -> None:
    settings: SessappSettings = config.registry.sessapp_settings
    cookie = settings.session.cookie
    config.set_csrf_storage_policy(
        SessionOrCookieCSRFStoragePolicy(
            SignedCookieTokenPolicy(
                keys.derive_key(settings.secret.value, keys.CSRF_COOKIE),
                cookie_name=settings.csrf_cookie_name,
                secure=cookie.secure,
                httponly=True,
                samesite=cookie.samesite,
                path="/",
                domain=None,
            )
        )
    )
    config.set_default_csrf_options(
        require_csrf=True, token=FIELD, header=HEADER, callback=csrf_applies
    )
