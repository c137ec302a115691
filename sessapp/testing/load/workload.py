"""The mix: N simulated people, each at its own browser in its own thread, going
round the site (register or sign in, browse signed-in pages, store session
values, read them back, sign out, sign in again) and checking as they go that
nothing they were told was stored is missing and that the cookie they signed
out with answers as signed out. Through an outage or a killed process they
reconcile, as people reload, and report a session lost only when one was."""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sessapp.testing.load.browser import (
    Browser,
    BudgetExhausted,
    Reply,
    TransportError,
    Unavailable,
    Unexpected,
)
from sessapp.testing.load.checks import Stats, check_signed_out, page_title
from sessapp.testing.load.constants import (
    JOIN_TIMEOUT,
    PASSWORD,
    RESYNC_TRIES,
    SESSION_COOKIE,
)
from sessapp.testing.load.processes import AppServer


class SimulatedUser:
    """One person at one browser, going round the site until told to stop.

    ``expected`` is what this browser was told its current session holds (a 303
    from ``POST /session-data``); values whose answer never came are dropped
    from it, because nobody can know whether they were stored.
    ``tolerate_503`` (fault runs): a 503 with Retry-After is an honest answer
    during an outage; the step is tried again after a short pause.
    """

    def __init__(self, browser: Browser, username: str, *, register: bool,
                 tolerate_503: bool = False, rng: random.Random | None = None) -> None:
        self.browser = browser
        self.username = username
        self.register_first = register
        self.tolerate_503 = tolerate_503
        self.rng = rng or random.Random()
        self.expected: dict[str, str] = {}
        self.signed_in = False
        self.csrf: str | None = None
        self.cycle = 0
        self.writes = 0
        self.sign_ins = 0
        self.failovers = 0
        self.sessions_lost = 0  # acknowledged sessions that vanished (must stay 0)
        self.step = ""  # the latest request sent
        self.in_doubt: str | None = None  # a request whose outcome is not known yet

    # each step returns the reply, or raises Unexpected/TransportError/BudgetExhausted

    def _expect(self, reply: Reply, statuses: tuple[int, ...], what: str) -> Reply:
        if reply.status in statuses:
            return reply
        if reply.status == 503 and self.tolerate_503 and "Retry-After" in reply.headers:
            raise Unavailable(what)
        raise Unexpected(f"{self.username}: {what} answered {reply.status} "
                         f"{reply.location or page_title(reply.body)}")

    def _go(self, method: str, path: str, form: dict[str, str] | None = None,
            **kwargs: Any) -> Reply:
        self.step = f"{method} {path}"
        return self.browser.request(method, path, form, **kwargs)

    def sign_in(self) -> None:
        reply = None
        if self.register_first:
            page = self._expect(self._go("GET", "/register"), (200,), "GET /register")
            form = {"username": self.username, "password": PASSWORD,
                    "csrf_token": page.csrf() or ""}
            reply = self._expect(self._go("POST", "/register", form), (303, 422),
                                 "POST /register")
            self.register_first = False
            if reply.status == 422:
                # Taken: an earlier attempt whose answer was lost (a killed
                # process, a commit just before an outage) did create it.
                if "taken" not in reply.body:
                    raise Unexpected(f"{self.username}: registration refused: "
                                     f"{page_title(reply.body)}")
                reply = None
        if reply is None:
            page = self._expect(self._go("GET", "/login"), (200,), "GET /login")
            form = {"username": self.username, "password": PASSWORD,
                    "csrf_token": page.csrf() or ""}
            reply = self._expect(self._go("POST", "/login", form), (303,), "POST /login")
        if not reply.location.endswith("/profile") or SESSION_COOKIE not in self.browser.cookies:
            raise Unexpected(f"{self.username}: sign-in gave no session ({reply.location})")
        self.signed_in = True
        self.sign_ins += 1
        self.expected = {}
        self.csrf = None

    def browse(self) -> None:
        page = self._expect(self._go("GET", "/profile"), (200,), "GET /profile")
        self.csrf = page.csrf()
        if self.rng.random() < 0.5:
            self._expect(self._go("GET", "/sessions"), (200,), "GET /sessions")

    def store(self) -> None:
        key = f"{self.username}-{self.cycle}-{self.writes}"
        value = secrets.token_hex(6)
        self.writes += 1
        form = {"key": key, "value": value, "csrf_token": self.csrf or ""}
        self._expect(self._go("POST", "/session-data", form), (303,), "POST /session-data")
        self.expected[key] = value

    def verify(self) -> None:
        reply = self._expect(self._go("GET", "/session-data"), (200,), "GET /session-data")
        self.check_values(reply.json())

    def check_values(self, stored: Any) -> None:
        stored = stored if isinstance(stored, dict) else {}
        missing = [k for k, v in self.expected.items() if stored.get(k) != v]
        if missing:
            self.browser.stats.fail(f"{self.username}: {len(missing)} stored value(s) lost, "
                                    f"e.g. {missing[0]}", lost=len(missing))
            self.expected = {k: v for k, v in self.expected.items() if k not in missing}

    def sign_out(self) -> None:
        old = self.browser.cookies.get(SESSION_COOKIE, "")
        self._expect(self._go("POST", "/logout", {"csrf_token": self.csrf or ""}),
                     (303,), "POST /logout")
        if SESSION_COOKIE in self.browser.cookies:
            raise Unexpected(f"{self.username}: logout left the session cookie in place")
        self.signed_in = False
        self.expected = {}
        self.browser.stats.dead_cookie(old)
        check_signed_out(self.browser, old, f"{self.username} right after logout")

    def one_cycle(self) -> None:
        if not self.signed_in:
            self.sign_in()
        self.browse()
        for _ in range(self.rng.randint(2, 5)):
            self.store()
            if self.rng.random() < 0.3:
                self._expect(self._go("GET", self.rng.choice(["/", "/profile"])), (200,),
                             "GET page")
        self.verify()
        self.cycle += 1
        if self.rng.random() < 0.6:
            self.sign_out()

    def resync(self) -> None:
        """After an unexpected answer or a lost connection: find out where we are."""
        reply = self._go("GET", "/profile")
        if reply.status == 200:
            self.signed_in = True
            self.csrf = reply.csrf()
            return
        if reply.status == 303 and "/login" in reply.location:
            self.browser.cookies.pop(SESSION_COOKIE, None)
            self.signed_in = False
            self.expected = {}
            return
        self._expect(reply, (200, 303), "GET /profile (resync)")

    def run(self, until: Callable[[], bool]) -> None:
        """Go round until ``until()`` is true or the request budget is spent."""
        while not until():
            try:
                self.one_cycle()
            except BudgetExhausted:
                return
            except Unavailable:
                # An honest 503 (an outage). Its request changed nothing, unless
                # the database committed it just before the connection broke,
                # which nobody can know: look before going on, as people reload.
                self.in_doubt = self.step
                self._reconcile(self.in_doubt, until)
            except TransportError:
                # The app process stopped answering: go to another one, if any.
                self.in_doubt = self.step
                if self.browser.fail_over():
                    self.failovers += 1
                else:
                    self._pause(0.2, until)
                self._reconcile(self.in_doubt, until)
            except Unexpected as exc:
                self.browser.stats.fail(str(exc))
                self._reconcile(None, until)

    def _pause(self, seconds: float, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            time.sleep(0.05)

    def _reconcile(self, in_doubt: str | None, until: Callable[[], bool]) -> None:
        """Find out whether we are still signed in (patiently, through an
        outage). Being signed out is fine if a sign-out was the request in doubt;
        otherwise a session the server had acknowledged is gone: a failure."""
        was_signed_in = self.signed_in
        for _ in range(RESYNC_TRIES):
            if until():
                return
            try:
                self.resync()
                break
            except (Unavailable, Unexpected, TransportError):
                self._pause(0.2, until)
            except BudgetExhausted:
                return
        else:
            self.browser.stats.fail(f"{self.username}: could not find out its state")
            return
        self.in_doubt = None
        # A value in doubt was never added to ``expected``. A sign-out in doubt
        # may or may not have happened; anything else must have left us signed in.
        if in_doubt is not None and was_signed_in and not self.signed_in \
                and "/logout" not in in_doubt:
            self.sessions_lost += 1
            self.browser.stats.fail(f"{self.username}: signed-in session lost after "
                                    f"{in_doubt} got no usable answer")


@dataclass
class MixRun:
    """N simulated users in threads; ``start()``, then ``stop()`` and ``join()``."""

    stats: Stats
    servers: list[AppServer]
    usernames: list[str]
    register_every: int = 4  # every 4th browser registers instead of being created
    tolerate_503: bool = False
    seed: int = 0
    users: list[SimulatedUser] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0
    started: float = 0.0
    ended: float = 0.0

    def precreated(self) -> list[str]:
        """The usernames that must exist before the run (the others register)."""
        return [name for index, name in enumerate(self.usernames)
                if not self._registers(index)]

    def _registers(self, index: int) -> bool:
        return bool(self.register_every) and index % self.register_every == 0

    def start(self, seconds: float) -> MixRun:
        ports = [server.port for server in self.servers]
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        for index, name in enumerate(self.usernames):
            # Browsers are spread over the app processes, as a balancer would.
            mine = ports[index % len(ports):] + ports[:index % len(ports)]
            browser = Browser(self.stats, mine, name)
            user = SimulatedUser(browser, name, register=self._registers(index),
                                 tolerate_503=self.tolerate_503,
                                 rng=random.Random(f"{self.seed}-{index}"))
            self.users.append(user)
            thread = threading.Thread(target=self._run_one, args=(user,), name=f"user-{name}",
                                      daemon=True)
            self.threads.append(thread)
        for thread in self.threads:
            thread.start()
        return self

    def _until(self) -> bool:
        return self.stop_event.is_set() or time.monotonic() >= self.deadline

    def _run_one(self, user: SimulatedUser) -> None:
        try:
            user.run(self._until)
        except BaseException as exc:  # a bug in the client: report, never hang
            self.stats.fail(f"{user.username}: client crashed: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self.stop_event.set()

    def join(self) -> None:
        limit = time.monotonic() + max(0.0, self.deadline - time.monotonic()) + JOIN_TIMEOUT
        for thread in self.threads:
            thread.join(timeout=max(0.1, limit - time.monotonic()))
        self.ended = time.monotonic()
        hung = [t.name for t in self.threads if t.is_alive()]
        if hung:
            self.stats.fail(f"{len(hung)} browser thread(s) did not finish: {hung[:3]}")

    def final_checks(self, port: int | None = None) -> None:
        """While still signed in, every browser reads its session back; every
        signed-out cookie kept is tried once more (on ``port``: by default the
        first app process still alive)."""
        for user in self.users:
            user.tolerate_503 = False
            try:
                if not user.signed_in:
                    continue
                profile = user.browser.request("GET", "/profile")
                if profile.status == 303 and user.in_doubt and "/logout" in user.in_doubt:
                    continue  # the run stopped before it found out: the sign-out happened
                if profile.status != 200:
                    self.stats.fail(f"{user.username}: signed in, but /profile answered "
                                    f"{profile.status} at the end")
                    continue
                reply = user.browser.request("GET", "/session-data")
                if reply.status != 200:
                    self.stats.fail(f"{user.username}: final GET /session-data "
                                    f"answered {reply.status}")
                    continue
                user.check_values(reply.json())
            except (TransportError, BudgetExhausted) as exc:
                self.stats.fail(f"{user.username}: final check got no answer: {exc}")
            finally:
                user.browser.close()
        alive = [server.port for server in self.servers if server.alive()]
        port = port or (alive[0] if alive else None)
        if port is not None:
            checker = Browser(self.stats, [port], "dead-cookie-check")
            try:
                for cookie in list(self.stats.dead_cookies):
                    check_signed_out(checker, cookie, "final re-check")
            except (TransportError, BudgetExhausted) as exc:
                self.stats.fail(f"dead-cookie re-check got no answer: {exc}")
            finally:
                checker.close()
