"""Benchmark: how long the throwaway slapd takes to be ready (the ldap_server fixture).

Run: ``.venv/bin/python tests/benchmarks/bench_slapd_startup.py [--runs 20]``. Prints the
figures as a Markdown table row for docs/performance.md. Not part of the test suite: speed
goals are measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from ecampus_idm.testing.slapd import start_slapd


def main() -> None:
    """Start and stop slapd ``--runs`` times; print ready and first-bind timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    ready: list[float] = []
    first_bind: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter()
        server = start_slapd()
        ready.append(time.perf_counter() - started)
        with server.connect() as directory:
            directory.check()  # StartTLS + bind
        first_bind.append(time.perf_counter() - started)
        server.stop()

    def row(name: str, values: list[float]) -> str:
        quantiles = statistics.quantiles(values, n=20)
        return (
            f"| {name} | {args.runs} | {min(values):.3f} | {statistics.median(values):.3f} "
            f"| {quantiles[-1]:.3f} | {max(values):.3f} |"
        )

    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| measure | runs | min s | median s | p95 s | max s |")
    print("|---|---|---|---|---|---|")
    print(row("slapd ready (config + certificates + slapadd + start)", ready))
    print(row("ready + StartTLS + admin bind", first_bind))


if __name__ == "__main__":
    main()
