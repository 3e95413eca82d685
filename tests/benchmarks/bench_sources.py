"""Benchmark: read, validate and correlate 100,000 people from CSV exports.

Run: ``.venv/bin/python tests/benchmarks/bench_sources.py [--people 100000] [--runs 3]``.

The sample exports (:func:`ecampus_idm.connectors.write_sample`) are written first, then
each run happens in a fresh interpreter so that its peak memory is its own: the five CSV
files are read (two passes each), every row validated, the rows correlated and every
:class:`~ecampus_idm.model.Person` built, one at a time, as a consumer streams them.
With ``--keep-persons`` the persons are kept in a list instead, to show what holding
them all costs. Last, the largest export is streamed alone under tracemalloc: the
connector's own peak, which should not grow with the file. Prints a Markdown table for
docs/performance.md. Not part of the test suite: speed goals are measured here, never
asserted by timed tests.

Goal: under 5 s and under 300 MB peak (resident set size of the whole process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.connectors import CsvConnector, MemoryExportLedger, ready_profile, write_sample
from ecampus_idm.identity import Pseudonymiser, load_population
from ecampus_idm.model import School


def _memory_mb(field: str) -> float:
    """Return a memory figure of this process from /proc (VmHWM: peak, VmRSS: now).

    Not ``ru_maxrss``: Linux carries it over ``exec`` from the forking parent, whose
    sample generation would then count as this run's peak.
    """
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(folder: Path, keep: bool) -> dict[str, Any]:
    """Run one read of the sample in ``folder``; return times, memory and counts."""
    config = tomllib.loads((folder / "sources.toml").read_text(encoding="utf-8"))
    schools = [School.model_validate(s) for s in config["schools"]]
    connectors = [
        CsvConnector(c["name"], folder / c["path"], ready_profile(c["profile"]))
        for c in config["sources"]["connectors"]
    ]
    pseudonymiser = Pseudonymiser(SecretStr("benchmark-key-" + "x" * 32))
    clock = FixedClock.on(date(2026, 9, 15))
    baseline = _memory_mb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    population = load_population(
        connectors, pseudonymiser, clock=clock, schools=schools, ledger=MemoryExportLedger()
    )
    read_wall, read_cpu = time.perf_counter() - wall, time.process_time() - cpu
    kept = []
    count = 0
    for person in population.people:
        count += 1
        if keep:
            kept.append(person)
    total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    largest = max(connectors, key=lambda c: c.path.stat().st_size)
    tracemalloc.start()  # after the timing: tracing slows everything down
    for _ in largest.read():
        pass
    streaming_peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return {
        "stream_peak_mb": streaming_peak,
        "wall_s": total_wall,
        "cpu_s": total_cpu,
        "read_validate_correlate_wall_s": read_wall,
        "read_validate_correlate_cpu_s": read_cpu,
        "peak_rss_mb": _memory_mb("VmHWM"),
        "baseline_rss_mb": baseline,
        "rows": sum(f.rows for f in population.accepted.values()),
        "persons": count,
        "quarantined": len(population.report),
        "reviews": len(population.reviews),
        "complete": population.complete,
    }


def _child(folder: Path, keep: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", str(folder)] + (
        ["--keep-persons"] if keep else []
    )
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def main() -> None:
    """Write the sample, measure ``--runs`` fresh reads, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-persons", action="store_true")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.keep_persons)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-sources-") as folder:
        started = time.perf_counter()
        summary = write_sample(Path(folder), args.people, seed=args.seed)
        written = time.perf_counter() - started
        size = sum(p.stat().st_size for p in summary.files.values()) / 1e6
        runs = [_child(Path(folder), args.keep_persons) for _ in range(args.runs)]

    first = runs[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"load average during the runs: {os.getloadavg()[0]:.2f}")
    print(
        f"sample: {summary.people} people, {first['rows']} rows in {len(summary.files)} files "
        f"({size:.1f} MB), written in {written:.1f} s; {first['persons']} persons, "
        f"{first['quarantined']} rows quarantined, {first['reviews']} review items"
    )
    print()
    print("| measure | runs | min | median | max |")
    print("|---|---|---|---|---|")
    for key, label in (
        ("read_validate_correlate_wall_s", "read + validate + correlate, wall s"),
        ("wall_s", "... + build every Person, wall s"),
        ("cpu_s", "... + build every Person, CPU s"),
        ("peak_rss_mb", "peak RSS, MB" + (" (persons kept)" if args.keep_persons else "")),
        ("baseline_rss_mb", "RSS after imports, MB"),
        ("stream_peak_mb", "largest export streamed alone, traced peak MB"),
    ):
        values = [run[key] for run in runs]
        print(
            f"| {label} | {len(values)} | {min(values):.2f} | {statistics.median(values):.2f} "
            f"| {max(values):.2f} |"
        )


if __name__ == "__main__":
    main()
