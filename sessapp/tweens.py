"""Request guards and response headers that hold for every route, static files
and error pages included."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from pyramid.httpexceptions import HTTPBadRequest, HTTPMethodNotAllowed
from pyramid.response import Response
from pyramid.tweens import INGRESS
from webob.cookies import parse_cookie

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CSP = (
    "default-src 'self'; frame-ancestors 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'"
)
# API output is data, never a document: opened directly in a browser it runs
# nothing and belongs to no origin (ASVS 3.2.1).
CSP_FOR_DATA = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)
DATA_TYPES = ("application/json",)


def _bad_request(message: str, request: Any) -> Response:
    accepts_json = request.path_info.startswith("/api/") or request.content_type == (
        "application/json"
    )
    if accepts_json:
        response = Response(json_body={"error": message}, status=400)
    else:
        response = HTTPBadRequest(detail=message)
    return response


def _cookies_readable(request: Any) -> bool:
    try:
        dict(request.cookies)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _drop_unreadable_cookies(request: Any) -> None:
    """WebOb raises on a cookie value that is not UTF-8, wherever it is read.
    Such a cookie was not set by sessapp: drop it, keep the others (or, if the
    header is too mangled to tell them apart, drop them all)."""
    if _cookies_readable(request):
        return
    kept = []
    for pair in request.environ.get("HTTP_COOKIE", "").split(";"):
        try:
            for name, value in parse_cookie(pair):
                name.decode("utf-8")
                value.decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError, ValueError):
            continue
        kept.append(pair)
    request.environ["HTTP_COOKIE"] = ";".join(kept)
    if not _cookies_readable(request):
        del request.environ["HTTP_COOKIE"]


_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def _has_nul_header(environ: dict[str, Any]) -> bool:
    """No database stores NUL in text; no honest client sends it in a header.
    (Read from the environ: WebOb's header view renames each key on the way.)"""
    return any(
        "\x00" in value
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in _CONTENT_KEYS
    )


def request_guard_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Make hostile requests harmless before any view or policy reads them.

    Unsafe requests have their body parsed up front: WebOb raises on a multipart
    body without a boundary, an unknown charset or bad JSON, and unhandled that
    is a 500 from deep inside the CSRF check. Here it is a clear 400.
    """

    def tween(request: Any) -> Any:
        if request.method in {"TRACE", "TRACK"}:
            return HTTPMethodNotAllowed()
        try:
            request.path_info  # noqa: B018 - WebOb decodes it as UTF-8 on access
        except UnicodeDecodeError:
            return HTTPBadRequest(detail="The address could not be read.")
        if _has_nul_header(request.environ):
            return HTTPBadRequest(detail="A request header could not be read.")
        _drop_unreadable_cookies(request)
        if request.method in UNSAFE_METHODS:
            try:
                if request.content_type in FORM_TYPES:
                    request.POST  # noqa: B018 - parsing is the point
                elif request.content_type == "application/json" and request.body:
                    # An escaped lone surrogate ("\ud800") is valid JSON but not
                    # text any database can store: refuse it here (encoding raises).
                    json.dumps(request.json_body, ensure_ascii=False).encode("utf-8")
            except Exception:
                return _bad_request("The request body could not be read.", request)
        return handler(request)

    return tween


def security_headers_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Adds the headers every response carries, unless the view chose its own
    (``Cache-Control`` and ``X-Request-ID`` are always sessapp's).

    Works on the header list directly: WebOb's header mapping lower-cases every
    header name again for each look-up, which cost more than the rest of this
    tween (measured by bench/)."""
    defaults = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
    ]
    if registry.sessapp_settings.hsts:
        defaults.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    defaults_lowered = [(name.lower(), (name, value)) for name, value in defaults]

    def tween(request: Any) -> Any:
        response = handler(request)
        headerlist = response.headerlist
        present = {name.lower() for name, _ in headerlist}
        added = [header for lowered, header in defaults_lowered if lowered not in present]
        if "content-security-policy" not in present:
            data = response.content_type in DATA_TYPES
            added.append(("Content-Security-Policy", CSP_FOR_DATA if data else CSP))
        replaced = {"x-request-id"}
        added.append(("X-Request-ID", request.request_id))
        if not request.environ.get("PATH_INFO", "").startswith("/static/"):
            # Pages differ by who is signed in: never let a cache keep them.
            replaced.add("cache-control")
            added.append(("Cache-Control", "no-store"))
        if not present.isdisjoint(replaced):
            headerlist[:] = [(name, value) for name, value in headerlist
                             if name.lower() not in replaced]
        headerlist.extend(added)
        return response

    return tween


def _request_id(request: Any) -> str:
    """Ties a response to its log lines; random, so it reveals nothing."""
    return secrets.token_hex(8)


def includeme(config: Any) -> None:
    config.add_request_method(_request_id, "request_id", reify=True)
    config.add_tween("sessapp.tweens.security_headers_tween_factory", under=INGRESS)
    config.add_tween(
        "sessapp.tweens.request_guard_tween_factory",
        under="sessapp.tweens.security_headers_tween_factory",
    )
