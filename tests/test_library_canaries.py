"""Canaries for sessapp's shortcuts into libraries' internals.

Each shortcut below skips a library's public way because a measurement showed
it pays (the figure is in a comment at the shortcut and in docs/performance.md).
It relies on something the library does not promise; these tests fail loudly
the day the library changes it, by checking the internal still exists and by
comparing the shortcut's result with what the library's public way gives.
"""

from __future__ import annotations

import inspect
from http.cookies import SimpleCookie

import pytest
import sqlalchemy.event
import transaction
import zope.sqlalchemy
from conftest import ROOT
from pyramid.config import Configurator
from pyramid.csrf import CookieCSRFStoragePolicy
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.paster import get_appsettings
from pyramid.request import Request, apply_request_extensions
from pyramid.response import Response
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from webtest import TestApp
from zope.sqlalchemy.datamanager import ZopeTransactionEvents

from sessapp.models import _TransactionEvents, get_session_factory, get_tm_session
from sessapp.request import bake_request_properties
from sessapp.security.csrf import CookieTokenPolicy
from sessapp.settings import parse_settings

# -- sessapp/request.py: reified request properties on one class ---------------


def _app_with_counted_property() -> tuple[TestApp, list[int]]:
    calls: list[int] = []

    def counted(request: Request) -> int:
        calls.append(1)
        return len(calls)

    config = Configurator()
    config.add_request_method(counted, "counted", reify=True)
    config.include("sessapp.request")
    config.add_route("twice", "/")
    config.add_view(lambda request: Response(f"{request.counted} {request.counted}"),
                    route_name="twice")
    return TestApp(config.make_wsgi_app()), calls


def test_pyramid_keeps_reified_properties_in_request_extensions_descriptors():
    """What the bake moves: Pyramid stores ``add_request_method(reify=True)``
    properties in ``IRequestExtensions.descriptors``, a dict by name."""
    config = Configurator()
    config.add_request_method(lambda request: 1, "one", reify=True)
    config.commit()
    extensions = config.registry.getUtility(IRequestExtensions)
    assert isinstance(extensions.descriptors, dict)
    assert set(extensions.descriptors) == {"one"}


def test_pyramid_gives_each_request_a_class_of_its_own_unless_descriptors_are_empty():
    """What the bake saves, and what it relies on: the router's public way
    (``apply_request_extensions``) makes a subclass per request while there are
    descriptors, and leaves the class alone once they are cleared."""
    config = Configurator()
    config.add_request_method(lambda request: 1, "one", reify=True)
    config.commit()
    extensions = config.registry.getUtility(IRequestExtensions)
    request = Request.blank("/")
    apply_request_extensions(request, extensions)
    assert type(request) is not Request and request.one == 1

    baked = bake_request_properties(config.registry)
    assert baked is config.registry.getUtility(IRequestFactory)
    assert extensions.descriptors == {}
    request = baked.blank("/")
    apply_request_extensions(request, extensions)
    assert type(request) is baked and request.one == 1


def test_a_baked_property_is_still_reified_once_per_request():
    """The descriptor moved onto the class still caches per request, exactly as
    when Pyramid applies it to each request."""
    app, calls = _app_with_counted_property()
    assert app.get("/").text == "1 1"
    assert app.get("/").text == "2 2"
    assert len(calls) == 2
    router = app.app
    assert router.request_extensions.descriptors == {}
    assert "counted" in vars(router.request_factory)


# -- sessapp/security/csrf.py: the CSRF cookie's Set-Cookie built once -----------


def _settings(ini: str):
    return parse_settings(dict(get_appsettings(str(ROOT / ini))))


def _set_cookie_headers(policy: CookieTokenPolicy, new_token) -> list[str]:
    """The Set-Cookie headers a response gets after ``new_token(policy, request)``."""
    config = Configurator()
    config.add_route("token", "/")
    config.add_view(lambda request: Response(new_token(policy, request)), route_name="token")
    reply = TestApp(config.make_wsgi_app()).get("/")
    assert reply.text == "fixed-token"
    return reply.headers.getall("Set-Cookie")


def _attributes(header: str) -> dict[str, dict[str, str]]:
    cookie = SimpleCookie()
    cookie.load(header)
    return {name: {key: str(value) for key, value in morsel.items() if value}
            | {"": morsel.value} for name, morsel in cookie.items()}


@pytest.mark.parametrize("ini", ["development.ini", "production.ini"])
def test_the_hand_built_csrf_cookie_is_the_one_pyramid_would_send(ini, monkeypatch):
    """Attribute for attribute, what Pyramid's own CookieCSRFStoragePolicy sends
    for the same settings (the flags sessapp.security.csrf.includeme passes)."""
    settings = _settings(ini)
    cookie = settings.session.cookie
    policy = CookieTokenPolicy(cookie_name=settings.csrf_cookie_name, secure=cookie.secure,
                               httponly=True, samesite=cookie.samesite, path="/",
                               domain=None)
    monkeypatch.setattr(policy, "_token_factory", lambda: "fixed-token")

    ours = _set_cookie_headers(policy, CookieTokenPolicy.new_csrf_token)
    pyramids = _set_cookie_headers(policy, CookieCSRFStoragePolicy.new_csrf_token)

    assert len(ours) == len(pyramids) == 1
    assert _attributes(ours[0]) == _attributes(pyramids[0])
    assert ours == pyramids  # same order and spelling too
    flags = _attributes(ours[0])[settings.csrf_cookie_name]
    assert ("secure" in flags) is cookie.secure and "httponly" in flags


def test_the_hand_built_csrf_cookie_refuses_a_lifetime():
    """Pyramid would compute Expires per response; a header built once cannot."""
    with pytest.raises(ValueError, match="max_age"):
        CookieTokenPolicy(cookie_name="csrf_token", max_age=3600)


# -- sessapp/models/__init__.py: zope.sqlalchemy's listeners, once ---------------


def _listeners_register_installs(monkeypatch) -> dict[str, str]:
    """Event name -> handler name, for what ``zope.sqlalchemy.register`` installs."""
    installed: dict[str, str] = {}

    def record(target, name, handler, *args, **kwargs):
        assert isinstance(handler.__self__, ZopeTransactionEvents)
        installed[name] = handler.__name__

    monkeypatch.setattr(sqlalchemy.event, "listen", record)
    zope.sqlalchemy.register(Session(), transaction_manager=transaction.TransactionManager())
    return installed


def test_the_sessionmaker_forwards_every_event_zope_sqlalchemy_registers(monkeypatch):
    installed = _listeners_register_installs(monkeypatch)
    assert installed == {name: name for name in _TransactionEvents.EVENTS}


def test_zope_sqlalchemy_handlers_take_what_the_forwarders_pass():
    for name in _TransactionEvents.EVENTS:
        theirs = inspect.signature(getattr(ZopeTransactionEvents, name)).parameters
        ours = inspect.signature(getattr(_TransactionEvents, name)).parameters
        assert list(theirs) == list(ours), name


def test_the_forwarders_build_the_handlers_register_would():
    """``register(dbsession, transaction_manager=...)`` builds its handlers with
    its own defaults; the forwarders build them with ZopeTransactionEvents's."""
    register = inspect.signature(zope.sqlalchemy.register).parameters
    events = inspect.signature(ZopeTransactionEvents.__init__).parameters
    for name in ("initial_state", "keep_session"):
        assert register[name].default == events[name].default, name
    assert "transaction_manager" in events


class _CanaryBase(DeclarativeBase):
    pass


class _Thing(_CanaryBase):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(primary_key=True)


def _count(dbsession: Session) -> int:
    return dbsession.scalar(select(func.count()).select_from(_Thing))


@pytest.mark.parametrize("end", ["commit", "abort"])
def test_a_tm_session_joins_its_transaction_as_a_registered_one_does(end, tmp_path):
    """The same write, through the shortcut and through the public way
    (``zope.sqlalchemy.register``), ends the same way with the transaction."""
    engine = create_engine(f"sqlite:///{tmp_path / 'canary.sqlite'}")
    _CanaryBase.metadata.create_all(engine)
    ours = get_session_factory(engine)
    plain = sessionmaker(bind=engine)

    def registered(manager: transaction.TransactionManager) -> Session:
        dbsession = plain()
        zope.sqlalchemy.register(dbsession, transaction_manager=manager)
        return dbsession

    def shortcut(manager: transaction.TransactionManager) -> Session:
        return get_tm_session(ours, manager)

    counts = {}
    for make in (registered, shortcut):
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        make(manager).add(_Thing())
        getattr(manager, end)()
        with plain() as dbsession:
            counts[make.__name__] = _count(dbsession)
    assert counts == ({"registered": 1, "shortcut": 2} if end == "commit"
                      else {"registered": 0, "shortcut": 0})
    # A session without a transaction manager (write_apart's) is left alone.
    with ours() as dbsession, dbsession.begin():
        dbsession.add(_Thing())
    with plain() as dbsession:
        assert _count(dbsession) == counts["shortcut"] + 1
