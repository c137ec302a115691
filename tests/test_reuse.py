"""The clean boundary: another Pyramid app includes ``sessapp.security`` with its
own few settings and views, and gets the same sessions, policies and deny-by-default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.response import Response
from pyramid.security import forget, remember
from sqlalchemy import text

from sessapp.accounts import users as accounts
from sessapp.models import User
from sessapp.security.acl import ACCOUNT, PUBLIC
from sessapp.sessions.tokens import hash_token

COOKIE = "other_session"


# -- the other app ------------------------------------------------------------------


def csrf(request: Any) -> Response:
    return Response(get_csrf_token(request))


def login(request: Any) -> Response:
    """Signs in whoever is named: the other app's own business, not sessapp's."""
    user = request.dbsession.get(User, int(request.POST["user_id"]))
    remember(request, str(user.id), user=user)
    return Response("signed in")


def logout(request: Any) -> Response:
    forget(request)
    return Response("signed out")


def secret(request: Any) -> Response:
    return Response(f"hello {request.identity.username}")


def store_colour(request: Any) -> Response:
    request.session["colour"] = request.POST["colour"]
    return Response("stored")


def read_colour(request: Any) -> Response:
    return Response(json_body={"colour": request.session.get("colour")})


def other_wsgi_app(url: str) -> Any:
    config = Configurator(settings={
        "sqlalchemy.url": url,
        "session.cookie_name": COOKIE,
        "session.idle_timeout": "600",
        "session.absolute_timeout": "3600",
        "auth.policies": "session",
        "auth.bcrypt_rounds": "4",
    })
    config.include("sessapp.security")
    for name, path in [("csrf", "/csrf"), ("login", "/login"), ("logout", "/logout"),
                       ("secret", "/secret"), ("colour", "/colour")]:
        config.add_route(name, path)
    config.add_view(csrf, route_name="csrf", permission=PUBLIC)
    config.add_view(login, route_name="login", request_method="POST", permission=PUBLIC)
    config.add_view(logout, route_name="logout", request_method="POST", permission=ACCOUNT)
    config.add_view(secret, route_name="secret", permission=ACCOUNT)
    config.add_view(store_colour, route_name="colour", request_method="POST",
                    permission=PUBLIC)
    config.add_view(read_colour, route_name="colour", request_method="GET",
                    permission=PUBLIC)
    return config.make_wsgi_app()


@pytest.fixture
def other(harness: Any) -> Iterator[webtest.TestApp]:
    app = other_wsgi_app(harness.url)
    yield webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost",
                                              "REMOTE_ADDR": "192.0.2.33",
                                              "HTTP_USER_AGENT": "other-app-test"})
    app.registry["db_engine"].dispose()


def post(client: webtest.TestApp, path: str, form: dict[str, str], *,
         status: int = 200) -> Any:
    token = client.get("/csrf").text
    return client.post(path, {**form, "csrf_token": token}, status=status)


def sign_in(client: webtest.TestApp, user_id: int) -> Any:
    return post(client, "/login", {"user_id": str(user_id)})


def stored_sessions(harness: Any) -> list[Any]:
    with harness.engine.connect() as connection:
        return list(connection.execute(
            text("SELECT token_hash, user_id, data, ip, user_agent FROM sessions")))


# -- tests ----------------------------------------------------------------------------


def test_anonymous_is_refused_the_guarded_view(other, harness):
    other.get("/secret", status=403)
    assert harness.count("sessions") == 0


def test_a_remembered_user_reaches_the_guarded_view(other, harness):
    alice = harness.make_user("alice")
    response = sign_in(other, alice)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert other.get("/secret", status=200).text == "hello alice"


def test_the_other_apps_sessions_live_in_the_same_table(other, harness):
    alice = harness.make_user("alice")
    sign_in(other, alice)
    rows = stored_sessions(harness)
    assert len(rows) == 1
    assert rows[0].user_id == alice
    assert rows[0].token_hash == hash_token(other.cookies[COOKIE])
    assert rows[0].ip == "192.0.2.33"
    assert rows[0].user_agent == "other-app-test"


def test_a_public_view_stores_into_a_new_session_row(other, harness):
    other.get("/colour", status=200)
    assert harness.count("sessions") == 0  # reading creates nothing
    assert COOKIE not in other.cookies
    post(other, "/colour", {"colour": "teal"})
    assert other.get("/colour").json == {"colour": "teal"}
    rows = stored_sessions(harness)
    assert len(rows) == 1
    assert rows[0].user_id is None
    assert '"colour":"teal"' in rows[0].data
    assert rows[0].token_hash == hash_token(other.cookies[COOKIE])


def test_remember_issues_a_new_session_id(other, harness):
    alice = harness.make_user("alice")
    post(other, "/colour", {"colour": "teal"})
    anonymous_token = other.cookies[COOKIE]
    sign_in(other, alice)
    assert other.cookies[COOKIE] != anonymous_token
    assert [row.token_hash for row in stored_sessions(harness)] == [
        hash_token(other.cookies[COOKIE])]


def test_the_other_apps_views_need_csrf_tokens_too(other, harness):
    alice = harness.make_user("alice")
    other.get("/csrf")
    other.post("/login", {"user_id": str(alice)}, status=400)
    other.post("/colour", {"colour": "teal"}, status=400)
    assert harness.count("sessions") == 0
    other.get("/secret", status=403)


def test_forget_ends_the_session(other, harness):
    alice = harness.make_user("alice")
    sign_in(other, alice)
    post(other, "/logout", {})
    other.get("/secret", status=403)
    assert harness.count("sessions") == 0


def test_ending_sessions_elsewhere_ends_them_in_the_other_app(other, harness):
    alice = harness.make_user("alice")
    sign_in(other, alice)
    with harness.transaction() as dbsession:
        accounts.end_sessions(dbsession, dbsession.get(User, alice))
    other.get("/secret", status=403)


def test_a_disabled_user_is_refused_in_the_other_app(other, harness):
    alice = harness.make_user("alice")
    sign_in(other, alice)
    with harness.transaction() as dbsession:
        dbsession.get(User, alice).disabled = True
    other.get("/secret", status=403)


def test_a_bearer_header_never_rides_the_other_apps_cookie(other, harness):
    alice = harness.make_user("alice")
    sign_in(other, alice)
    other.get("/secret", headers={"Authorization": "Bearer whatever"}, status=403)
    assert other.get("/secret").text == "hello alice"
