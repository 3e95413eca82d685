"""Benchmark: the sync engine against a throwaway slapd, beside the C tools' baselines.

Run: ``.venv/bin/python tests/benchmarks/bench_sync.py --people 100000``.

Measured in the same run, each on a fresh throwaway slapd:

(a) first run (snapshot read + plan + apply creating every person and group) against
    ``ldapadd`` of an LDIF holding the same entries — goal: at most 1.5 times;
(b) second run with nothing to change (snapshot read + plan) against a paged
    ``ldapsearch`` dump of the same subtrees — goal: at most 10 times;
(c) peak memory of this process — goal: under 1 GB.

Not part of the test suite: speed goals are measured here and written to
docs/performance.md by hand, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.directory.dn import build_dn
from ecampus_idm.sync import (
    DesiredEntry,
    EntryKind,
    PlanOptions,
    Segment,
    TargetSpec,
    apply,
    plan,
    read_snapshot,
)
from ecampus_idm.testing.slapd import SlapdServer, start_slapd

OWNED = frozenset(
    {
        "objectclass",
        "uid",
        "cn",
        "sn",
        "givenname",
        "mail",
        "edupersonaffiliation",
        "edupersonprincipalname",
        "ecampusmanagedby",
        "ecampuspersonid",
        "ecampuspersonalmail",
        "ecampussourcekey",
        "ecampusaccountstatus",
    }
)
SCHOOLS = 20


def desired_entries(base: str, people: int) -> list[DesiredEntry]:
    """Persons spread over SCHOOLS schools, and one group per school."""
    persons = []
    for number in range(people):
        uid = f"prenom{number}.nom{number}"
        school = f"SCHOOL-{number % SCHOOLS:02d}"
        persons.append(
            DesiredEntry(
                EntryKind.PERSON,
                f"p{number:07d}",
                build_dn("uid", uid, f"ou=people,{base}"),
                {
                    "objectClass": ("inetOrgPerson", "eduPerson", "ecampusPerson"),
                    "uid": (uid,),
                    "cn": (f"Prénom{number} Nom{number}",),
                    "sn": (f"Nom{number}",),
                    "givenName": (f"Prénom{number}",),
                    "mail": (f"{uid}@ecampus.test",),
                    "eduPersonAffiliation": ("student", "member"),
                    "eduPersonPrincipalName": (f"{uid}@ecampus.test",),
                    "ecampusManagedBy": ("ecampus-idm",),
                    "ecampusPersonId": (f"p{number:07d}",),
                    "ecampusPersonalMail": (f"perso{number}@example.org",),
                    "ecampusSourceKey": (f"secretariat:{number:08d}",),
                    "ecampusAccountStatus": ("active",),
                },
                OWNED,
                segment=Segment("HE", school),
                initial_password=True,
            )
        )
    groups = [
        DesiredEntry(
            EntryKind.GROUP,
            f"SCHOOL-{index:02d}",
            build_dn("cn", f"SCHOOL-{index:02d}", f"ou=groups,{base}"),
            {
                "objectClass": ("groupOfNames", "ecampusManaged"),
                "cn": (f"SCHOOL-{index:02d}",),
                "ecampusManagedBy": ("ecampus-idm",),
            },
            frozenset({"objectclass", "cn", "ecampusmanagedby"}),
            members=frozenset(p.dn for p in persons[index::SCHOOLS]),
            segment=Segment("HE", f"SCHOOL-{index:02d}"),
        )
        for index in range(SCHOOLS)
    ]
    return persons + groups


def _password(key: str) -> SecretStr:
    return SecretStr(f"Initial-{key}-Pass-2026")


def write_ldif(path: Path, entries: list[DesiredEntry]) -> None:
    """The same entries as LDIF, passwords and group members included."""
    with path.open("w", encoding="utf-8") as out:
        for entry in entries:
            out.write(f"dn: {entry.dn}\n")
            for name, values in entry.attributes.items():
                for value in values:
                    out.write(f"{name}: {value}\n")
            if entry.kind is EntryKind.PERSON:
                out.write(f"userPassword: {_password(entry.key).get_secret_value()}\n")
                out.write("pwdReset: TRUE\n")
            else:
                out.write("member: cn=nobody\n")
                for member in sorted(entry.members):
                    out.write(f"member: {member}\n")
            out.write("\n")


def _ldap_env(server: SlapdServer, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LDAPTLS_CACERT"] = str(server.ca_file)
    (folder / "pw").write_text(server.admin_password.get_secret_value(), "utf-8")
    return env


def timed_ldapadd(server: SlapdServer, ldif: Path, folder: Path) -> float:
    """Seconds for ldapadd (StartTLS, one connection) to load the LDIF."""
    started = time.perf_counter()
    subprocess.run(
        [
            "ldapadd",
            "-x",
            "-ZZ",
            "-H",
            server.url,
            "-D",
            server.admin_dn,
            "-y",
            str(folder / "pw"),
            "-f",
            str(ldif),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env=_ldap_env(server, folder),
    )
    return time.perf_counter() - started


def timed_ldapsearch(server: SlapdServer, folder: Path) -> float:
    """Seconds for a paged ldapsearch dump of people and groups."""
    started = time.perf_counter()
    for container in (f"ou=people,{server.base_dn}", f"ou=groups,{server.base_dn}"):
        subprocess.run(
            [
                "ldapsearch",
                "-x",
                "-ZZ",
                "-LLL",
                "-H",
                server.url,
                "-D",
                server.admin_dn,
                "-y",
                str(folder / "pw"),
                "-E",
                "pr=500/noprompt",
                "-b",
                container,
                "*",
                "entryCSN",
                "pwdAccountLockedTime",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            env=_ldap_env(server, folder),
        )
    return time.perf_counter() - started


def main() -> None:
    """Run the three measurements and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None, help="apply connections")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    base = "dc=ecampus,dc=test"
    entries = desired_entries(base, args.people)
    ldif = folder / "entries.ldif"
    write_ldif(ldif, entries)

    with start_slapd(base_dn=base) as server:
        ldapadd_seconds = timed_ldapadd(server, ldif, folder)
        ldapsearch_seconds = timed_ldapsearch(server, folder)

    with start_slapd(base_dn=base) as server, server.connect() as directory:
        spec = TargetSpec(
            containers={EntryKind.PERSON: f"ou=people,{base}", EntryKind.GROUP: f"ou=groups,{base}"}
        )
        started = time.perf_counter()
        first = plan(entries, read_snapshot(directory, spec), PlanOptions(budgets=()))
        planned = time.perf_counter() - started
        kwargs = {} if args.workers is None else {"workers": args.workers}
        report = apply(first, directory, spec, passwords=_password, **kwargs)  # type: ignore[arg-type]
        first_seconds = time.perf_counter() - started
        assert report.ok, report.to_dict()["failures"]

        started = time.perf_counter()
        second = plan(entries, read_snapshot(directory, spec))
        second_seconds = time.perf_counter() - started
        assert second.is_empty, second.summary()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"people: {args.people}, groups: {SCHOOLS}")
    print(
        f"(a) first run {first_seconds:.1f} s (plan {planned:.1f} s) vs ldapadd "
        f"{ldapadd_seconds:.1f} s: ratio {first_seconds / ldapadd_seconds:.2f} (goal ≤ 1.5)"
    )
    print(
        f"(b) second run {second_seconds:.1f} s vs paged ldapsearch "
        f"{ldapsearch_seconds:.2f} s: ratio {second_seconds / ldapsearch_seconds:.1f} (goal ≤ 10)"
    )
    print(f"(c) peak memory {peak_mb:.0f} MB (goal < 1024)")


if __name__ == "__main__":
    main()
