"""The HTTP session: a dict that knows whether, and how, it must be saved.

It records intentions (data changed, needs a touch, rotate, invalidate) while the
view runs; :class:`SessionWriter` turns them into SQL when the request's
transaction commits, and the response callback sets or expires the cookie only
after that commit succeeded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import zope.sqlalchemy
from pyramid.interfaces import ISession
from transaction.interfaces import IDataManager, NoTransaction
from zope.interface import implementer

from .errors import SessionDataError, SessionDataTooLarge
from .settings import SessionSettings
from .store import SessionStore
from .tokens import hash_token, new_public_id, new_token

if TYPE_CHECKING:
    from pyramid.request import Request

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_MISSING = object()
USER_AGENT_MAX = 300


def _mutates(method: F) -> F:
    """Mark a dict method as changing the data: check the size, schedule a save."""

    @wraps(method)
    def wrapper(self: ServerSideSession, *args: Any, **kwargs: Any) -> Any:
        before = dict(self)
        result = method(self, *args, **kwargs)
        try:
            self._data_changed()
        except SessionDataError:
            dict.clear(self)
            dict.update(self, before)
            raise
        return result

    return wrapper  # type: ignore[return-value]


class SessionHost(Protocol):
    """What a session needs of whoever made it (the factory): its settings, its
    store, the time, and the cookie. The session never imports the factory."""

    settings: SessionSettings
    store: SessionStore

    def now(self, request: Request) -> datetime: ...

    def set_cookie(self, response: Any, token: str | None) -> None: ...

    def expire_cookie(self, response: Any) -> None: ...


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@implementer(ISession)
class ServerSideSession(dict):
    """A server-side session whose row is read by one query and written at most
    once, inside the request's transaction."""

    def __init__(
        self,
        request: Request,
        factory: SessionHost,
        now: datetime,
        record: Any = None,
        identity: Any = None,
    ) -> None:
        """``record`` is the stored row as :meth:`SessionStore.load` reads it (any
        object with the session columns as attributes), or None for a new
        session; ``identity`` is what the host's identity hook built for its user."""
        self._request = request
        self._factory = factory
        self._now = now
        self._writer: SessionWriter | None = None
        self._dirty = False
        self._needs_touch = False
        self._doomed_hashes: list[str] = []
        self._issued_token: str | None = None
        self._expire_cookie = False
        self._committed = False
        if record is None:
            self._become_new(now)
            return
        super().__init__(self._decode(record.data))
        self._token_hash: str | None = record.token_hash
        self._version = record.version
        self.public_id = record.public_id
        self.user_id: Any = record.user_id
        self.identity: Any = identity
        self.created_at = record.created_at
        self.last_seen_at = record.last_seen_at
        self.authenticated_at: datetime | None = record.authenticated_at
        self.new = False
        if (now - record.last_seen_at).total_seconds() >= factory.settings.touch_interval:
            self._needs_touch = True
            self._schedule_save()

    # -- ISession ---------------------------------------------------------

    @property
    def created(self) -> float:
        return self.created_at.replace(tzinfo=UTC).timestamp()

    def invalidate(self) -> None:
        """End this session now: its row is deleted at commit and the cookie
        expired; anything stored afterwards goes into a brand-new session."""
        had_row = self._token_hash is not None or self._doomed_hashes
        self._forget_row()
        dict.clear(self)
        self._become_new(self._now)
        if had_row:
            self._schedule_save()

    def changed(self) -> None:
        self._data_changed()

    def flash(self, msg: Any, queue: str = "", allow_duplicate: bool = True) -> None:
        storage = list(self.get("_f_" + queue, []))
        if allow_duplicate or msg not in storage:
            storage.append(msg)
            self["_f_" + queue] = storage

    def pop_flash(self, queue: str = "") -> list[Any]:
        key = "_f_" + queue
        if key not in self:
            return []
        return self.pop(key)

    def peek_flash(self, queue: str = "") -> list[Any]:
        return list(self.get("_f_" + queue, []))

    # -- dict API that changes data ---------------------------------------

    __setitem__ = _mutates(dict.__setitem__)
    __delitem__ = _mutates(dict.__delitem__)
    clear = _mutates(dict.clear)
    update = _mutates(dict.update)
    setdefault = _mutates(dict.setdefault)
    pop = _mutates(dict.pop)
    popitem = _mutates(dict.popitem)

    def __ior__(self, other: Any) -> ServerSideSession:
        self.update(other)
        return self

    # -- additions to ISession -------------------------------------------

    def rotate(self, *, user_id: Any = _MISSING, identity: Any = None,
               keep: Iterable[str] | None = None) -> None:
        """Issue a new token; the old row is deleted in the same transaction.

        ``user_id`` (when given) becomes the signed-in user of the new session
        (None: nobody), and ``identity`` the host's object for it in the rest of
        this request (later requests get it from the identity hook). Without
        ``user_id`` the session keeps its user. The data named by ``keep`` (all
        of it when None) moves over.
        """
        kept = dict(self) if keep is None else {k: self[k] for k in keep if k in self}
        proved_at = self.authenticated_at
        if user_id is _MISSING:
            user_id, identity = self.user_id, self.identity
        elif user_id is None or user_id != self.user_id:
            proved_at = None
        self._forget_row()
        # A fresh reading: a sessions epoch moved earlier in this request (password
        # change) must not outdate the session that replaces this one.
        self._now = self._factory.now(self._request)
        self._become_new(self._now)
        dict.clear(self)
        dict.update(self, kept)
        self.user_id = user_id
        self.identity = None if user_id is None else identity
        self.authenticated_at = proved_at
        self._data_changed()

    def mark_authenticated(self) -> None:
        """Record that the user proved who they are just now (a sign-in, a
        re-entered password, a second factor): saved with the session, and
        carried over by :meth:`rotate` as long as the user stays the same."""
        self.authenticated_at = self._factory.now(self._request)
        self._data_changed()

    def authenticated_within(self, seconds: float) -> bool:
        """Whether the last proof of identity is at most ``seconds`` old."""
        if self.authenticated_at is None:
            return False
        age = (self._factory.now(self._request) - self.authenticated_at).total_seconds()
        return 0 <= age <= seconds

    @property
    def is_stored(self) -> bool:
        return self._token_hash is not None

    # -- internals --------------------------------------------------------

    def _decode(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("session %s had unreadable data; starting it empty", "?")
            return {}
        return data

    def _become_new(self, now: datetime) -> None:
        self._token_hash = None
        self._version = 0
        self.public_id = new_public_id()
        self.user_id = None
        self.identity = None
        self.authenticated_at = None
        self.created_at = now
        self.last_seen_at = now
        self.new = True
        self._needs_touch = False

    def _forget_row(self) -> None:
        if self._token_hash is not None:
            self._doomed_hashes.append(self._token_hash)
        self._token_hash = None

    def _data_changed(self) -> None:
        try:
            encoded = _json(self)
        except (TypeError, ValueError) as exc:
            raise SessionDataError(f"session values must be JSON: {exc}") from None
        size = len(encoded.encode("utf-8"))
        limit = self._factory.settings.max_size
        if size > limit:
            raise SessionDataTooLarge(size, limit)
        self._dirty = True
        self._schedule_save()

    def _schedule_save(self) -> None:
        if self._writer is not None:
            return
        request = self._request
        try:
            transaction = request.tm.get()
        except NoTransaction:
            log.warning("session changed outside a transaction; the change is not saved")
            return
        # Join the SQL session now, while the transaction still accepts
        # resources, so that the rows are written before it commits.
        zope.sqlalchemy.mark_changed(request.dbsession, request.tm)
        self._writer = SessionWriter(self, request.tm)
        transaction.join(self._writer)

    def _has_content(self) -> bool:
        return bool(self) or self.user_id is not None

    def _expiry(self, last_seen: datetime) -> datetime:
        settings = self._factory.settings
        return min(
            last_seen + timedelta(seconds=settings.idle_timeout),
            self.created_at + timedelta(seconds=settings.absolute_timeout),
        )

    def _write(self) -> None:
        """Turn the recorded intentions into SQL (called as the transaction commits)."""
        request = self._request
        dbsession = request.dbsession
        dbsession.flush()
        store = self._factory.store
        now = self._now
        ip = request.client_addr
        store.delete_by_hash(dbsession, self._doomed_hashes)
        if self._token_hash is None:
            if self._has_content():
                token = new_token()
                user_agent = request.user_agent
                store.insert(dbsession, {
                    "token_hash": hash_token(token),
                    "public_id": self.public_id,
                    "user_id": self.user_id,
                    "data": _json(self),
                    "version": 1,
                    "created_at": self.created_at,
                    "last_seen_at": now,
                    "expires_at": self._expiry(now),
                    "authenticated_at": self.authenticated_at,
                    "ip": ip,
                    "user_agent": user_agent[:USER_AGENT_MAX] if user_agent else None,
                })
                settings = self._factory.settings
                if self.user_id is not None and settings.max_per_user:
                    store.trim_user_sessions(dbsession, self.user_id, settings.max_per_user)
                elif self.user_id is None and ip and settings.anonymous_max_per_ip:
                    store.trim_anonymous_sessions(dbsession, ip, settings.anonymous_max_per_ip)
                self._issued_token = token
            elif self._doomed_hashes:
                self._expire_cookie = True
        elif self._dirty:
            store.update_data(
                dbsession,
                self._token_hash,
                self._version,
                data=_json(self),
                last_seen_at=now,
                expires_at=self._expiry(now),
                ip=ip,
                authenticated_at=self.authenticated_at,
            )
        elif self._needs_touch:
            store.touch(
                dbsession,
                self._token_hash,
                last_seen_at=now,
                expires_at=self._expiry(now),
                ip=ip,
            )

    def _on_commit(self) -> None:
        self._committed = True

    def _apply_cookie(self, request: Request, response: Any) -> None:
        """Response callback: runs after pyramid_tm finished, so the commit's
        outcome is known; a failed or aborted request changes no cookie."""
        if self._committed and self._issued_token is not None:
            self._factory.set_cookie(response, self._issued_token)
        elif self._committed and self._expire_cookie:
            self._factory.expire_cookie(response)


@implementer(IDataManager)
class SessionWriter:
    """Joins the request's transaction to write the session row in it.

    Sorted before zope.sqlalchemy's data manager (whose key starts with "~"), so
    the statements run on the request's SQL transaction before it commits; if
    they fail, the transaction package aborts every resource, SQL included.
    """

    def __init__(self, session: ServerSideSession, transaction_manager: Any) -> None:
        self.session = session
        self.transaction_manager = transaction_manager

    def sortKey(self) -> str:
        return "sessapp.sessions"

    def tpc_begin(self, transaction: Any) -> None:
        self.session._write()

    def commit(self, transaction: Any) -> None:
        pass

    def tpc_vote(self, transaction: Any) -> None:
        pass

    def tpc_finish(self, transaction: Any) -> None:
        self.session._on_commit()

    def tpc_abort(self, transaction: Any) -> None:
        pass

    def abort(self, transaction: Any) -> None:
        pass
