"""One database's load run: a throwaway database, its users, the ``pserve``
processes, the mix with the same-session and logout races started a third of
the way in, the final checks, and the figures gathered into a
:class:`~bench.reliability.report.Report`. Everything started is stopped and
everything created is dropped, whatever happened."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.reliability.report import Options, Report
from sessapp.testing.load.browser import BudgetExhausted, TransportError, Unexpected
from sessapp.testing.load.checks import Stats
from sessapp.testing.load.constants import STOP_TIMEOUT
from sessapp.testing.load.database import Database, create_users
from sessapp.testing.load.processes import AppServer, app_servers, transient_retries
from sessapp.testing.load.races import SameSessionResult, logout_race_phase, same_session_phase
from sessapp.testing.load.workload import MixRun


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class RssSampler(threading.Thread):
    """Each app process's resident memory every ``every`` seconds, to tell a
    warm-up (it levels off) from a leak (it keeps climbing)."""

    def __init__(self, servers: list[AppServer], every: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.servers, self.every = servers, every
        self.samples: dict[int, list[int]] = {server.pid: [] for server in servers}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            for server in self.servers:
                kib = server.rss_kib()
                if kib is not None:
                    self.samples[server.pid].append(kib)
            if self._stop_event.wait(self.every):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=STOP_TIMEOUT)


def run_database(kind: str, options: Options, *, server_url: str | None = None,
                 workdir: Path | None = None) -> Report:
    """The whole run on one database: the mix, with the same-session and logout
    races started a third of the way in, then the final checks."""
    report = Report(database=kind, options=options)
    load_before = os.getloadavg()[0]
    stats = Stats(options.max_requests)
    tag = secrets.token_hex(3)
    mix_names = [f"load{tag}u{n:03d}" for n in range(options.clients)]
    same_names = [f"load{tag}s{n:02d}" for n in range(options.same_sessions)]
    race_names = [f"load{tag}r{n:02d}" for n in range(options.logout_races)]
    own_workdir = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="sessapp-load-run-"))
    try:
        with Database(kind, server_url=server_url, serializable=options.serializable) as db:
            mix = MixRun(stats, [], mix_names, seed=options.seed)
            create_users(db, mix.precreated() + same_names + race_names)
            with app_servers(workdir, db.url, options.processes, threads=options.threads,
                             app=options.app) as servers:
                mix.servers = servers
                sampler = RssSampler(servers, every=max(1.0, options.seconds / 6))
                sampler.start()
                log(f"{kind}: {options.clients} browsers for {options.seconds:g}s on "
                    f"{len(servers)} pserve process(es) x {options.threads} threads")
                mix.start(options.seconds)
                same: SameSessionResult | None = None
                try:
                    mix.stop_event.wait(min(options.seconds / 3, 20))
                    if same_names:
                        log(f"{kind}: {len(same_names)} sessions x {options.writers} "
                            f"writers x {options.rounds} rounds, under the mix")
                        same = same_session_phase(stats, servers, same_names,
                                                  writers=options.writers,
                                                  rounds=options.rounds)
                    if race_names:
                        same = same or SameSessionResult(0, options.writers, options.rounds)
                        log(f"{kind}: {len(race_names)} logouts racing "
                            f"{options.writers} writers each")
                        logout_race_phase(stats, db, servers, race_names,
                                          writers=options.writers, rounds=options.rounds,
                                          result=same)
                except (Unexpected, TransportError, BudgetExhausted) as exc:
                    stats.fail(f"same-session phases stopped: {type(exc).__name__}: {exc}")
                finally:
                    mix.join()
                    sampler.stop()
                report.rss_series = sampler.samples
                mix.final_checks()
                for server in servers:
                    server.rss_end_kib = server.rss_kib()
                report.seconds = mix.ended - mix.started
                report.rss_kib = [(s.pid, s.rss_start_kib, s.rss_end_kib) for s in servers]
                report.retries = dict(transient_retries(servers))
                crashed = [s for s in servers if not s.alive()]
                for server in crashed:
                    stats.fail(f"pserve {server.pid} died:\n{server.log()[-2000:]}")
                if same is not None:
                    report.same_session = same.as_dict()
            report.sign_ins = sum(u.sign_ins for u in mix.users)
            report.writes = sum(u.writes for u in mix.users)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report.requests = stats.requests
    report.p50_ms = stats.percentile_ms(0.5)
    report.p99_ms = stats.percentile_ms(0.99)
    report.statuses = dict(sorted(stats.statuses.items()))
    report.server_errors = stats.server_errors
    report.transport_errors = stats.transport_errors
    report.failures = stats.failures
    report.lost_values = stats.lost_values
    report.resurrected = stats.resurrected
    report.dead_cookies_checked = len(stats.dead_cookies)
    report.load_average = (load_before, os.getloadavg()[0])
    return report
