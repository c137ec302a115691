"""Flash messages as Pyramid's ISession defines them: duplicates kept unless
``allow_duplicate=False``, one queue per name, popped once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyramid.interfaces import ISessionFactory
from pyramid.scripting import prepare


@pytest.fixture
def session(harness) -> Iterator:
    env = prepare(registry=harness.registry)
    request = env["request"]
    request.tm.begin()
    yield request.registry.getUtility(ISessionFactory)(request)
    request.tm.abort()
    env["closer"]()


def test_the_same_message_twice_is_shown_twice_by_default(session):
    session.flash("Saved.")
    session.flash("Saved.")
    assert session.pop_flash() == ["Saved.", "Saved."]
    assert session.pop_flash() == []


def test_allow_duplicate_false_keeps_one_copy(session):
    session.flash("Saved.", allow_duplicate=False)
    session.flash("Saved.", allow_duplicate=False)
    session.flash("Other.", allow_duplicate=False)
    assert session.peek_flash() == ["Saved.", "Other."]


def test_queues_are_separate(session):
    session.flash("Oops.", "error")
    session.flash("Done.")
    assert session.pop_flash("error") == ["Oops."]
    assert session.pop_flash() == ["Done."]
