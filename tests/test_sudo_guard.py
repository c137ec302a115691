"""The sudo view option on its own, without the app: what it lets through and
what it answers instead (STYLE: test the guard, not only the flow)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pyramid import testing
from pyramid.request import Request

from sessapp.security.sudo import carries_current_password, sudo_view
from sessapp.settings import SessappSettings


class FakeSession:
    def __init__(self, fresh: bool) -> None:
        self.fresh = fresh
        self.asked: list[float] = []

    def authenticated_within(self, seconds: float) -> bool:
        self.asked.append(seconds)
        return self.fresh


@pytest.fixture
def config() -> Any:
    config = testing.setUp()
    config.add_route("sudo", "/sudo")
    config.add_route("admin", "/admin")
    config.registry.sessapp_settings = SessappSettings()
    yield config
    testing.tearDown()


def make_request(config: Any, path: str, *, fresh: bool, method: str = "POST",
                 **kw: Any) -> Request:
    if "json_body" in kw:
        kw["content_type"] = "application/json"
    request = Request.blank(path, method=method, **kw)
    request.registry = config.registry
    request.session = FakeSession(fresh)
    return request


def guarded(option: Any = True) -> Any:
    def view(context: Any, request: Any) -> str:
        return "ran"
    return sudo_view(view, SimpleNamespace(options={"sudo": option}, exception_only=False))


def test_a_fresh_proof_runs_the_view_and_asks_the_setting(config):
    request = make_request(config, "/password", fresh=True, POST={"x": "1"})
    assert guarded()(None, request) == "ran"
    assert request.session.asked == [SessappSettings().auth.sudo_timeout]


def test_a_stale_proof_answers_without_running_the_view(config):
    request = make_request(config, "/password", fresh=False, POST={"x": "1"})
    response = guarded()(None, request)
    assert response.status_int == 303
    assert response.location.endswith("/sudo?next=%2Fpassword")


def test_a_named_route_is_where_sudo_sends_the_browser_back(config):
    request = make_request(config, "/admin/users/3/disable", fresh=False, POST={"x": "1"})
    assert guarded("admin")(None, request).location.endswith("/sudo?next=%2Fadmin")


def test_a_stale_get_comes_back_to_itself(config):
    request = make_request(config, "/mfa/totp?a=b", fresh=False, method="GET")
    assert guarded("admin")(None, request).location.endswith(
        "/sudo?next=%2Fmfa%2Ftotp%3Fa%3Db")


def test_json_gets_403_naming_sudo(config):
    request = make_request(config, "/api/tokens", fresh=False, json_body={"name": "x"})
    response = guarded()(None, request)
    assert response.status_int == 403
    assert response.json["sudo"] == "/sudo"


@pytest.mark.parametrize("kw, carries", [
    ({"POST": {"current_password": "pw"}}, True),
    ({"POST": {"current_password": ""}}, False),
    ({"POST": {"other": "pw"}}, False),
    ({"json_body": {"current_password": "pw"}}, True),
    ({"json_body": {"current_password": 5}}, False),
    ({"json_body": ["current_password"]}, False),
])
def test_a_current_password_goes_to_the_view_whatever_the_sudo_state(config, kw, carries):
    request = make_request(config, "/password", fresh=False, **kw)
    assert carries_current_password(request) is carries
    result = guarded()(None, request)
    assert (result == "ran") is carries


def test_a_get_with_a_current_password_in_the_query_is_not_a_proof(config):
    request = make_request(config, "/mfa/totp?current_password=pw", fresh=False, method="GET")
    assert guarded()(None, request).status_int == 303


def test_views_without_the_option_are_left_alone(config):
    def view(context: Any, request: Any) -> str:
        return "ran"
    info = SimpleNamespace(options={}, exception_only=False)
    assert sudo_view(view, info) is view
