"""The policy chain caches who a request is; signing in or out must drop that
answer, so the rest of the same request sees the new identity, and must pass
the caller's keywords on to the policy that remembers or forgets."""

from __future__ import annotations

from typing import Any

from conftest import PASSWORD
from pyramid.scripting import prepare
from pyramid.testing import DummyRequest

from sessapp.security.policies import BearerSecurityPolicy, PolicyChain, SessionSecurityPolicy


class RecordingPolicy:
    def __init__(self) -> None:
        self.user: Any = "alice"
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def identity(self, request: Any) -> Any:
        return self.user

    def authenticated_userid(self, request: Any) -> Any:
        return self.user

    def permits(self, request: Any, context: Any, permission: str) -> bool:
        return False

    def remember(self, request: Any, userid: Any, **kw: Any) -> list[Any]:
        self.calls.append(("remember", kw))
        self.user = userid
        return []

    def forget(self, request: Any, **kw: Any) -> list[Any]:
        self.calls.append(("forget", kw))
        self.user = None
        return []


def test_forgetting_drops_the_cached_identity_and_passes_keywords_on():
    policy = RecordingPolicy()
    chain, request = PolicyChain([policy]), DummyRequest()
    assert chain.identity(request) == "alice"
    chain.forget(request, reason="logout")
    assert chain.identity(request) is None
    assert chain.authenticated_userid(request) is None
    assert policy.calls == [("forget", {"reason": "logout"})]


def test_remembering_drops_the_cached_identity_and_passes_keywords_on():
    policy = RecordingPolicy()
    policy.user = None
    chain, request = PolicyChain([policy]), DummyRequest()
    assert chain.identity(request) is None
    chain.remember(request, "bob", max_age=60)
    assert chain.identity(request) == "bob"
    assert policy.calls == [("remember", {"max_age": 60})]


def test_authenticated_userid_is_the_signed_in_users_id_as_text(harness, testapp):
    """``request.authenticated_userid`` through the real chain, by cookie and by
    bearer token, and None for a request that is neither."""
    user_id = harness.make_user("alice")
    testapp.login()
    secret = testapp.post_json(
        "/api/tokens", {"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
        headers={"X-CSRF-Token": testapp.csrf_token("/sessions")}, status=201,
    ).json["token"]
    cookie = {"HTTP_COOKIE": f"session={testapp.session_token}"}
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert authenticated_userid(harness, cookie) == str(user_id)
    assert authenticated_userid(harness, bearer) == str(user_id)
    assert authenticated_userid(harness, {}) is None


def test_each_user_policy_alone_says_none_for_an_anonymous_request(harness):
    for policy in (SessionSecurityPolicy(), BearerSecurityPolicy()):
        assert authenticated_userid(harness, {}, policy.authenticated_userid) is None


def authenticated_userid(harness: Any, environ: dict[str, str], ask: Any = None) -> Any:
    env = prepare(registry=harness.registry)
    request = env["request"]
    request.environ.update(environ)
    try:
        request.tm.begin()
        try:
            return request.authenticated_userid if ask is None else ask(request)
        finally:
            request.tm.abort()
    finally:
        env["closer"]()
