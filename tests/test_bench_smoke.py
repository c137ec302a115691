"""``make bench`` in miniature: the same script, SQLite only, a second per row.

The figures are not checked (timing belongs to the bench, not to the suite);
what is checked is that the bench still runs end to end through ``pserve`` and
that the counts it reports hold: a signed-in read is one SQL statement and no
write, pages that do not need the session send none, a stored value is one
UPDATE more than a read. The bench checks those counts itself against its
budgets (``--parts counts`` alone, here on every database the suite runs on) and
exits 1 naming the request when one is exceeded, which a lowered ``--budget``
shows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import REQUIRED
from servers import ROOT

SCENARIOS = {
    "home page, anonymous", "static file, with session cookie", "GET /profile, signed in",
    "POST /session-data (one write)", "GET /api/me, bearer token",
}


def test_the_bench_runs_and_its_counts_hold(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--parts", "requests", "--backends", "sqlite",
         "--duration", "1", "--serial-duration", "0.5", "--logins", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["over_budget"] == []
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
    # The one-connection CPU ratios, against the targets.
    assert all(rows[s]["serial_cpu_ratio"] > 0 for s in SCENARIOS)
    assert "server CPU per request against the bare view's" in done.stdout
    assert "GET /api/me" in done.stdout and "cheaper:" in done.stdout


CPU_TABLE_SCRIPT = """
from bench.run import Row, cpu_ratio_lines

def row(scenario, cpu, ratio):
    return Row(backend="sqlite", scenario=scenario, rps=1, p50_ms=1, p99_ms=1,
               serial_cpu_ms=cpu, serial_cpu_ratio=ratio)

print("\\n".join(cpu_ratio_lines([
    row("static file, with session cookie", 0.2, 1.0),
    row("home page, anonymous", 0.5, 2.5),
    row("GET /profile, signed in", 0.6, 3.0),
    row("GET /api/me, bearer token", 0.7, 3.5),
])))
"""


def test_the_cpu_ratio_table_names_each_target_and_whether_it_is_met():
    # The bench is driven as a program, as make bench runs it (tests import no bench/).
    done = subprocess.run([sys.executable, "-c", CPU_TABLE_SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "| SQLite | static file, with session cookie | 0.20 | 1.00 | 1.5 | yes |" in text
    assert "| SQLite | home page, anonymous | 0.50 | 2.50 | 2 | no |" in text
    assert "| SQLite | GET /profile, signed in | 0.60 | 3.00 | 3 | yes |" in text
    assert "| SQLite | GET /api/me, bearer token | 0.70 | 3.50 |  |  |" in text
    assert "cheaper: no" in text


def _counts(tmp_path, backend: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "counts.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--parts", "counts", "--backends", backend,
         "--count-requests", "5", "--json", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    return done, json.loads(out.read_text()) if out.exists() else {}


def test_the_statement_counts_stay_within_their_budgets(tmp_path, backend):
    done, report = _counts(tmp_path, backend)

    assert done.returncode == 0, done.stderr[-3000:]
    if not report["counts"]:
        message = f"bench.run found no {backend} server"
        if backend in REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    counts = {item["scenario"]: item for item in report["counts"]}
    assert set(counts) == SCENARIOS
    assert all(item["requests"] == 5 for item in counts.values())
    assert counts["GET /profile, signed in"]["statements"] == 1
    assert counts["GET /api/me, bearer token"]["statements"] == 1
    if backend == "postgresql":
        assert counts["GET /profile, signed in"]["tx_commands"] == 0
        assert counts["GET /api/me, bearer token"]["tx_commands"] == 0
    assert report["over_budget"] == []
    assert "| GET /profile, signed in | 5 | 1.000 | 0.000 |" in done.stdout


def test_a_count_over_its_budget_fails_the_bench_naming_the_request(tmp_path):
    done, report = _counts(tmp_path, "sqlite", "--budget", "GET /profile, signed in:statements=0",
                           "--budget", "POST /session-data (one write):writes=0")

    assert done.returncode == 1, done.stderr[-3000:]
    assert "SQLite GET /profile, signed in: 1.000 SQL statements per request, budget 0" \
        in done.stderr
    assert "SQLite POST /session-data (one write): 1.000 writes per request, budget 0" \
        in done.stderr
    assert len(report["over_budget"]) == 2


def test_the_bench_refuses_a_malformed_budget(tmp_path):
    done, _ = _counts(tmp_path, "sqlite", "--budget", "GET /nowhere:statements=1")

    assert done.returncode == 2
    assert "--budget 'GET /nowhere:statements=1': expected SCENARIO:KEY=N" in done.stderr


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


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_the_instruction_counts_come_per_request(tmp_path):
    out = tmp_path / "instructions.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--cases", "bare,static", "--requests",
         "10", "--warmup", "5", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["case"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"bare", "static"}
    # A request is tens of thousands of instructions at least, and nothing else
    # the process did (start-up, sign-up: billions) is counted in it.
    assert all(10_000 < row["instructions"] < 10_000_000 for row in rows.values())


def test_the_in_process_bench_refuses_an_unknown_database():
    done = _inprocess("--backends", "oracle")
    assert done.returncode == 2
    assert "unknown backend(s): oracle" in done.stderr


@pytest.mark.backends("postgresql")
def test_the_process_scaling_part_runs_and_plots(tmp_path, backend):
    """bench.scaling through ``bench.run``: gunicorn with 1 and 2 (and N)
    processes on PostgreSQL, a table and a plot; the figures are not checked."""
    from sessapp.testing import databases

    if not databases.reachable("postgresql"):
        message = "bench.run found no postgresql server"
        if "postgresql" in REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    out, picture = tmp_path / "scaling.json", tmp_path / "scaling.png"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--parts", "scaling", "--scaling-duration", "1",
         "--scaling-rounds", "1", "--scaling-cores", "2", "--json", str(out),
         "--scaling-plot", str(picture)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["scaling"]
    assert [row["processes"] for row in rows] == [1, 2]
    assert all(row["rps"] > 0 and row["errors"] == 0 for row in rows)
    assert rows[0]["ratio"] == 1.0
    assert "| 2 |" in done.stdout and "vs 1 process" in done.stdout
    assert picture.read_bytes().startswith(b"\x89PNG")
