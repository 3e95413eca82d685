"""A real SMTP server for tests: aiosmtpd in a thread, recording what it receives.

:func:`start_smtp_server` starts an :class:`SmtpServer` on a free local port (about 2 ms);
the ``smtp_server`` fixture (registered by :mod:`ecampus_idm.testing.plugin`) gives one
per test. The server records every accepted message (:attr:`SmtpServer.messages`) and
can be told to refuse recipients with a given reply (``server.refuse[address] = "550 ..."``),
to require a login (``auth``) and to offer STARTTLS with a throwaway certificate.

Without aiosmtpd (the ``testing`` or ``dev`` extra), the fixture skips, or fails when
``ECAMPUS_IDM_REQUIRE_MAIL=1``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from ecampus_idm.mail.settings import SmtpSettings

__all__ = [
    "REQUIRE_MAIL_VARIABLE",
    "ReceivedMessage",
    "SmtpServer",
    "smtp_server",
    "start_smtp_server",
]

REQUIRE_MAIL_VARIABLE = "ECAMPUS_IDM_REQUIRE_MAIL"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)

    def parsed(self) -> EmailMessage:
        """The message, parsed."""
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        if not isinstance(message, EmailMessage):  # pragma: no cover - the default policy's
            raise TypeError("not an EmailMessage")
        return message

    def text(self) -> str:
        """The text/plain alternative."""
        part = self.parsed().get_body(("plain",))
        return "" if part is None else str(part.get_content())


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        del server, session, rcpt_options
        reply = self.server.refuse.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        del server, session
        self.server.messages.append(
            ReceivedMessage(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """A running aiosmtpd server (see the module docstring).

    Attributes:
        host: ``127.0.0.1``.
        port: Its port.
        messages: What it accepted, in order.
        refuse: Recipient → reply to give at RCPT (``"451 4.3.0 try later"``).
        ca_file: The CA certificate to trust, when STARTTLS is on.
    """

    def __init__(
        self,
        *,
        starttls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - optional extra

        self.host = "127.0.0.1"
        self.port = _free_port()
        self.messages: list[ReceivedMessage] = []
        self.refuse: dict[str, str] = {}
        self.ca_file: Path | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="ecampus-smtp-")
        kwargs: dict[str, Any] = {}
        if starttls:
            context, self.ca_file = _tls_context(Path(self._tmp.name))
            kwargs.update(tls_context=context, require_starttls=True)
        if auth is not None:
            user, secret = auth

            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
                from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

                del server, session, envelope, mechanism
                ok = (
                    isinstance(data, LoginPassword)
                    and data.login.decode() == user
                    and data.password.decode() == secret
                )
                return AuthResult(success=ok)

            kwargs.update(authenticator=check, auth_required=True, auth_require_tls=starttls)
        self._controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10, **kwargs
        )
        self._controller.start()

    def settings(self, **overrides: Any) -> SmtpSettings:
        """Client settings for this server (plain SMTP unless STARTTLS is on)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "starttls" if self.ca_file else "none",
            "ca_file": self.ca_file,
            "timeout_seconds": 10,
        }
        values.update(overrides)
        return SmtpSettings(**values)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None  # type: ignore[assignment]
        self._tmp.cleanup()

    def to(self, address: str) -> list[ReceivedMessage]:
        """The accepted messages for ``address``."""
        return [m for m in self.messages if address in m.recipients]


def start_smtp_server(*, starttls: bool = False, auth: tuple[str, str] | None = None) -> SmtpServer:
    """Start a recording SMTP server; skip the test if aiosmtpd is missing."""
    try:
        import aiosmtpd  # noqa: F401, PLC0415 - probe the optional extra
    except ImportError:
        if os.environ.get(REQUIRE_MAIL_VARIABLE) == "1":
            pytest.fail(f"aiosmtpd is not installed, and {REQUIRE_MAIL_VARIABLE}=1", pytrace=False)
        pytest.skip("aiosmtpd is not installed (pip install 'ecampus-idm[testing]')")
    return SmtpServer(starttls=starttls, auth=auth)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A recording SMTP server on a free local port, stopped after the test."""
    server = start_smtp_server()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tls_context(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and a server context."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "smtp.crt"
    key_file = folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
