"""Benchmark: the "Mot de passe oublié" service on a throwaway slapd and a SQLite file.

Run: ``.venv/bin/python tests/benchmarks/bench_reset.py --requests 1000``.

Measured in one run:

(a) ``request_reset`` latency for a known and an unknown address, interleaved (median,
    95th percentile, and the difference of the medians: the issue asks under 5 ms);
(b) the worker (``process_pending``): requests looked up and mailed per second, the mailer
    being a no-op so that the directory and the store are what is measured;
(c) ``peek`` and ``redeem`` latency (redeem includes the quality check, the atomic
    consume, the password-modify operation and the events).

Not part of the test suite: figures go to docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.config import StoreSettings
from ecampus_idm.passwords import (
    PasswordResetService,
    PasswordSettings,
    RateLimitSettings,
    ResetMail,
    TokenKeyring,
)
from ecampus_idm.passwords.hashing import hash_ldap_password
from ecampus_idm.store.sql import open_store
from ecampus_idm.testing.slapd import find_slapd, start_slapd


class _Keep:
    def __init__(self) -> None:
        self.mails: list[ResetMail] = []

    def send_reset(self, mail: ResetMail) -> None:
        self.mails.append(mail)


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1000:.3f} ms, p95 {p95 * 1000:.3f} ms"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="Requests per address kind.")
    parser.add_argument("--accounts", type=int, default=200, help="Accounts for the worker.")
    args = parser.parse_args()
    layout = find_slapd()
    if layout is None:
        raise SystemExit("slapd is not installed")
    with tempfile.TemporaryDirectory() as folder, start_slapd(layout=layout) as server:
        directory = server.connect()
        hashed = hash_ldap_password(SecretStr("ancien-mot-de-passe-initial"))
        for n in range(args.accounts):
            directory.add(
                f"uid=user{n},{server.people_dn}",
                {
                    "objectClass": ["inetOrgPerson", "ecampusPerson"],
                    "uid": f"user{n}",
                    "cn": f"User {n}",
                    "sn": "User",
                    "ecampusManagedBy": "ecampus-idm",
                    "ecampusPersonId": f"p-{n}",
                    "ecampusAccountStatus": "active",
                    "ecampusPersonalMail": f"user{n}@example.org",
                    "userPassword": hashed,
                },
            )
        store = open_store(StoreSettings(url=f"sqlite:///{Path(folder) / 'state.sqlite3'}"))
        mailer = _Keep()
        service = PasswordResetService.for_store(
            store,
            mailer=mailer,
            settings=PasswordSettings(
                people_dn=server.people_dn,
                policy_dn=server.policy_dn,
                # the flood brake would stop the worker measurement after 2000 requests
                rate_limits=RateLimitSettings(overall=1_000_000, per_ip=10_000),
            ),
            directory=directory,
            keyring=TokenKeyring.generate(),
        )
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for n in range(args.requests):
            for kind in ("known", "unknown") if n % 2 else ("unknown", "known"):
                address = "user0@example.org" if kind == "known" else "nobody@example.org"
                start = time.perf_counter()
                service.request_reset(address, f"198.51.100.{n % 250}")
                timings[kind].append(time.perf_counter() - start)
        difference = abs(
            statistics.median(timings["known"]) - statistics.median(timings["unknown"])
        )
        print(f"(a) request_reset, {args.requests} each (SQLite file):")
        print(f"    known   {_ms(timings['known'])}")
        print(f"    unknown {_ms(timings['unknown'])}")
        print(f"    difference of medians {difference * 1000:.3f} ms (goal < 5 ms)")
        service.process_pending(limit=100_000)  # drain (mostly rate-limited)
        mailer.mails.clear()
        for n in range(args.accounts):
            service.request_reset(f"user{n}@example.org", f"203.0.113.{n % 250}")
        start = time.perf_counter()
        report = service.process_pending(limit=100_000)
        elapsed = time.perf_counter() - start
        print(
            f"(b) worker: {report.requests} requests, {report.mailed} mails in {elapsed:.2f} s "
            f"({report.requests / elapsed:.0f} requests/s)"
        )
        peeks, redeems = [], []
        for n, mail in enumerate(mailer.mails):
            token = mail.link.get_secret_value().rsplit("token=", 1)[1]
            start = time.perf_counter()
            service.peek(token)
            peeks.append(time.perf_counter() - start)
            start = time.perf_counter()
            service.redeem(token, f"lampadaire-violet-sous-la-pluie-{n}")
            redeems.append(time.perf_counter() - start)
        print(f"(c) peek   {_ms(peeks)}")
        print(f"    redeem {_ms(redeems)}")
        store.close()
        directory.close()


if __name__ == "__main__":
    main()
