"""Request guards and response headers that hold for every route, static files
and error pages included."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

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


# A ``%`` not followed by two hex digits.
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _readable_pair(pair: str) -> bool:
    """Whether one ``name=value`` of a query string decodes to text: escapes well
    formed, bytes valid UTF-8. (WSGI hands the query string over as Latin-1.)"""
    try:
        raw = pair.encode("latin-1")
        if _BAD_ESCAPE.search(raw):
            return False
        for part in raw.split(b"=", 1):
            unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeError:
        return False
    return True


def _drop_unreadable_query_pairs(environ: dict[str, Any]) -> None:
    """WebOb raises UnicodeDecodeError on ``?next=%ff`` or ``?%ff=1`` wherever
    ``request.GET`` or ``request.params`` is read. Such a pair was not written by
    sessapp or any browser following its links: it is dropped, so every reader
    sees it as absent, and the readable pairs are kept."""
    query = environ.get("QUERY_STRING", "")
    if not query or (query.isascii() and "%" not in query):
        return
    pairs = query.split("&")
    kept = [pair for pair in pairs if _readable_pair(pair)]
    if len(kept) != len(pairs):
        environ["QUERY_STRING"] = "&".join(kept)


def _host_readable(environ: dict[str, Any]) -> bool:
    """WebOb makes every ``Location`` absolute with the request's ``Host``: one
    that is not printable ASCII (no host name is) would make a header the
    server cannot send, after the transaction committed."""
    host = environ.get("HTTP_HOST", "")
    return host.isascii() and host.isprintable() and " " not in host


_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def _has_nul_header(environ: dict[str, Any]) -> bool:
    """No database stores NUL in text; no honest client sends it in a header.
    (Read from the environ: WebOb's header view renames each key on the way.)"""
    return any(
        "\x00" in value
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in _CONTENT_KEYS
    )


def headers_readable(environ: dict[str, Any]) -> bool:
    """No NUL in any header and a printable ASCII ``Host``: what the request guard
    checks of headers alone (sessapp.static_files asks it too)."""
    return not _has_nul_header(environ) and _host_readable(environ)


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
        if not headers_readable(request.environ):
            return HTTPBadRequest(detail="A request header could not be read.")
        _drop_unreadable_cookies(request)
        _drop_unreadable_query_pairs(request.environ)
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


def standard_headers(registry: Any) -> list[tuple[str, str]]:
    """The headers every response carries whatever its type (the CSP depends on
    it, ``X-Request-ID`` on the request)."""
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
    ]
    if registry.sessapp_settings.hsts:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def security_headers_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Adds the headers every response carries, unless the view chose its own
    (``Cache-Control`` and ``X-Request-ID`` are always sessapp's).

    Works on the header list directly: WebOb's header mapping lower-cases every
    header name again for each look-up, which cost more than the rest of this
    tween (measured by bench/)."""
    defaults = standard_headers(registry)
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
