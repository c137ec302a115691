"""What sessapp does once at start-up so that each request does less: request
properties on one class, page links computed once per mount point, and the
session read outside the request's transaction. Each must be invisible: same
links, same properties, same user, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from conftest import PASSWORD
from pyramid.config import Configurator
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.response import Response
from pyramid.scripting import prepare
from sqlalchemy import inspect, text
from webtest import TestApp

from sessapp.accounts import api_tokens
from sessapp.models import SessionRecord
from sessapp.sessions import get_session_store
from sessapp.sessions.reader import SeparateReader
from sessapp.sessions.tokens import hash_token


def _links(page):
    html = page.html
    return {
        "brand": html.find("a", {"class": "brand"})["href"],
        "stylesheet": html.find("link", {"rel": "stylesheet"})["href"],
        "sign_in": html.find("a", string="Sign in")["href"],
        "theme": html.find("form", {"action": lambda a: a and "theme" in a})["action"],
    }


@pytest.mark.backends("sqlite")
def test_page_links_follow_the_mount_point_of_each_request(harness, testapp):
    mounted = _links(testapp.get("/", extra_environ={"SCRIPT_NAME": "/auth"}))
    assert mounted == {"brand": "/auth/", "stylesheet": "/auth/static/sessapp.css",
                       "sign_in": "/auth/login", "theme": "/auth/preferences/theme"}
    # Another mount point, then none: nothing carried over from the first.
    other = _links(testapp.get("/", extra_environ={"SCRIPT_NAME": "/other/app"}))
    assert other["brand"] == "/other/app/" and other["sign_in"] == "/other/app/login"
    plain = _links(testapp.get("/"))
    assert plain == {"brand": "/", "stylesheet": "/static/sessapp.css",
                     "sign_in": "/login", "theme": "/preferences/theme"}


@pytest.mark.backends("sqlite")
def test_signed_in_links_use_the_mount_point(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice")
    page = testapp.get("/profile", extra_environ={"SCRIPT_NAME": "/auth"})
    hrefs = {a["href"] for a in page.html.find("nav").find_all("a")}
    assert {"/auth/profile", "/auth/sessions"} <= hrefs
    assert page.html.find("form", {"action": "/auth/logout"}) is not None


@pytest.mark.backends("sqlite")
def test_request_properties_live_on_one_request_class(harness):
    router = harness.app
    assert router.request_extensions.descriptors == {}
    request_class = router.request_factory
    for name in ("tm", "dbsession", "paths", "request_id"):
        assert name in vars(request_class), name
    # Every request is of that class: none gets a class of its own.
    first, second = request_class.blank("/"), request_class.blank("/")
    assert type(first) is type(second) is request_class


def test_properties_added_by_a_later_commit_still_apply():
    config = Configurator()
    config.add_request_method(lambda request: "one", "first", reify=True)
    config.include("sessapp.request")
    config.commit()
    config.add_request_method(lambda request: "two", "second", reify=True)
    config.add_route("both", "/")
    config.add_view(lambda request: Response(f"{request.first} {request.second}"),
                    route_name="both")
    app = config.make_wsgi_app()
    assert "first" in vars(app.registry.getUtility(IRequestFactory))
    assert set(app.registry.getUtility(IRequestExtensions).descriptors) == {"second"}
    assert TestApp(app).get("/").text == "one two"


@contextmanager
def _request_in_transaction(harness) -> Iterator[Any]:
    """A request of the app, as a script would make one, in a transaction that
    is rolled back afterwards."""
    env = prepare(registry=harness.registry)
    request = env["request"]
    request.tm.begin()
    try:
        yield request
    finally:
        request.tm.abort()
        env["closer"]()


def _signed_in_token_hash(harness, testapp) -> str:
    harness.make_user("alice")
    testapp.login("alice")
    return hash_token(testapp.session_token)


def test_a_read_only_load_hands_out_a_loaded_user_that_writes_nothing(harness, testapp):
    token_hash = _signed_in_token_hash(harness, testapp)
    with _request_in_transaction(harness) as request:
        harness.sql.clear()
        row, user = get_session_store(request.registry).load(request, token_hash)
        assert len(harness.sql.statements) == 1
        assert row.token_hash == token_hash and row.user_id == user.id
        state = inspect(user)
        assert state.detached and not state.modified
        assert (user.username, user.is_admin, user.disabled) == ("alice", False, False)
        # Joining the request's SQL session later is an update, never an insert,
        # and with nothing changed, nothing is written.
        request.dbsession.add(user)
        request.dbsession.flush()
        assert harness.sql.writes == []
        user.username = "alice2"
        request.dbsession.flush()
        assert len(harness.sql.writes) == 1
        assert harness.sql.writes[0].lstrip().upper().startswith("UPDATE")


def test_a_load_for_writing_hands_out_the_user_of_the_request_transaction(harness, testapp):
    token_hash = _signed_in_token_hash(harness, testapp)
    with _request_in_transaction(harness) as request:
        _row, user = get_session_store(request.registry).load(request, token_hash, for_update=True)
        assert inspect(user).persistent
        assert user in request.dbsession
        # Loaded again in the same transaction: the very same object.
        _row, again = get_session_store(request.registry).load(request, token_hash)
        assert again is user


def test_an_unknown_token_loads_nothing(harness):
    with _request_in_transaction(harness) as request:
        assert get_session_store(request.registry).load(request, "0" * 64) is None
        assert get_session_store(request.registry).load(request, "0" * 64, for_update=True) is None


def test_a_load_after_the_request_transaction_wrote_sees_what_it_wrote(harness):
    # Once the request's transaction has begun, the session is read inside it:
    # a row this transaction wrote is not visible to any other connection yet.
    user_id = harness.make_user("alice")
    now = harness.clock.now()
    with _request_in_transaction(harness) as request:
        request.dbsession.add(SessionRecord(
            token_hash="a" * 64, public_id="b" * 32, user_id=user_id, data='{"k": 1}',
            version=1, created_at=now, last_seen_at=now, expires_at=now + timedelta(hours=1)))
        request.dbsession.flush()
        loaded = get_session_store(request.registry).load(request, "a" * 64)
        assert loaded is not None
        row, user = loaded
        assert row.data == '{"k": 1}' and user.id == user_id
        assert user in request.dbsession


# -- the bearer token's read, like the session's ----------------------------------


def _token_secret(harness, testapp) -> str:
    harness.make_user("alice")
    testapp.login("alice")
    reply = testapp.post_json(
        "/api/tokens", {"name": "ci", "expires_in_days": 1, "current_password": PASSWORD},
        headers={"X-CSRF-Token": testapp.csrf_token("/sessions")}, status=201)
    return reply.json["token"]


def test_a_token_read_outside_the_transaction_hands_out_a_detached_user(harness, testapp):
    secret = _token_secret(harness, testapp)
    with _request_in_transaction(harness) as request:
        harness.sql.clear()
        token, user = api_tokens.lookup(request, secret, SeparateReader())
        assert len(harness.sql.statements) == 1
        # Read on a connection of its own: the request's SQL session never began.
        assert not request.dbsession.in_transaction()
        assert inspect(user).detached and user not in request.dbsession
        assert (user.username, token.user_id, token.scopes) == ("alice", user.id, ("read",))
        assert token.is_live(harness.clock.now())


def test_a_token_read_after_the_transaction_began_is_part_of_it(harness, testapp):
    secret = _token_secret(harness, testapp)
    with _request_in_transaction(harness) as request:
        request.dbsession.execute(text("SELECT 1"))
        token, user = api_tokens.lookup(request, secret, SeparateReader())
        assert user in request.dbsession
        # What the transaction wrote, the read sees.
        request.dbsession.execute(
            text("UPDATE api_tokens SET revoked_at = created_at WHERE id = :id"), {"id": token.id})
        token, _user = api_tokens.lookup(request, secret, SeparateReader())
        assert not token.is_live(harness.clock.now())


@pytest.mark.parametrize("secret", ["", "sessapp_short", "sessapp_" + "\udc80" * 43,
                                    "other_" + "a" * 45])
def test_a_malformed_token_reads_nothing(harness, secret):
    with _request_in_transaction(harness) as request:
        harness.sql.clear()
        assert api_tokens.lookup(request, secret, SeparateReader()) is None
        assert harness.sql.statements == []
