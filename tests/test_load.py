"""A short load run on each database, through real ``pserve`` processes.

The same command as ``make load`` (``python -m bench.reliability``), run as a
subprocess and scaled down to keep the suite fast; its exit status and its
``--json`` report are checked. 16 simulated browsers for 5 seconds go round the
site (register or sign in, browse, store values, read them back, sign out, sign
in again), and meanwhile sessions are written by 8 requests at once and
sessions are signed out while being written to. Nothing stored may be lost, no
signed-out cookie may answer as signed in, and no answer may be a 5xx.
``make load`` runs the full version (64 browsers, 60 seconds per database).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REQUIRED
from servers import ROOT

from sessapp.testing.load.database import server_problem
from sessapp.testing.load.processes import log_records

SHORT = {"clients": 16, "seconds": 5, "threads": 8, "processes": 1, "writers": 8,
         "rounds": 3, "same_sessions": 2, "logout_races": 2, "max_requests": 50_000}
RUN_TIMEOUT = 600  # seconds: the run itself is bounded well below this


class _LoggedServer:
    def __init__(self, text: str) -> None:
        self.text = text

    def log(self) -> str:
        return self.text


@pytest.mark.parametrize(("text", "records"), [
    ("", []),
    ("pserve banner\n", []),
    ("2026-01-01T00:00:00Z INFO one\n", ["2026-01-01T00:00:00Z INFO one\n"]),
    ("2026-01-01T00:00:00Z ERROR two\nTraceback\n  line\n2026-01-01T00:00:01Z INFO three\n",
     ["2026-01-01T00:00:00Z ERROR two\nTraceback\n  line\n",
      "2026-01-01T00:00:01Z INFO three\n"]),
])
def test_log_records_split_a_log_including_an_empty_one(text, records):
    # A second app process that has not logged yet has an empty log file.
    assert log_records(_LoggedServer(text)) == records


def _require_server(backend: str) -> None:
    problem = server_problem(backend)
    if problem is None:
        return
    if backend in REQUIRED:
        pytest.fail(f"{backend}: {problem}")
    pytest.skip(f"{backend}: {problem}")


def _run_load(backend: str, json_path) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m bench.reliability`` on one database, as ``make load`` runs it."""
    options = [f"--{name.replace('_', '-')}={value}" for name, value in SHORT.items()]
    done = subprocess.run(
        [sys.executable, "-m", "bench.reliability", "--databases", backend, *options,
         "--json", str(json_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    print(done.stdout)
    assert json_path.exists(), f"no report (exit {done.returncode}):\n{done.stderr[-3000:]}"
    (report,) = json.loads(json_path.read_text())
    return done, report


def test_short_load_loses_nothing(backend, tmp_path):
    _require_server(backend)
    done, report = _run_load(backend, tmp_path / "load.json")

    assert report["database"] == backend
    assert report["first_failures"] == []
    assert report["server_errors"] == 0
    assert report["lost_values"] == 0
    assert report["resurrected"] == 0
    assert report["transport_errors"] == 0
    assert report["errors"] == 0
    assert report["ok"] is True
    assert done.returncode == 0, done.stderr[-3000:]
    # The run did what it says: browsers went round, the races ran in full.
    assert report["clients"] == SHORT["clients"]
    assert report["sign_ins"] >= SHORT["clients"]
    assert report["dead_cookies_checked"] > 0
    same = report["same_session"]
    assert same["writes"] == SHORT["same_sessions"] * SHORT["writers"] * SHORT["rounds"]
    assert same["statuses"] == {"303": same["writes"]}
    assert same["keys_missing"] == 0
    assert same["logout_races"] == SHORT["logout_races"]
    assert same["resurrected"] == 0
    # Every process still answered at the end, with its memory measured.
    assert report["rss_kib"] and all(row["end"] is not None for row in report["rss_kib"])
