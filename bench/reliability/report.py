"""The figures of a load run and how they are shown: the options it ran with,
what it measured and found, the printed tables, and the JSON (``--json``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessapp.testing.load.constants import DEFAULT_MAX_REQUESTS


@dataclass
class Options:
    clients: int = 64
    seconds: float = 60.0
    threads: int = 8
    processes: int = 1
    writers: int = 8
    rounds: int = 5
    same_sessions: int = 4
    logout_races: int = 4
    max_requests: int = DEFAULT_MAX_REQUESTS
    app: dict[str, str] = field(default_factory=dict)
    serializable: bool = False
    seed: int = 0


@dataclass
class Report:
    database: str
    options: Options
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lost_values: int = 0
    resurrected: int = 0
    sign_ins: int = 0
    writes: int = 0
    dead_cookies_checked: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    rss_kib: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    same_session: dict[str, Any] = field(default_factory=dict)
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute, before and after
    rss_series: dict[int, list[int]] = field(default_factory=dict)  # pid -> KiB samples

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return not (self.server_errors or self.failures or self.lost_values
                    or self.resurrected or self.transport_errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database, "clients": self.options.clients,
            "processes": self.options.processes, "threads": self.options.threads,
            "requests": self.requests, "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.rps, 1), "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2), "statuses": self.statuses,
            "server_errors": len(self.server_errors), "errors": len(self.failures),
            "transport_errors": len(self.transport_errors), "lost_values": self.lost_values,
            "resurrected": self.resurrected, "sign_ins": self.sign_ins, "writes": self.writes,
            "dead_cookies_checked": self.dead_cookies_checked, "retries": self.retries,
            "rss_kib": [{"pid": p, "start": s, "end": e} for p, s, e in self.rss_kib],
            "rss_series_kib": self.rss_series,
            "same_session": self.same_session, "load_average": self.load_average,
            "ok": self.ok, "first_failures": (self.server_errors + self.transport_errors
                                              + self.failures)[:50],
        }


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f}"


def print_report(reports: list[Report], out: Any = sys.stdout) -> None:
    header = (f"{'database':<11}{'browsers':>9}{'requests':>10}{'req/s':>8}{'p50 ms':>8}"
              f"{'p99 ms':>8}{'5xx':>5}{'errors':>7}{'lost':>6}{'revived':>8}  RSS MiB start->end")
    print(header, file=out)
    for r in reports:
        rss = ", ".join(f"pid {pid}: {_mib(s)}->{_mib(e)}" for pid, s, e in r.rss_kib)
        errors = len(r.failures) + len(r.transport_errors)
        print(f"{r.database:<11}{r.options.clients:>9}{r.requests:>10}{r.rps:>8.0f}"
              f"{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{len(r.server_errors):>5}{errors:>7}"
              f"{r.lost_values:>6}{r.resurrected:>8}  {rss}", file=out)
    for r in reports:
        same = r.same_session
        print(f"\n{r.database}: {r.seconds:.1f}s, {r.sign_ins} sign-ins, {r.writes} values "
              f"stored by the browsers, {r.dead_cookies_checked} signed-out cookies "
              f"re-checked; statuses {r.statuses}; load average {r.load_average[0]:.1f} "
              f"before, {r.load_average[1]:.1f} after", file=out)
        if same:
            print(f"{r.database}: same session: {same['sessions']} sessions x "
                  f"{same['writers']} writers x {same['rounds']} rounds = {same['writes']} "
                  f"writes {same['statuses']}, {same['keys_missing']} keys missing; "
                  f"{same['logout_races']} logouts raced by writes "
                  f"{same['logout_race_writes']}, {same['resurrected']} sessions revived",
                  file=out)
        for pid, series in r.rss_series.items():
            print(f"{r.database}: pid {pid} RSS MiB, sampled through the run: "
                  f"{' '.join(_mib(kib) for kib in series)}", file=out)
        print(f"{r.database}: transient database errors retried by the app: "
              f"{r.retries or 'none'}", file=out)
        for title, items in (("5xx answers", r.server_errors),
                             ("no answer", r.transport_errors),
                             ("failed checks", r.failures)):
            if items:
                print(f"{r.database}: {len(items)} {title}, first ones:", file=out)
                for item in items[:10]:
                    print(f"    {item}", file=out)
        print(f"{r.database}: {'OK' if r.ok else 'FAILED'}", file=out)


def write_json(reports: list[Report], path: Path) -> None:
    """The figures of every database, as ``tests/test_load.py`` reads them."""
    path.write_text(json.dumps([r.as_dict() for r in reports], indent=2))
