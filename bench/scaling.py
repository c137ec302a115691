"""Process scaling: signed-in ``GET /profile`` on PostgreSQL served by
``egg:sessapp#gunicorn`` (production's server) with 1, 2 and N worker
processes (N = the cores this machine lets the bench use), each with 4 threads
and a pool of threads + 2.

The counts are measured in interleaved rounds (1, 2, N, 1, 2, N, ...), each a
fresh set of workers on one database, and reported as medians with the ratio to
one process. Beside requests/s it shows where the machine's CPU went during each
run, which names the limit when scaling stops: sessapp's processes, PostgreSQL's,
the load generator's (wrk runs on the same machine), and the machine as a whole
(100% = every core busy).

Run alone: ``.venv/bin/python -m bench.scaling --plot docs/scaling.png``;
``make bench`` runs it as its ``scaling`` part.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.client import Browser
from bench.load import Spec, have_wrk, run_load
from sessapp.testing import databases
from tests.servers import ROOT, Server, start_pserve, write_ini

USERNAME = "mallory"
PASSWORD = "correct horse battery staple, measured"  # noqa: S105 - a throwaway account
THREADS = 4
# One connection per worker thread of the largest run, in every run: the same
# offered load, so only the number of processes changes.
SERVER_ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                          str(ROOT)]))}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def process_counts(n: int) -> list[int]:
    """1, 2 and N, without repeats (on two cores N is 2)."""
    return sorted({1, min(2, n), n})


@dataclass
class Run:
    processes: int
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    seconds: float
    # Share of the machine's CPU time (all cores = 100%) used during the run.
    app_cpu: float
    database_cpu: float
    load_cpu: float
    machine_busy: float
    # sessapp's CPU per request, in ms: flat if more processes cost nothing extra.
    app_ms_per_request: float


@dataclass
class Summary:
    processes: int
    rps: float
    ratio: float
    p50_ms: float
    p99_ms: float
    app_cpu: float
    database_cpu: float
    load_cpu: float
    machine_busy: float
    app_ms_per_request: float
    errors: int
    runs: int

    @property
    def other_cpu(self) -> float:
        """Whatever else ran meanwhile (on a shared machine, other work)."""
        return max(0.0, self.machine_busy - self.app_cpu - self.database_cpu - self.load_cpu)


# -- CPU accounting (Linux /proc) ---------------------------------------------------


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


@dataclass
class CpuSnapshot:
    app: dict[int, float]
    database: dict[int, float]
    load: float
    machine: tuple[float, float]
    wall: float

    @classmethod
    def take(cls, arbiter: int) -> CpuSnapshot:
        app_pids = [arbiter, *_children(arbiter)]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(app={pid: _process_cpu(pid) for pid in app_pids},
                   database={pid: _process_cpu(pid) for pid in _postgres_pids()},
                   load=children.ru_utime + children.ru_stime,
                   machine=_machine(), wall=time.monotonic())


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


# -- servers -------------------------------------------------------------------


@contextmanager
def gunicorn_server(folder: Path, url: str, processes: int) -> Iterator[Server]:
    """pserve with production's runner and pool rule, on testing.ini's app
    (plain http on loopback, no proxy in front)."""
    from tests.servers import free_port

    port = free_port()
    ini = write_ini(
        folder / f"server-{port}.ini", base="testing.ini",
        app={"sqlalchemy.url": url, "auth.bcrypt_rounds": "12",
             "session.touch_interval": "600",
             "sqlalchemy.pool_size": str(THREADS + 2), "sqlalchemy.max_overflow": "4"},
        server={"use": "egg:sessapp#gunicorn", "listen": f"127.0.0.1:{port}",
                "workers": str(processes), "threads": str(THREADS)},
    )
    server = start_pserve(ini, port, env=SERVER_ENV)
    try:
        deadline = time.monotonic() + 30
        while len(_children(server.process.pid)) < processes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{processes} workers did not start:\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        server.stop()


def add_user(server: Server) -> None:
    import subprocess

    from tests.servers import BIN

    ini = server.log_path.parent / f"server-{server.port}.ini"
    done = subprocess.run([str(BIN / "sessapp-user"), str(ini), "add", USERNAME],
                          input=PASSWORD + "\n", text=True, capture_output=True, timeout=60,
                          env={**os.environ, **SERVER_ENV})
    if done.returncode != 0:
        raise RuntimeError(f"sessapp-user failed: {done.stderr.strip()}")


def log(message: str) -> None:
    print(f"[scaling {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- measuring -----------------------------------------------------------------


def measure(server: Server, cookie: str, processes: int, round_: int,
            args: argparse.Namespace) -> Run:
    spec = Spec("/profile", headers={"Cookie": cookie})
    # Warm every worker (templates compiled, pool filled) outside the clock.
    run_load(server.port, spec, seconds=1, connections=args.scaling_connections,
             threads=args.threads)
    before = CpuSnapshot.take(server.process.pid)
    result = run_load(server.port, spec, seconds=args.scaling_duration,
                      connections=args.scaling_connections, threads=args.threads)
    after = CpuSnapshot.take(server.process.pid)
    capacity = (after.machine[1] - before.machine[1]) or 1.0
    run = Run(processes=processes, round=round_, rps=result.rps, p50_ms=result.p50_ms,
              p99_ms=result.p99_ms, errors=result.errors, seconds=result.seconds,
              app_cpu=_used(before.app, after.app) / capacity,
              database_cpu=_used(before.database, after.database) / capacity,
              load_cpu=(after.load - before.load) / capacity,
              machine_busy=(after.machine[0] - before.machine[0]) / capacity,
              app_ms_per_request=_used(before.app, after.app) * 1000 / max(
                  1, round(result.rps * result.seconds)))
    log(f"{processes} process(es), round {round_}: {run.rps:.0f} req/s, "
        f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, errors {run.errors}; "
        f"sessapp {run.app_ms_per_request:.2f} ms CPU/req; CPU: "
        f"sessapp {run.app_cpu:.0%}, PostgreSQL {run.database_cpu:.0%}, "
        f"load generator {run.load_cpu:.0%}, machine {run.machine_busy:.0%}")
    return run


def summarise(runs: list[Run]) -> list[Summary]:
    by_count: dict[int, list[Run]] = {}
    for run in runs:
        by_count.setdefault(run.processes, []).append(run)
    base = statistics.median(r.rps for r in by_count[min(by_count)]) or 1.0
    summaries = []
    for processes, group in sorted(by_count.items()):
        def med(key: str, group: list[Run] = group) -> float:
            return statistics.median(getattr(r, key) for r in group)
        summaries.append(Summary(
            processes=processes, rps=med("rps"), ratio=med("rps") / base,
            p50_ms=med("p50_ms"), p99_ms=med("p99_ms"), app_cpu=med("app_cpu"),
            database_cpu=med("database_cpu"), load_cpu=med("load_cpu"),
            machine_busy=med("machine_busy"),
            app_ms_per_request=med("app_ms_per_request"), errors=sum(r.errors for r in group),
            runs=len(group)))
    return summaries


def table(summaries: list[Summary], ncores: int) -> str:
    lines = [
        f"Process scaling: signed-in GET /profile, PostgreSQL, gunicorn {THREADS} threads "
        f"per process, {ncores} cores (medians; CPU as a share of all cores)",
        "",
        "| processes | req/s | vs 1 process | p50 ms | p99 ms | sessapp CPU ms/req | "
        "sessapp CPU | "
        "PostgreSQL CPU | load generator CPU | other CPU | machine busy | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.processes} | {s.rps:.0f} | {s.ratio:.2f}x | {s.p50_ms:.2f} | "
            f"{s.p99_ms:.2f} | {s.app_ms_per_request:.2f} | {s.app_cpu:.0%} | "
            f"{s.database_cpu:.0%} | {s.load_cpu:.0%} | "
            f"{s.other_cpu:.0%} | {s.machine_busy:.0%} | {s.errors} |")
    top = summaries[-1]
    if top.machine_busy >= 0.9:
        lines += ["", f"Limit: the machine's CPU ({top.machine_busy:.0%} busy with "
                      f"{top.processes} processes), shared by sessapp "
                      f"({top.app_cpu:.0%}), PostgreSQL ({top.database_cpu:.0%}), the "
                      f"load generator ({top.load_cpu:.0%}) and other work "
                      f"({top.other_cpu:.0%})."]
    lines += ["", "PostgreSQL CPU counts every postgres process on the machine; other CPU "
                  "is the rest of the machine's busy time."]
    return "\n".join(lines)


def run_scaling(args: argparse.Namespace, folder: Path) -> tuple[list[Run], list[Summary]]:
    ncores = args.scaling_cores or cores()
    counts = process_counts(ncores)
    runs: list[Run] = []
    with databases.scratch_database("postgresql", "scaling") as url:
        cookie = None
        for round_ in range(1, args.scaling_rounds + 1):
            for processes in counts:
                with gunicorn_server(folder, url, processes) as server:
                    if cookie is None:
                        add_user(server)
                        browser = Browser(server.port)
                        browser.login(USERNAME, PASSWORD)
                        cookie = browser.session_cookie
                        browser.get("/profile")  # a due touch happens here, not in a run
                    runs.append(measure(server, cookie, processes, round_, args))
    return runs, summarise(runs)


def plot(summaries: list[Summary], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    counts = [s.processes for s in summaries]
    figure, (throughput, cpu) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    throughput.plot(counts, [s.rps for s in summaries], "o-", label="measured")
    throughput.plot(counts, [summaries[0].rps * c for c in counts], ":", color="grey",
                    label="linear (n x one process)")
    throughput.set_title("Signed-in GET /profile on PostgreSQL")
    throughput.set_xlabel("gunicorn worker processes")
    throughput.set_ylabel("requests/s")
    throughput.set_xticks(counts)
    throughput.set_ylim(bottom=0)
    throughput.legend()
    bottom = [0.0] * len(counts)
    for label, key in (("sessapp", "app_cpu"), ("PostgreSQL", "database_cpu"),
                       ("load generator", "load_cpu"), ("other work", "other_cpu")):
        values = [getattr(s, key) * 100 for s in summaries]
        cpu.bar([str(c) for c in counts], values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    cpu.axhline(100, color="grey", linestyle=":")
    cpu.set_title("Where the CPU went (100% = every core)")
    cpu.set_xlabel("gunicorn worker processes")
    cpu.set_ylabel("% of the machine")
    cpu.set_ylim(0, 110)
    cpu.legend()
    for axes in (throughput, cpu):
        axes.grid(True, alpha=0.3)
    figure.suptitle(f"sessapp process scaling; {note}".rstrip("; "))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scaling-duration", dest="scaling_duration", type=float, default=10.0,
                        help="seconds of load per process count and round (default 10)")
    parser.add_argument("--scaling-rounds", dest="scaling_rounds", type=int, default=3,
                        help="interleaved rounds (default 3)")
    parser.add_argument("--scaling-connections", dest="scaling_connections", type=int, default=0,
                        help="wrk connections in every run (default: threads x N)")
    parser.add_argument("--scaling-cores", dest="scaling_cores", type=int, default=0,
                        help="N, the largest process count (default: this machine's cores)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scaling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--plot", type=Path, help="write the plot (PNG) here")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args(argv)
    report(args, args.plot, args.json)
    return 0


def report(args: argparse.Namespace, plot_path: Path | None = None,
           json_path: Path | None = None, *, echo: bool = True) -> list[Summary]:
    """Measure, print the table, and draw the plot; the summaries (none
    without PostgreSQL)."""
    if not databases.reachable("postgresql"):
        log("PostgreSQL is not reachable: no scaling figures")
        return []
    ncores = args.scaling_cores or cores()
    args.scaling_connections = args.scaling_connections or THREADS * ncores
    load_before = os.getloadavg()
    log(f"load average {load_before}; load generator: {'wrk' if have_wrk() else 'python'}")
    with tempfile.TemporaryDirectory(prefix="sessapp-scaling-") as name:
        runs, summaries = run_scaling(args, Path(name))
    load_after = os.getloadavg()
    if echo:
        print(table(summaries, ncores))
    print(f"\nprocess scaling: load average before {load_before[0]:.2f}, after "
          f"{load_after[0]:.2f}; {args.scaling_connections} connections, "
          f"{args.scaling_duration:g} s per run, {args.scaling_rounds} rounds",
          file=sys.stdout if echo else sys.stderr)
    if plot_path:
        plot(summaries, plot_path, f"load average {load_before[0]:.2f}")
        log(f"wrote {plot_path}")
    if json_path:
        import json

        json_path.write_text(json.dumps({"runs": [asdict(r) for r in runs],
                                         "summary": [asdict(s) for s in summaries]},
                                        indent=2) + "\n")
    return summaries


if __name__ == "__main__":
    raise SystemExit(main())
