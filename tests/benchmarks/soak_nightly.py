"""Soak: the nightly state machine of issue 13 for a long time, with its figures.

Run: ``.venv/bin/python tests/benchmarks/soak_nightly.py --minutes 30``
(``--store postgres`` for a throwaway PostgreSQL store; ``--keep-going`` to count breaches
and go on instead of stopping, with hypothesis shrinking, at the first one).

The same :class:`~ecampus_idm.testing.nightly_machine.NightlyMachine` as
``tests/integration/test_nightly_machine.py``, on the ``soak`` hypothesis profile
(40 steps per example), in batches of fresh random examples until the time is up. It
prints the steps run per kind, the faults injected per kind, and each invariant's checks
made / held / broken (``--json`` for a JSON document). Exit 1 if an invariant broke.

Not part of the test suite: the figures go to docs/reliability.md by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from ecampus_idm.config import StoreSettings
from ecampus_idm.testing.invariants import INVARIANTS, InvariantViolation, Tally
from ecampus_idm.testing.nightly_machine import MachineEnvironment, machine_for


@contextmanager
def _stores(kind: str) -> Iterator[Callable[[], tuple[StoreSettings | None, Callable[[], None]]]]:
    if kind == "sqlite":
        yield lambda: (None, lambda: None)
        return
    from ecampus_idm.testing.postgres import start_postgres  # noqa: PLC0415 - only if asked

    server = start_postgres()
    try:

        def make() -> tuple[StoreSettings | None, Callable[[], None]]:
            database = server.create_database()
            return server.settings(database), lambda: server.drop_database(database)

        yield make
    finally:
        server.stop()


def _table(tally: Tally, elapsed: float, examples: int) -> str:
    nights = sum(tally.steps.values())
    lines = [
        f"{examples} examples, {nights} nights in {elapsed:.0f} s "
        f"({elapsed / max(nights, 1):.2f} s per night)",
        "",
        "steps:",
        *(f"  {n:6d}  {kind}" for kind, n in sorted(tally.steps.items())),
        "faults injected:",
        *(f"  {n:6d}  {kind}" for kind, n in sorted(tally.faults.items())),
        "invariants (checked / held / broken):",
        *(
            f"  {tally.checked[name]:6d} / {tally.held[name]:6d} / {tally.broken[name]:4d}  {name}"
            for name in INVARIANTS
        ),
        "runs and other counts:",
        *(f"  {n:6d}  {kind}" for kind, n in sorted(tally.notes.items())),
    ]
    return "\n".join(lines)


def main() -> int:
    """Run the soak; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--steps", type=int, default=40, help="steps per example (40)")
    parser.add_argument("--batch", type=int, default=5, help="examples per batch (5)")
    parser.add_argument(
        "--keep-going", action="store_true", help="count breaches and go on (no shrinking)"
    )
    parser.add_argument("--verbose", action="store_true", help="one line per night")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args()

    environment = MachineEnvironment(
        strict=not args.keep_going,
        log=(lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None,
    )
    profile = settings(
        settings.get_profile("soak"),
        max_examples=args.batch,
        stateful_step_count=args.steps,
        database=None,  # each batch fresh random examples
    )
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    examples = 0
    failure: InvariantViolation | None = None
    with _stores(args.store) as stores:
        environment.store = stores
        machine = machine_for(environment)
        while time.monotonic() < deadline:
            try:
                run_state_machine_as_test(machine, settings=profile)
            except InvariantViolation as exc:
                failure = exc
                break
            finally:
                examples += args.batch
    elapsed = time.monotonic() - started
    tally = environment.tally
    if args.json:
        document: dict[str, Any] = {
            "store": args.store,
            "seconds": round(elapsed),
            "examples": examples,
            "nights": sum(tally.steps.values()),
            **tally.to_dict(),
            "breaches": [f"{step}: {breach}" for step, breach in environment.breaches[:50]],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(_table(tally, elapsed, examples))
        if environment.breaches:
            print("\nbreaches (first 30):")
            for step, breach in environment.breaches[:30]:
                print(f"  after {step}: {breach}")
    if failure is not None:
        print(f"\nstopped at the first breach (shrunk above by hypothesis):\n{failure}")
    return 1 if failure is not None or environment.breaches else 0


if __name__ == "__main__":
    sys.exit(main())
