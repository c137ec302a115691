"""``make bench`` in miniature: the same script, SQLite only, a second per row.

The figures are not checked (timing belongs to the bench, not to the suite);
what is checked is that the bench still runs end to end through ``pserve`` and
that the counts it reports hold: a signed-in read is one SQL statement and no
write, pages that do not need the session send none, a stored value is one
UPDATE more than a read.
"""

from __future__ import annotations

import json
import subprocess
import sys

from servers import ROOT


def test_the_bench_runs_and_its_counts_hold(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--parts", "requests", "--backends", "sqlite",
         "--duration", "1", "--serial-duration", "0.5", "--logins", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {row["scenario"]: row for row in report["rows"]}
    assert set(rows) == {
        "bare Pyramid view", "home page, anonymous", "static file, with session cookie",
        "GET /profile, signed in", "POST /session-data (one write)", "GET /api/me, bearer token",
    }
    for row in rows.values():
        assert row["errors"] == 0, row
        assert row["rps"] > 0 and row["serial_rps"] > 0, row
    for scenario in ("home page, anonymous", "static file, with session cookie"):
        assert rows[scenario]["statements"] == 0, rows[scenario]
    for scenario in ("GET /profile, signed in", "GET /api/me, bearer token"):
        assert rows[scenario]["statements"] == 1, rows[scenario]
        assert rows[scenario]["writes"] == 0, rows[scenario]
        assert rows[scenario]["ratio"] is not None and rows[scenario]["serial_ratio"] is not None
    write = rows["POST /session-data (one write)"]
    assert write["statements"] == 2 and write["writes"] == 1, write
    assert "| GET /profile, signed in |" in done.stdout


def _inprocess(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.inprocess", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_in_process_bench_measures_every_request(tmp_path):
    out = tmp_path / "inprocess.json"
    done = _inprocess("--requests", "40", "--rounds", "2", "--warmup", "5", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [row["request"] for row in rows] == [
        "bare Pyramid view", "home page, anonymous", "static file, with session cookie",
        "GET /profile, signed in", "GET /api/me, bearer token",
        "POST /session-data (one write)",
    ]
    assert all(row["us"] > 0 for row in rows)
    assert rows[0]["ratio"] is None and all(row["ratio"] > 0 for row in rows[1:])
    assert "| SQLite | GET /profile, signed in |" in done.stdout


def test_the_in_process_bench_refuses_an_unknown_database():
    done = _inprocess("--backends", "oracle")
    assert done.returncode == 2
    assert "unknown backend(s): oracle" in done.stderr
