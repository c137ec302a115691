"""``python -m bench.reliability``: the options, one run per database named, the
report, and the exit status (0 clean, 1 a check failed, 2 a server unreachable)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import bench.reliability
from bench.reliability.report import Options, print_report, write_json
from bench.reliability.run import run_database
from sessapp.testing.load.constants import DEFAULT_MAX_REQUESTS
from sessapp.testing.load.database import server_problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability",
                                     description=bench.reliability.__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql, mysql (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=64, help="simulated browsers")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mix")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads per process")
    parser.add_argument("--processes", type=int, default=1, help="pserve processes")
    parser.add_argument("--writers", type=int, default=8,
                        help="parallel requests per session in the same-session phase")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of those")
    parser.add_argument("--same-sessions", type=int, default=4,
                        help="sessions hammered at once")
    parser.add_argument("--logout-races", type=int, default=4,
                        help="sessions signed out while being written to")
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                        help="hard cap on requests per database")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra app setting for the load INI (repeatable)")
    parser.add_argument("--serializable", action="store_true",
                        help="PostgreSQL: make every transaction SERIALIZABLE (ALTER DATABASE)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    app = dict(item.split("=", 1) for item in args.set)
    options = Options(clients=args.clients, seconds=args.seconds, threads=args.threads,
                      processes=args.processes, writers=args.writers, rounds=args.rounds,
                      same_sessions=args.same_sessions, logout_races=args.logout_races,
                      max_requests=args.max_requests, app=app,
                      serializable=args.serializable)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    unreachable = [f"{kind}: {problem}" for kind in kinds
                   if (problem := server_problem(kind)) is not None]
    if unreachable:
        for line in unreachable:
            print(f"bench.reliability: {line}", file=sys.stderr)
        return 2
    reports = [run_database(kind, options) for kind in kinds]
    print_report(reports)
    print(f"\nmachine: {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; python {sys.version.split()[0]}")
    if args.json:
        write_json(reports, args.json)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
