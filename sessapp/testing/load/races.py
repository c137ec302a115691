"""One session under fire: many requests writing to one session at once (every
acknowledged key must be there afterwards), and sessions signed out while
being written to (the logout wins; nothing brings the session back)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sessapp.testing.load.browser import Browser, BudgetExhausted, TransportError, Unexpected
from sessapp.testing.load.checks import Stats, check_signed_out, page_title
from sessapp.testing.load.constants import JOIN_TIMEOUT, PASSWORD, SESSION_COOKIE
from sessapp.testing.load.database import Database
from sessapp.testing.load.processes import AppServer


def _run_threads(targets: list[Callable[[], None]], stats: Stats, what: str) -> None:
    errors: list[str] = []

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except (TransportError, BudgetExhausted) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            except BaseException as exc:  # reported below, never lost in a thread
                errors.append(f"{type(exc).__name__}: {exc}")
        return run

    threads = [threading.Thread(target=wrap(t), daemon=True, name=f"{what}-{n}")
               for n, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    limit = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.1, limit - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        stats.fail(f"{what}: threads did not finish within {JOIN_TIMEOUT}s")
    for error in errors:
        stats.fail(f"{what}: {error}")


def _signed_in_browser(stats: Stats, ports: list[int], username: str) -> tuple[Browser, str]:
    browser = Browser(stats, ports, username)
    page = browser.request("GET", "/login")
    reply = browser.request("POST", "/login", {"username": username, "password": PASSWORD,
                                                "csrf_token": page.csrf() or ""})
    if reply.status != 303 or SESSION_COOKIE not in browser.cookies:
        raise Unexpected(f"{username}: sign-in answered {reply.status}")
    token = browser.request("GET", "/profile").csrf()
    if not token:
        raise Unexpected(f"{username}: no CSRF token on /profile")
    return browser, token


@dataclass
class SameSessionResult:
    sessions: int
    writers: int
    rounds: int
    writes: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    keys_missing: int = 0
    logout_races: int = 0
    logout_writes: Counter[int] = field(default_factory=Counter)
    resurrected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "writers": self.writers, "rounds": self.rounds,
                "writes": self.writes, "statuses": dict(self.statuses),
                "keys_missing": self.keys_missing, "logout_races": self.logout_races,
                "logout_race_writes": dict(self.logout_writes),
                "resurrected": self.resurrected}


def same_session_phase(stats: Stats, servers: list[AppServer], usernames: list[str], *,
                       writers: int, rounds: int) -> SameSessionResult:
    """Each of ``usernames`` signs in once; then, for every session at once,
    ``writers`` threads store their own key per round (a barrier starts each
    round together). Every key must be there afterwards. Writers are spread over
    every app process, so the race also runs across processes."""
    ports = [server.port for server in servers]
    result = SameSessionResult(sessions=len(usernames), writers=writers, rounds=rounds)
    lock = threading.Lock()
    sessions = [_signed_in_browser(stats, ports, name) for name in usernames]
    barriers = [threading.Barrier(writers) for _ in sessions]
    acknowledged: list[dict[str, str]] = [{} for _ in sessions]

    def writer(number: int, which: int) -> Callable[[], None]:
        owner, token = sessions[which]
        mine = Browser(stats, ports[number % len(ports):] + ports[:number % len(ports)],
                       f"{owner.name}-w{number}")

        def run() -> None:
            try:
                for round_ in range(rounds):
                    barriers[which].wait(timeout=JOIN_TIMEOUT)
                    key, value = f"w{number}-r{round_}", f"{number}.{round_}"
                    reply = mine.request(
                        "POST", "/session-data", {"key": key, "value": value},
                        headers={"X-CSRF-Token": token}, cookies=dict(owner.cookies))
                    with lock:
                        result.writes += 1
                        result.statuses[reply.status] += 1
                        if reply.status == 303:
                            acknowledged[which][key] = value
                    if reply.status != 303:
                        stats.fail(f"same session {owner.name}: a write answered "
                                   f"{reply.status} {page_title(reply.body)}")
            except threading.BrokenBarrierError:
                stats.fail(f"same session {owner.name}: writer {number} left behind")
            finally:
                barriers[which].abort()
                mine.close()
        return run

    _run_threads([writer(n, s) for s in range(len(sessions)) for n in range(writers)],
                 stats, "same-session")
    for (owner, _), expected in zip(sessions, acknowledged, strict=True):
        # A write refused with a 5xx was reported above; a write that was
        # acknowledged and is not there is a lost update.
        stored = owner.request("GET", "/session-data").json() or {}
        missing = [k for k, v in expected.items() if stored.get(k) != v]
        if missing:
            result.keys_missing += len(missing)
            stats.fail(f"same session {owner.name}: {len(missing)} of {len(expected)} "
                       f"acknowledged keys lost, e.g. {missing[0]}", lost=len(missing))
        owner.close()
    return result


def logout_race_phase(stats: Stats, db: Database, servers: list[AppServer],
                      usernames: list[str], *, writers: int, rounds: int,
                      result: SameSessionResult) -> None:
    """For each user: ``writers`` threads keep writing to one signed-in session
    while another request signs it out. The logout wins, whatever the order:
    the cookie is dead on the next request, and the user has no session row."""
    ports = [server.port for server in servers]
    lock = threading.Lock()

    def race(username: str) -> Callable[[], None]:
        def run() -> None:
            owner, token = _signed_in_browser(stats, ports, username)
            cookie = owner.cookies[SESSION_COOKIE]
            written = threading.Event()
            count = [0]

            def writer(number: int) -> Callable[[], None]:
                mine = Browser(stats, ports[number % len(ports):] + ports[:number % len(ports)],
                               f"{username}-w{number}")

                def go() -> None:
                    try:
                        for round_ in range(rounds):
                            reply = mine.request(
                                "POST", "/session-data",
                                {"key": f"w{number}-{round_}", "value": "x"},
                                headers={"X-CSRF-Token": token}, cookies=dict(owner.cookies))
                            with lock:
                                result.logout_writes[reply.status] += 1
                                count[0] += 1
                                if count[0] >= writers:
                                    written.set()
                            # 303 before the logout; 400 after it (the CSRF token
                            # died with the session). Never anything else.
                            if reply.status not in (303, 400):
                                stats.fail(f"logout race {username}: a write answered "
                                           f"{reply.status} {page_title(reply.body)}")
                    finally:
                        mine.close()
                return go

            signed_out = [False]

            def logout() -> None:
                written.wait(timeout=JOIN_TIMEOUT)
                reply = owner.request("POST", "/logout", {"csrf_token": token})
                signed_out[0] = reply.status == 303 and SESSION_COOKIE not in owner.cookies
                if not signed_out[0]:
                    stats.fail(f"logout race {username}: logout answered {reply.status}")

            _run_threads([writer(n) for n in range(writers)] + [logout], stats,
                         f"logout-race-{username}")
            if not signed_out[0]:
                # Refused (a 5xx, already counted): the browser knows it is still
                # signed in, so its session living on is no revival.
                owner.close()
                return
            if not check_signed_out(owner, cookie, f"logout race {username}"):
                with lock:
                    result.resurrected += 1
            rows = db.scalar("SELECT COUNT(*) FROM sessions s JOIN users u "
                             "ON s.user_id = u.id WHERE u.username = :name", name=username)
            if rows:
                stats.fail(f"logout race {username}: {rows} session row(s) of the user "
                           "outlived the logout", resurrected=rows)
                with lock:
                    result.resurrected += rows
            owner.close()
            with lock:
                result.logout_races += 1
        return run

    _run_threads([race(name) for name in usernames], stats, "logout-race")
