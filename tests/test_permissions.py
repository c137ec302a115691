"""Deny by default: every view declares a permission, only an explicit allowlist
is public, and a view that forgets its permission is refused to everyone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from conftest import new_browser
from pyramid.authorization import ACLHelper, Everyone
from pyramid.config import Configurator
from pyramid.interfaces import IDefaultPermission, IException
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from sessapp.accounts import api_tokens
from sessapp.models import User
from sessapp.security.acl import (
    ACCOUNT,
    ADMIN,
    DEFAULT,
    ENROL,
    ISSUE_TOKEN,
    PUBLIC,
    READ,
    WRITE,
    Root,
    principals_for_user,
)

# (route name, request method or None for any): the only views anyone may use.
PUBLIC_VIEWS = {
    ("home", None),
    ("login", "GET"),
    ("login", "POST"),
    # The second step of signing in: for a browser whose password was right,
    # which no policy counts as signed in yet (accounts/pending.py).
    ("login_mfa", "GET"),
    ("login_mfa", "POST"),
    # Passkeys: signing in without a password, and the second step with one.
    ("login_passkey_options", "POST"),
    ("login_passkey", "POST"),
    ("login_mfa_passkey_options", "POST"),
    ("login_mfa_passkey", "POST"),
    ("logout", "GET"),  # a page with a button; GET logs nobody out
    # Only with the view predicate half_signed_in=True: ends a half-done sign-in.
    # A signed-in browser's POST /logout is the ENROL view.
    ("logout", "POST"),
    ("register", "GET"),
    ("register", "POST"),
    ("session_data", "GET"),
    ("session_data", "POST"),
    ("cookies", None),
    ("theme", "POST"),
    ("language", "POST"),
    ("healthz", None),
    # Recovery and mailed links: whoever holds the link (or asks for one).
    ("password_forgot", "GET"),
    ("password_forgot", "POST"),
    ("password_reset", "GET"),
    ("password_reset", "POST"),
    ("email_verify", "GET"),
    ("email_verify", "POST"),
    ("email_undo", "GET"),
    ("email_undo", "POST"),
    ("session_end", "GET"),
    ("session_end", "POST"),
}
# Views that skip the permission check entirely.
UNCHECKED_VIEWS = {("__static/", None)}
ADMIN_ROUTES = {"admin", "admin_user_action", "admin_revoke_everyone", "admin_user_confirm",
                "admin_revoke_everyone_confirm"}
# What a user who must enrol in a second factor may still use (with the public views).
ENROL_VIEWS = {("logout", "POST"), ("sudo", "GET"), ("sudo", "POST"), ("mfa", "GET"),
               ("mfa_totp", "GET"), ("mfa_totp", "POST"), ("mfa_totp_disable", "POST"),
               ("mfa_recovery_codes", "POST"),
               # A passkey is a second factor too: one may enrol with it, and
               # renew sudo mode with it.
               ("mfa_passkey_options", "POST"), ("mfa_passkeys", "POST"),
               ("mfa_passkey_delete", "POST"), ("sudo_passkey_options", "POST"),
               ("sudo_passkey", "POST")}


# -- reading the introspector -----------------------------------------------------


def is_exception_view(view: Any) -> bool:
    if view["exception_only"]:
        return True
    context = view["context"]
    if isinstance(context, type):
        return issubclass(context, BaseException)
    return context is not None and context.isOrExtends(IException)


def methods_of(view: Any) -> str | None:
    methods = view["request_methods"]
    if methods is None or isinstance(methods, str):
        return methods
    return ",".join(sorted(methods))


def declared_permission(entry: dict[str, Any]) -> str | None:
    """The permission given to add_view/view_config, None when none was."""
    permissions = [related["value"] for related in entry["related"]
                   if related.category_name == "permissions"]
    assert len(permissions) <= 1, permissions
    return permissions[0] if permissions else None


def request_views(registry: Any) -> Iterator[tuple[tuple[str | None, str | None], Any]]:
    """((route name, method), declared permission) of every view that answers requests."""
    for entry in registry.introspector.get_category("views"):
        view = entry["introspectable"]
        if is_exception_view(view):
            continue
        yield (view["route_name"], methods_of(view)), declared_permission(entry)


def fill(pattern: str) -> str:
    """A concrete URL for a route pattern, every placeholder filled in."""
    return re.sub(r"\{[^}]+\}", "1", pattern)


def route_patterns(registry: Any) -> dict[str, str]:
    return {entry["introspectable"]["name"]: entry["introspectable"]["pattern"]
            for entry in registry.introspector.get_category("routes")}


# -- the app's own views ------------------------------------------------------------


def test_the_default_permission_is_one_nobody_is_granted(harness):
    assert harness.registry.queryUtility(IDefaultPermission) == DEFAULT
    admin = User(id=1, username="root", roles_text="admin")
    for principals in ([Everyone], principals_for_user(admin)):
        assert not ACLHelper().permits(Root(None), principals, DEFAULT)


def test_every_view_declares_a_permission(harness):
    views = dict(request_views(harness.registry))
    assert len(views) > len(PUBLIC_VIEWS)  # the walk found the app's views
    missing = sorted(str(key) for key, permission in views.items() if permission is None)
    assert missing == [], f"views without a permission: {missing}"


def test_only_the_allowlist_is_public(harness):
    granted_to_all = {
        key for key, permission in request_views(harness.registry)
        if permission == NO_PERMISSION_REQUIRED
        or (permission is not None and ACLHelper().permits(Root(None), [Everyone], permission))
    }
    assert granted_to_all == PUBLIC_VIEWS | UNCHECKED_VIEWS


def test_only_static_files_skip_the_permission_check(harness):
    unchecked = {key for key, permission in request_views(harness.registry)
                 if permission == NO_PERMISSION_REQUIRED}
    assert unchecked == UNCHECKED_VIEWS


# The API's permissions are the scopes a token needs; making a token is no
# token's to do, whatever its scopes.
API_PERMISSIONS = {
    ("api_me", "GET"): READ,
    ("api_tokens", "GET"): READ,
    ("api_tokens", "POST"): ISSUE_TOKEN,
    ("api_token", "DELETE"): WRITE,
    ("token_create", "POST"): ISSUE_TOKEN,
}


def test_admin_views_need_admin_the_api_its_scopes_and_the_rest_account(harness):
    for (route, method), permission in request_views(harness.registry):
        if (route, method) in ENROL_VIEWS and permission == ENROL:
            continue
        if (route, method) in PUBLIC_VIEWS | UNCHECKED_VIEWS:
            continue
        expected = API_PERMISSIONS.get(
            (route, method), ADMIN if route in ADMIN_ROUTES else ACCOUNT)
        assert permission == expected, (route, method, permission)


def test_every_non_public_view_refuses_anonymous_requests(testapp, harness):
    patterns = route_patterns(harness.registry)
    testapp.get("/login")  # a CSRF cookie, as a browser would have
    checked = 0
    for (route, methods), _ in request_views(harness.registry):
        if (route, methods) in PUBLIC_VIEWS | UNCHECKED_VIEWS:
            continue
        url = fill(patterns[route])
        for method in (methods or "GET").split(","):
            response = testapp.request(url, method=method, status="*")
            if url.startswith("/api/"):
                assert response.status_int == 401, (method, url, response.status)
            else:
                assert response.status_int == 303, (method, url, response.status)
                assert "/login?next=" in response.location
            checked += 1
    assert checked >= 10
    assert harness.count("sessions") == 0


def test_every_admin_view_is_403_for_a_signed_in_non_admin(testapp, harness):
    patterns = route_patterns(harness.registry)
    harness.make_user("alice")
    testapp.login("alice")
    token = testapp.csrf_token("/profile")
    checked = 0
    for (route, methods), _ in request_views(harness.registry):
        if route not in ADMIN_ROUTES:
            continue
        for method in (methods or "GET").split(","):
            testapp.request(fill(patterns[route]), method=method, status=403,
                            headers={"X-CSRF-Token": token})
            checked += 1
    assert checked == 5


# -- a view that forgets its permission, in a tiny app ---------------------------------


def unguarded(request: Any) -> Response:
    return Response("you should not see this")


def public(request: Any) -> Response:
    return Response("public")


def admin_only(request: Any) -> Response:
    return Response(f"admin {request.identity.username}")


@pytest.fixture
def tiny_app(harness: Any) -> Iterator[webtest.TestApp]:
    """sessapp.security alone: one view lacking a permission, one public, one admin."""
    config = Configurator(settings={"sqlalchemy.url": harness.url,
                                    "sessapp.environment": "testing"})
    config.include("sessapp.security")
    for name, view, permission in (("unguarded", unguarded, None),
                                   ("public", public, PUBLIC),
                                   ("admin_only", admin_only, ADMIN)):
        config.add_route(name, f"/{name}")
        config.add_view(view, route_name=name, permission=permission)
    app = config.make_wsgi_app()
    assert app.registry.queryUtility(IDefaultPermission) == DEFAULT
    yield webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    app.registry["db_engine"].dispose()


def test_a_view_without_a_permission_is_forbidden_to_anonymous(tiny_app):
    tiny_app.get("/public", status=200)
    response = tiny_app.get("/unguarded", status=403)
    assert "you should not see this" not in response.text


def test_a_view_without_a_permission_is_forbidden_even_to_an_admin_token(tiny_app, harness):
    root = harness.make_user("root", admin=True)
    with harness.transaction() as dbsession:
        _, secret = api_tokens.create(dbsession, dbsession.get(User, root), "t", 1,
                                      harness.clock.now(), ["read", "write", "admin"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert tiny_app.get("/admin_only", headers=headers, status=200).text == "admin root"
    response = tiny_app.get("/unguarded", headers=headers, status=403)
    assert "you should not see this" not in response.text


def test_a_view_without_a_permission_is_forbidden_even_to_an_admin_session(
        tiny_app, harness):
    harness.make_user("root", admin=True)
    browser = new_browser(harness)
    browser.login("root")
    tiny_app.set_cookie("session", browser.session_token)
    assert tiny_app.get("/admin_only", status=200).text == "admin root"
    tiny_app.get("/unguarded", status=403)
