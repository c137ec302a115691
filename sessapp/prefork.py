"""``pserve``'s multi-process server: gunicorn, one worker process per core.

One waitress process runs Python on one core at a time (the GIL), so
production's ``[server:main]`` uses ``egg:sessapp#gunicorn``: gunicorn's
arbiter forks ``workers`` processes, each listening on its own socket on the
same address (``reuse_port``) and serving ``threads`` requests at a time
(gunicorn's ``gthread`` worker), restarts a worker that dies or hangs past
``timeout``, and stops them all when it is stopped (SIGTERM to its PID: each
worker finishes its requests first, up to ``graceful_timeout``). Why gunicorn
rather than several waitress processes under a supervisor: docs/performance.md,
"Every core".

``pserve`` loads the app once, in the arbiter, before the fork: workers share
its code and settings, and every engine forgets its inherited connections in
each child (``sessapp.models._after_fork_in_child``). sessapp starts no thread
of its own, so nothing else needs restarting after the fork.

What waitress does for development and what sessapp relies on is kept:

- the same ``trusted_proxy*`` settings, applied by waitress's own
  ``proxy_headers_middleware``, so ``X-Forwarded-For``/``-Proto``/``-Host`` are
  believed from the proxy only and stripped from anyone else;
- ``max_request_body_size``: a larger body is refused with 413 before it is read;
- ``ident``: the ``Server`` header's value, none at all when empty (gunicorn
  always sends ``Server: gunicorn`` otherwise);
- each address it listens on printed as ``sessapp: serving on http://…`` and a
  busy port refused in one line with exit status 1 (see ``sessapp.server``).

Every other key of ``[server:main]`` must be one of gunicorn's settings (e.g.
``timeout``, ``graceful_timeout``, ``keepalive``, ``max_requests``,
``accesslog``); an unknown key stops start-up with one line naming it.
"""

from __future__ import annotations

import errno
import io
import os
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from waitress.proxy_headers import proxy_headers_middleware

from . import models

# Keys this runner reads itself, named as waitress names them so that one
# [server:main] vocabulary serves both runners.
PROXY_KEYS = ("trusted_proxy", "trusted_proxy_count", "trusted_proxy_headers",
              "clear_untrusted_proxy_headers")
OWN_KEYS = {"listen", "workers", "threads", "max_request_body_size", "ident", *PROXY_KEYS}
DEFAULT_LISTEN = "127.0.0.1:6543"
DEFAULT_THREADS = 4


class ServerSettingError(ValueError):
    """A ``[server:main]`` value this runner cannot use."""


def worker_count(value: str | int | None) -> int:
    """``workers``: a number, or ``auto`` (the default): one per core this
    process may run on."""
    if value is None or str(value).strip().lower() in ("", "auto"):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError:
        raise ServerSettingError(f"workers must be a number or auto, not {value!r}") from None
    if count < 1:
        raise ServerSettingError(f"workers must be at least 1, not {count}")
    return count


def _positive_int(key: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServerSettingError(f"{key} must be a whole number, not {value!r}") from None
    if number < 1:
        raise ServerSettingError(f"{key} must be at least 1, not {number}")
    return number


def pool_capacity(app_settings: dict[str, Any]) -> tuple[int, int]:
    """(pool_size, max_overflow) of the app's engine, SQLAlchemy's defaults if unset."""
    return (int(app_settings.get("sqlalchemy.pool_size", 5)),
            int(app_settings.get("sqlalchemy.max_overflow", 10)))


def pool_advice(app_settings: dict[str, Any], threads: int) -> str | None:
    """The pool sizing rule, checked per process: each of a process's
    ``threads`` holds a connection for its transaction (and briefly a second one
    to commit an auth event apart from it), so ``pool_size`` below ``threads``
    makes requests queue for connections; ``threads + 2`` is the rule
    production.ini follows. Returns the one-line warning, or None."""
    url = str(app_settings.get("sqlalchemy.url", ""))
    if url.startswith("sqlite"):
        return None  # SQLite's pool is per thread, not sized
    pool_size, _overflow = pool_capacity(app_settings)
    if pool_size < threads:
        return (f"sessapp: sqlalchemy.pool_size = {pool_size} is below threads = {threads}: "
                f"requests will wait for a connection; use threads + 2 = {threads + 2}")
    return None


def fit_to_database(app_settings: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """One process on SQLite, and the pool rule checked elsewhere: the lines to
    print. SQLite writers of one session take turns through a lock inside the
    process (``sessions.factory``), which other processes cannot see."""
    if str(app_settings.get("sqlalchemy.url", "")).startswith("sqlite") and \
            options["workers"] > 1:
        options["workers"] = 1
        return ["sessapp: SQLite is served by one process (workers = 1); "
                "use PostgreSQL for more"]
    advice = pool_advice(app_settings, options["threads"])
    return [advice] if advice else []


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before reading them
    (waitress's ``max_request_body_size``; gunicorn has no such setting)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit():
            if int(length) > self.limit:
                return self._too_large(start_response)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # No length up front: read at most one byte past the limit.
            body = environ["wsgi.input"].read(self.limit + 1)
            if len(body) > self.limit:
                return self._too_large(start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    @staticmethod
    def _too_large(start_response: Callable[..., Any]) -> list[bytes]:
        body = b"Request body too large\n"
        start_response("413 Request Entity Too Large", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))), ("Connection", "close")])
        return [body]


def wrap_app(app: Any, settings: dict[str, Any]) -> Any:
    """The app as gunicorn's workers run it: proxy headers, then the body limit."""
    limit = settings.get("max_request_body_size")
    if limit:
        app = BodyLimit(app, _positive_int("max_request_body_size", limit))
    if settings.get("trusted_proxy"):
        headers = settings.get("trusted_proxy_headers") or ""
        clear = str(settings.get("clear_untrusted_proxy_headers", "true")).lower()
        app = proxy_headers_middleware(
            app,
            trusted_proxy=settings["trusted_proxy"],
            trusted_proxy_count=_positive_int(
                "trusted_proxy_count", settings.get("trusted_proxy_count", 1)),
            trusted_proxy_headers={h.lower() for h in headers.split()},
            clear_untrusted=clear in ("true", "yes", "on", "1"),
        )
    return app


def name_the_server(ident: str) -> None:
    """waitress's ``ident`` for gunicorn: its responses' ``Server`` header says
    ``ident``, or is left out when ``ident`` is empty.

    gunicorn writes ``Server: gunicorn`` in ``Response.default_headers`` and has
    no setting for it; its ``wsgi.create`` builds each HTTP/1 response from the
    module's ``Response``, which this replaces, in the arbiter before the fork,
    with a subclass that edits that one line. A shortcut into gunicorn's
    internals: tests/test_prefork.py fails if a served response names the
    server again.
    """
    import gunicorn.http.wsgi as gunicorn_wsgi

    original = getattr(gunicorn_wsgi.Response, "_sessapp_original", gunicorn_wsgi.Response)

    class NamedResponse(original):  # type: ignore[misc,valid-type]
        _sessapp_original = original

        def default_headers(self) -> list[str]:
            lines = super().default_headers()
            if ident:
                return [f"Server: {ident}\r\n" if line.startswith("Server:") else line
                        for line in lines]
            return [line for line in lines if not line.startswith("Server:")]

    gunicorn_wsgi.Response = NamedResponse


def _split_listen(listen: str) -> list[tuple[str, int]]:
    addresses = []
    for item in listen.split():
        host, _, port = item.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"  # noqa: S104 (only when asked for)
        try:
            addresses.append((host, int(port)))
        except ValueError:
            raise ServerSettingError(f"listen must be host:port, not {item!r}") from None
    if not addresses:
        raise ServerSettingError("listen names no address")
    return addresses


def _check_free(addresses: list[tuple[str, int]]) -> None:
    """Bind each address once, as gunicorn will: gunicorn itself retries a busy
    port five times, a second apart, with a screen of log lines."""
    for host, port in addresses:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                reason = ("the address is already in use" if exc.errno == errno.EADDRINUSE
                          else exc.strerror or str(exc))
                raise OSError(f"cannot listen on {host}:{port}: {reason}") from None


def _url(address: Any) -> str:
    if isinstance(address, str):
        return f"unix:{address}"
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _print_addresses(server: Any) -> None:
    """gunicorn's ``when_ready`` hook: the start-up line every sessapp runner
    prints. With ``reuse_port`` the arbiter listens on nothing (each worker
    opens its own socket), so the configured addresses are printed."""
    addresses = [listener.sock.getsockname() for listener in server.LISTENERS]
    for address in addresses or server.cfg.address:
        print(f"sessapp: serving on {_url(address)}", file=sys.stderr, flush=True)


class _Gunicorn(BaseApplication):
    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._app


def gunicorn_options(settings: dict[str, Any]) -> dict[str, Any]:
    """gunicorn's configuration from ``[server:main]``'s keys."""
    known = set(Config().settings)
    options: dict[str, Any] = {
        "bind": [f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
                 for h, p in _split_listen(settings.get("listen") or DEFAULT_LISTEN)],
        "workers": worker_count(settings.get("workers")),
        "threads": _positive_int("threads", settings.get("threads", DEFAULT_THREADS)),
        "worker_class": "gthread",
        "proc_name": "sessapp",
        # The scheme and client address come from waitress's proxy middleware
        # (wrap_app), under trusted_proxy; gunicorn must not also guess them.
        "secure_scheme_headers": {},
        "forwarder_headers": "",
        "when_ready": _print_addresses,
        # Each worker listens on a socket of its own (SO_REUSEPORT) and the
        # kernel spreads new connections over them. On one shared socket the
        # worker awake first accepts a burst of keep-alive connections (a
        # proxy's pool) and keeps them: measured, 2 workers then served at 1.1x
        # one worker's rate in 2 runs of 3, one core idle (docs/performance.md).
        "reuse_port": hasattr(socket, "SO_REUSEPORT"),
        # gunicorn's control socket lives at one path per user
        # (~/.gunicorn/gunicorn.ctl): two servers on a host would fight over it.
        "control_socket_disable": True,
    }
    for key, value in settings.items():
        if key in OWN_KEYS:
            continue
        if key not in known or key in ("bind", "wsgi_app", "paste", "config"):
            raise ServerSettingError(f"unknown [server:main] setting {key!r} for "
                                     "egg:sessapp#gunicorn")
        options[key] = value
    return options


def serve_paste(app: Any, global_conf: dict[str, Any], **settings: Any) -> int:
    """The ``paste.server_runner``: ``use = egg:sessapp#gunicorn`` in ``[server:main]``."""
    try:
        options = gunicorn_options(settings)
        _check_free(_split_listen(settings.get("listen") or DEFAULT_LISTEN))
        wrapped = wrap_app(app, settings)
    except (ServerSettingError, OSError) as exc:
        print(f"sessapp: {exc}", file=sys.stderr, flush=True)
        # As in sessapp.server: exit status 1, not pserve's 0 for SystemExit.
        os._exit(1)
    registry = getattr(app, "registry", None)
    app_settings = dict(getattr(registry, "settings", None) or {})
    for line in fit_to_database(app_settings, options):
        print(line, file=sys.stderr, flush=True)
    # The arbiter never queries the database: close what the schema check
    # opened, so no worker even inherits its socket.
    models.close_every_engine()
    if "ident" in settings:
        name_the_server(settings["ident"] or "")
    arbiter = os.getpid()
    try:
        _Gunicorn(wrapped, options).run()
    except SystemExit as exc:
        # Workers leave, and the arbiter stops, by SystemExit. pserve would
        # print "Exiting 0" for each and turn any status into 0 (a worker that
        # could not boot stops the arbiter with 3): leave with the real status.
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if os.getpid() != arbiter or code:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return 0
