"""The session object against Pyramid's ISession contract, on a real request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyramid.interfaces import ISession, ISessionFactory
from pyramid.scripting import prepare
from zope.interface.verify import verifyObject

from sessapp.sessions import SessionDataError, SessionDataTooLarge


@pytest.fixture
def request_(harness) -> Iterator:
    env = prepare(registry=harness.registry)
    request = env["request"]
    request.tm.begin()
    yield request
    request.tm.abort()
    env["closer"]()


def new_session(request):
    return request.registry.getUtility(ISessionFactory)(request)


def test_implements_isession_completely(request_):
    session = new_session(request_)
    assert verifyObject(ISession, session)
    assert session.new is True
    assert isinstance(session.created, float)


def test_every_mutating_dict_method_marks_it_for_saving(request_):
    mutations = [
        lambda s: s.__setitem__("a", 1),
        lambda s: s.update(b=2),
        lambda s: s.setdefault("c", 3),
        lambda s: (s.__setitem__("d", 4), s.__delitem__("d")),
        lambda s: (s.__setitem__("e", 5), s.pop("e")),
        lambda s: (s.__setitem__("f", 6), s.popitem()),
        lambda s: (s.__setitem__("g", 7), s.clear()),
        lambda s: s.__ior__({"h": 8}),
    ]
    for mutate in mutations:
        session = new_session(request_)
        mutate(session)
        assert session._dirty, mutate


def test_reading_does_not_mark_it(request_):
    session = new_session(request_)
    session.get("x")
    "x" in session  # noqa: B015
    list(session.items())
    session.peek_flash()
    session.pop_flash()
    assert not session._dirty


def test_flash_queues(request_):
    session = new_session(request_)
    session.flash("one")
    session.flash("one", allow_duplicate=False)
    session.flash("two")
    session.flash("oops", "error")
    assert session.peek_flash() == ["one", "two"]
    assert session.pop_flash() == ["one", "two"]
    assert session.pop_flash() == []
    assert session.pop_flash("error") == ["oops"]


def test_only_json_values_are_accepted(request_):
    session = new_session(request_)
    session["ok"] = {"list": [1, 2.5, None, True, "é"]}
    for bad in (object(), {1, 2}, b"bytes", float("nan")):
        with pytest.raises((TypeError, ValueError)):
            session["bad"] = bad
        assert "bad" not in session
    assert session["ok"]["list"][4] == "é"


def test_too_large_data_is_refused_and_the_old_value_kept(request_):
    session = new_session(request_)
    limit = request_.registry.sessapp_settings.session.max_size
    session["keep"] = "me"
    with pytest.raises(SessionDataTooLarge) as info:
        session["big"] = "x" * limit
    assert isinstance(info.value, SessionDataError)
    assert dict(session) == {"keep": "me"}
    with pytest.raises(SessionDataTooLarge):
        session.update(big="x" * limit, other=1)
    assert dict(session) == {"keep": "me"}


def test_nested_changes_need_changed(request_):
    session = new_session(request_)
    session["cart"] = []
    session._dirty = False
    session["cart"].append(1)
    assert not session._dirty
    session.changed()
    assert session._dirty


def test_invalidate_empties_it_and_starts_a_new_one(request_):
    session = new_session(request_)
    session["a"] = 1
    old_public_id = session.public_id
    session.invalidate()
    assert dict(session) == {}
    assert session.new
    assert session.public_id != old_public_id


def test_rotate_keeps_only_the_named_data(request_):
    session = new_session(request_)
    session.update(a=1, b=2)
    old_public_id = session.public_id
    session.rotate(keep=["a"])
    assert dict(session) == {"a": 1}
    assert session.public_id != old_public_id
    session.rotate(keep=[])
    assert dict(session) == {}
