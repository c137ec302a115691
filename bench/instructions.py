"""Instructions per request, counted by valgrind: a figure the rest of the machine
cannot move.

``bench.inprocess`` times each request with the CPU clock, which on a shared
machine moves by a third from run to run (other processes evict the caches and
the clock ticks coarsely). This runs the same cases under valgrind's callgrind,
which counts the instructions the process executes: two runs of the same code
agree to a fraction of a percent, whatever else the machine does, so a change of
a few percent is visible in one run.

Each case runs in two threads of its own, one after the other, one with N
requests and one with 2N (both after the case's warm-up); callgrind counts each
thread apart (``--separate-threads``), and the difference divided by N is one
request's instructions, without the thread's start-up or anything else the
process did. (Threads are kept alive until the end: valgrind reuses the number
of a finished thread, and would add the next one's count to it.) The cyclic
garbage collector is held off during each loop and run once at its end, over
the loop's own objects only: left to itself it runs a full collection in one
thread and not in the other, which moved a case by 40%.

Instructions are not time: a cache miss or a system call costs more than its
instruction count says. Read them beside ``bench.inprocess``; they agree on the
direction and roughly on the size of a change to sessapp's own Python code.

Run from the repository root (needs ``valgrind``; about a minute per case)::

    .venv/bin/python -m bench.instructions
    .venv/bin/python -m bench.instructions --backends postgresql --cases profile,api_me
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.inprocess import DESCRIPTIONS, LABELS, call, cases_for
from sessapp.testing.databases import reachable, scratch_database

CHILD_FLAG = "--in-valgrind"


def _run_in_thread(work: Callable[[], None], threads: list[threading.Thread],
                   finished: threading.Event) -> None:
    """Run ``work`` in a new thread and wait for it, leaving the thread alive
    (parked on ``finished``) so that valgrind gives the next one a new number."""
    done = threading.Event()

    def body() -> None:
        work()
        done.set()
        finished.wait()

    thread = threading.Thread(target=body)
    thread.start()
    threads.append(thread)
    done.wait()


def child(args: argparse.Namespace) -> int:
    """Inside valgrind: run the cases, record which thread ran what."""
    wanted = set(args.cases.split(","))
    threads: list[threading.Thread] = []
    finished = threading.Event()
    plan: list[dict[str, Any]] = []
    try:
        for backend in args.backends.split(","):
            with scratch_database(backend, "instructions") as url:
                for case in cases_for(url, dict(args.setting)):
                    if case.name not in wanted:
                        continue
                    status, _ = call(case)
                    if not status.startswith(case.expect):
                        raise RuntimeError(f"{case.name}: expected {case.expect}, got {status}")
                    for number in range(args.warmup):
                        call(case, number)
                    for count in (args.requests, 2 * args.requests):
                        def work(case: Any = case, count: int = count) -> None:
                            # The cyclic collector runs when allocations say so,
                            # which may be in one thread and not the other: held
                            # off, then run once over what the loop left.
                            gc.disable()
                            for number in range(count):
                                call(case, number)
                            gc.collect()
                            gc.enable()
                        # What exists now is no loop's garbage: out of the collector's way.
                        gc.collect()
                        gc.freeze()
                        _run_in_thread(work, threads, finished)
                        # Thread 1 is the main thread; ours count from 2.
                        plan.append({"backend": backend, "case": case.name,
                                     "requests": count, "thread": len(threads) + 1})
    finally:
        finished.set()
        for thread in threads:
            thread.join()
    Path(args.plan).write_text(json.dumps(plan))
    return 0


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def parent(args: argparse.Namespace, forwarded: list[str]) -> int:
    if shutil.which("valgrind") is None:
        print("bench.instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    backends = [b for b in args.backends.split(",") if b]
    kept = []
    for backend in backends:
        if reachable(backend):
            kept.append(backend)
        else:
            print(f"{LABELS[backend]}: no server answers; skipped", file=sys.stderr)
    if not kept:
        return 1
    with tempfile.TemporaryDirectory(prefix="sessapp-callgrind-") as scratch:
        out = Path(scratch) / "callgrind.out"
        plan = Path(scratch) / "plan.json"
        command = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                   f"--callgrind-out-file={out}", sys.executable, "-m", "bench.instructions",
                   *forwarded, "--backends", ",".join(kept), "--plan", str(plan), CHILD_FLAG]
        # Dict order and hashing the same in every run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)
        counts: dict[tuple[str, str], dict[int, int]] = {}
        for item in json.loads(plan.read_text()):
            thread_file = Path(f"{out}-{item['thread']:02d}")
            counts.setdefault((item["backend"], item["case"]), {})[item["requests"]] = (
                _totals(thread_file))
    rows = []
    bare = {}
    for (backend, case), by_count in counts.items():
        low, high = sorted(by_count)
        per_request = (by_count[high] - by_count[low]) / (high - low)
        if case == "bare":
            bare[backend] = per_request
        rows.append({"backend": backend, "request": DESCRIPTIONS[case], "case": case,
                     "instructions": per_request})
    lines = ["| database | request | instructions/request | times the bare view's |",
             "|---|---|---:|---:|"]
    for row in rows:
        ratio = ("" if row["case"] == "bare" or row["backend"] not in bare
                 else f"{row['instructions'] / bare[row['backend']]:.1f}")
        lines.append(f"| {LABELS[row['backend']]} | {row['request']} "
                     f"| {row['instructions']:,.0f} | {ratio} |")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.instructions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite",
                        help="databases, comma-separated (default sqlite)")
    parser.add_argument("--cases", default=",".join(DESCRIPTIONS),
                        help=f"comma-separated, of {', '.join(DESCRIPTIONS)} (default all)")
    parser.add_argument("--requests", type=int, default=200,
                        help="N: the two measured threads run N and 2N requests (default 200)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="an app setting over testing.ini's (repeatable)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument(CHILD_FLAG, action="store_true", dest="child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.cases.split(",")) - set(DESCRIPTIONS)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    pairs = [item.partition("=") for item in args.setting]
    if any(not key.strip() or not sep for key, sep, _ in pairs):
        parser.error("--setting takes KEY=VALUE")
    args.setting = [(key.strip(), value.strip()) for key, _, value in pairs]
    if args.child:
        return child(args)
    forwarded = ["--cases", args.cases, "--requests", str(args.requests),
                 "--warmup", str(args.warmup)]
    for key, value in args.setting:
        forwarded += ["--setting", f"{key}={value}"]
    return parent(args, forwarded)


if __name__ == "__main__":
    sys.exit(main())
