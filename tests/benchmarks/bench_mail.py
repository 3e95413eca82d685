"""Benchmark: 10,000 welcome mails rendered and delivered to a local SMTP server.

Run: ``.venv/bin/python tests/benchmarks/bench_mail.py --mails 10000``.

Measured on a SQLite store in a temporary folder and an aiosmtpd server on localhost
(in its own process, as a real server would be: in this process it would compete for
the GIL), throttling off:

(a) enqueue — custody deposit + outbox enqueue of every mail, in the one store
    transaction a nightly run uses;
(b) flush — render (Jinja2, text + HTML), compose, hand to SMTP over one kept connection,
    and record each ``mail.sent`` with its event — goal for (a) + (b): under 30 s.

Not part of the test suite: the figures go to docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.clock import SystemClock
from ecampus_idm.config import StoreSettings
from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.render import Branding, Renderer
from ecampus_idm.mail.settings import MailSettings, SmtpSettings
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.store import open_store

SERVER = """
import sys
from aiosmtpd.controller import Controller

class Count:
    received = 0

    async def handle_DATA(self, server, session, envelope):
        Count.received += 1
        return "250 OK"

controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(Count.received, flush=True)
"""

DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "skynet.be", "telenet.be", "yahoo.fr")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=10_000)
    args = parser.parse_args()
    clock = SystemClock()
    keyring = Keyring.from_config([generate_key()])
    settings = MailSettings()
    branding = Branding(
        institution="Haute-Ecole Condorcet",
        portal_url="https://ecampus.condorcet.be/",
        mail_domain="condorcet.be",
        from_address="no-reply@condorcet.be",
        from_name="Haute-Ecole Condorcet",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()  # "ready"
    with tempfile.TemporaryDirectory() as folder:
        store_settings = StoreSettings(url=f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        with open_store(store_settings, clock=clock) as store:
            desk = WelcomeDesk(store, keyring, settings)
            started = time.perf_counter()
            with store.transaction():
                events = []
                for i in range(args.mails):
                    who = Addressee(
                        f"person{i:06d}",
                        f"user.{i}",
                        f"Prénom{i} Nom{i}",
                        f"user.{i}@{DOMAINS[i % len(DOMAINS)]}",
                    )
                    events.extend(
                        desk.issue(who, SecretStr(f"initial-pw-{i}"), now=clock.now(), run_id=None)
                    )
                store.record_events(events)
            enqueue = time.perf_counter() - started
            mailer = OutboxMailer(
                outbox=desk.outbox,
                transport=SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, security="none")),
                renderer=Renderer(branding, settings),
                store=store,
                clock=clock,
            )
            started = time.perf_counter()
            report = mailer.flush()
            flush = time.perf_counter() - started
    received, _ = server.communicate("")
    total = enqueue + flush
    print(f"mails: {args.mails}; received by the SMTP server: {received.strip()}")
    print(f"(a) enqueue (custody + outbox + events, one transaction): {enqueue:.2f} s")
    print(
        f"(b) flush (render + SMTP + mark sent + event): {flush:.2f} s "
        f"({report.sent / flush:.0f} mails/s; sent {report.sent}, deferred {report.deferred})"
    )
    print(f"total: {total:.2f} s — goal under 30 s: {'met' if total < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
