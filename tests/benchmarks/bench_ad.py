"""Benchmark: the sync engine against a throwaway Samba AD domain controller.

Run (as root, Samba installed): ``.venv/bin/python tests/benchmarks/bench_ad.py --people 500``.

Measured on one fresh Samba AD DC:

(a) first run: snapshot read + plan + apply creating every user (with its initial
    password: ``unicodePwd`` + ``pwdLastSet=0``) and one group of all of them — users/s;
(b) second run with nothing to change (snapshot read + plan) — entries/s;
(c) a paged read of the users alone (pages of 1000, AD's MaxPageSize) — entries/s.

Not part of the test suite: figures go to docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import time

from pydantic import SecretStr

from ecampus_idm.directory.active_directory import NEVER_EXPIRES, UAC_ENABLED
from ecampus_idm.directory.dn import build_dn
from ecampus_idm.mapping.active_directory import ActiveDirectoryProfile
from ecampus_idm.sync import DesiredEntry, EntryKind, Segment, apply, plan, read_snapshot
from ecampus_idm.testing.samba import start_samba


def _people(profile: ActiveDirectoryProfile, count: int) -> list[DesiredEntry]:
    owned = frozenset(
        {
            "objectclass",
            "cn",
            "samaccountname",
            "userprincipalname",
            "sn",
            "givenname",
            "mail",
            "useraccountcontrol",
            "accountexpires",
            "admindescription",
            "employeenumber",
        }
    )
    entries = []
    for number in range(count):
        uid = f"user.{number:06d}"
        entries.append(
            DesiredEntry(
                kind=EntryKind.PERSON,
                key=f"p{number:06d}",
                dn=build_dn("CN", uid, profile.people_dn),
                attributes={
                    "objectClass": ("top", "person", "organizationalPerson", "user"),
                    "cn": (uid,),
                    "sAMAccountName": (uid,),
                    "userPrincipalName": (f"{uid}@ecampus.test",),
                    "sn": ("Bench",),
                    "givenName": ("User",),
                    "mail": (f"{uid}@ecampus.test",),
                    "userAccountControl": (str(UAC_ENABLED),),
                    "accountExpires": (str(NEVER_EXPIRES),),
                    "adminDescription": ("ecampus-idm",),
                    "employeeNumber": (f"p{number:06d}",),
                },
                owned=owned,
                segment=Segment("HE", "HEC-TOURNAI"),
                initial_password=True,
            )
        )
    return entries


def main() -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()
    server = start_samba()
    print(f"samba provisioned and started in {time.perf_counter() - started:.1f} s")
    try:
        directory = server.connect()
        profile = ActiveDirectoryProfile(server.people_dn, server.groups_dn, "ecampus.test")
        spec = profile.target()
        people = _people(profile, args.people)
        desired = [*people, profile.group("HEC-TOURNAI", (p.dn for p in people))]

        started = time.perf_counter()
        first = plan(desired, read_snapshot(directory, spec), profile.plan_options())
        report = apply(
            first,
            directory,
            spec,
            passwords=lambda key: SecretStr(f"Bench-{key}-Pw-2026!"),
        )
        elapsed = time.perf_counter() - started
        assert report.ok, report.to_dict()
        print(
            f"(a) first run: {args.people} users + 1 group in {elapsed:.1f} s "
            f"= {args.people / elapsed:.0f} users/s"
        )

        started = time.perf_counter()
        second = plan(desired, read_snapshot(directory, spec), profile.plan_options())
        elapsed = time.perf_counter() - started
        assert second.is_empty, second.summary()
        print(
            f"(b) second run (read + plan, nothing to do): {elapsed:.2f} s "
            f"= {(args.people + 1) / elapsed:.0f} entries/s"
        )

        started = time.perf_counter()
        read = sum(1 for _ in directory.search(server.people_dn, attributes=["*", "uSNChanged"]))
        elapsed = time.perf_counter() - started
        print(f"(c) paged read of {read} entries: {elapsed:.2f} s = {read / elapsed:.0f} entries/s")
        directory.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
