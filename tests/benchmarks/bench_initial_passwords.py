"""Benchmark: initial passwords (generation + quality check) and a policy run.

Run: ``.venv/bin/python tests/benchmarks/bench_initial_passwords.py [--count 100000]``.
Prints the figures as Markdown table rows for docs/performance.md. Not part of the test
suite: speed goals are measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

from ecampus_idm.clock import FixedClock
from ecampus_idm.model import AcademicYear, Category, Enrolment, Person, Role, SourceKey
from ecampus_idm.policies import PolicyEngine, StoreSnapshot


def _students(count: int) -> list[Person]:
    key = SourceKey(source="secretariat", matricule="1")
    enrolment = Enrolment(
        school="HEC-TOURNAI",
        category=Category.HE,
        department="INFO",
        academic_year=AcademicYear(start_year=2026),
        source=key,
    )
    names = ["Jean", "Marie", "Élodie", "Łukasz", "Søren"]
    return [
        Person(
            person_id=f"p-{i:06d}",
            given_name=names[i % len(names)],
            family_name=f"Van der Straeten {i % 97}",
            roles=frozenset({Role.STUDENT}),
            enrolments=(enrolment,),
        )
        for i in range(count)
    ]


def main() -> None:
    """Generate ``--count`` passwords, then decide a run of ``--persons`` new students."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--persons", type=int, default=20_000)
    args = parser.parse_args()
    engine = PolicyEngine()
    generator = engine.initial_passwords

    started = time.perf_counter()
    for _ in range(args.count):
        generator.generate(username="jean.dupont", display_name="Jean Dupont")
    passwords = time.perf_counter() - started

    people = _students(args.persons)
    started = time.perf_counter()
    engine.decide(people, StoreSnapshot(), FixedClock.on(date(2026, 9, 1)))
    run = time.perf_counter() - started

    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| measure | count | total s | per item µs |")
    print("|---|---|---|---|")
    print(
        f"| initial password (draw + quality check) | {args.count} | {passwords:.2f} "
        f"| {passwords / args.count * 1e6:.1f} |"
    )
    print(
        f"| PolicyEngine.decide, new students | {args.persons} | {run:.2f} "
        f"| {run / args.persons * 1e6:.1f} |"
    )


if __name__ == "__main__":
    main()
