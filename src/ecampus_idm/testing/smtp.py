"""A real SMTP server for tests: aiosmtpd in a thread, recording what it receives.

:func:`start_smtp_server` starts an :class:`SmtpServer` on a free local port (about 2 ms);
the ``smtp_server`` fixture (registered by :mod:`ecampus_idm.testing.plugin`) gives one
per test. The server records every accepted message (:attr:`SmtpServer.messages`) and
can be told to refuse recipients with a given reply (``server.refuse[address] = "550 ..."``),
to require a login (``auth``), and to offer STARTTLS (``starttls``) or to speak TLS from the
first byte, as SMTPS on port 465 does (``implicit_tls``), with a throwaway self-signed
certificate (:attr:`SmtpServer.ca_file` is the file a client trusts). Each accepted message
says whether it came over TLS (:attr:`ReceivedMessage.tls`).

It fails on demand, for the fault tests (:class:`SmtpFaults`, set on ``server.faults``
and cleared by ``server.faults.clear()``; each fault lasts until cleared):

* ``server.down()`` closes the port (and every open connection), ``server.up()`` listens
  again on the same port, keeping what was received;
* ``faults.connect = "421 ..."`` greets with that reply instead of 220 and hangs up;
* ``faults.mail``, ``faults.rcpt``, ``faults.data`` answer MAIL FROM, every RCPT TO, or
  the end of DATA with the given reply (the message is not kept);
* ``faults.drop_in_data = n``: the next ``n`` messages, read the first line, then close
  the connection without answering (nothing kept);
* ``faults.drop_after_accept = n``: the next ``n`` messages, keep the whole message,
  then close the connection without answering 250 (the client cannot know it was
  accepted);
* ``server.on_accept`` is called with each accepted message *before* the 250 is sent
  (the crash tests kill the client there).

:meth:`SmtpServer.deliveries` counts the accepted messages per (Message-ID, recipient).

Without aiosmtpd (the ``testing`` or ``dev`` extra), the fixture skips, or fails when
``ECAMPUS_IDM_REQUIRE_MAIL=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import os
import socket
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from ecampus_idm.mail.settings import SmtpSettings

__all__ = [
    "REQUIRE_MAIL_VARIABLE",
    "ReceivedMessage",
    "SmtpFaults",
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
    tls: bool = False

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

    @property
    def message_id(self) -> str:
        """The ``Message-ID`` header (``""`` when there is none)."""
        found = email.message_from_bytes(self.raw, policy=email.policy.compat32)["Message-ID"]
        return "" if found is None else str(found).strip()


@dataclass
class SmtpFaults:
    """What the server does wrong, until :meth:`clear` (see the module docstring).

    Attributes:
        connect: Reply instead of the 220 greeting (``"421 4.3.2 ..."``), then hang up.
        mail: Reply to every MAIL FROM.
        rcpt: Reply to every RCPT TO (one address: ``SmtpServer.refuse``).
        data: Reply at the end of DATA; the message is not kept.
        drop_in_data: For this many messages, read one line, then close without
            answering.
        drop_after_accept: For this many messages, keep it, then close without
            answering.
    """

    connect: str | None = None
    mail: str | None = None
    rcpt: str | None = None
    data: str | None = None
    drop_in_data: int = 0
    drop_after_accept: int = 0

    def clear(self) -> None:
        """Behave again."""
        for f in fields(self):
            setattr(self, f.name, f.default)


def _smtp_class() -> type[Any]:
    """The SMTP protocol of aiosmtpd, taught the faults that its hooks cannot express."""
    from aiosmtpd.smtp import SMTP  # noqa: PLC0415 - optional extra

    class FaultySmtp(SMTP):
        def __init__(self, owner: SmtpServer, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.owner = owner

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.owner._live.add(transport)
            if transport.get_extra_info("ssl_object") is not None:  # implicit TLS (SMTPS)
                self._auth_require_tls = False  # the session is encrypted from the start

        def connection_lost(self, error: Exception | None) -> None:
            self.owner._live.discard(self.transport)
            super().connection_lost(error)

        async def _handle_client(self) -> None:
            greeting = self.owner.faults.connect
            if greeting is None:
                await super()._handle_client()
                return
            await self.push(greeting)
            if self.transport is not None:
                self.transport.close()

        async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
            envelope = self.envelope
            if self.owner.faults.drop_in_data <= 0 or envelope is None or not envelope.rcpt_tos:
                await super().smtp_DATA(arg)
                return
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # part of the message, then nothing
            self.owner.faults.drop_in_data -= 1
            self.owner.dropped += 1
            self.hang_up()

        def hang_up(self) -> None:
            """Close the connection at once, reading nothing more (as a crash would)."""
            if isinstance(self.transport, asyncio.Transport):
                self.transport.abort()
            if self._handler_coroutine is not None:
                self._handler_coroutine.cancel()

    return FaultySmtp


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        del server, session
        reply = self.server.faults.mail
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        del server, session, rcpt_options
        reply = self.server.refuse.get(address) or self.server.faults.rcpt
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        del session
        reply = self.server.faults.data
        if reply is not None:
            return reply
        transport = server.transport
        received = ReceivedMessage(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            bytes(envelope.content),
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
        )
        self.server.messages.append(received)
        if self.server.on_accept is not None:
            self.server.on_accept(received)
        if self.server.faults.drop_after_accept > 0:
            self.server.faults.drop_after_accept -= 1
            self.server.dropped += 1
            server.hang_up()  # kept, but the client never hears the 250
        return "250 Message accepted for delivery"


class SmtpServer:
    """A running aiosmtpd server (see the module docstring).

    Attributes:
        host: ``127.0.0.1``.
        port: Its port.
        messages: What it accepted, in order.
        refuse: Recipient → reply to give at RCPT (``"451 4.3.0 try later"``).
        faults: What it does wrong now (:class:`SmtpFaults`).
        on_accept: Called with each accepted message, before its 250 is sent.
        dropped: Connections it closed without answering (the ``drop_*`` faults).
        ca_file: The CA certificate to trust, when STARTTLS or implicit TLS is on.
        implicit_tls: Whether it speaks TLS from the first byte (SMTPS).

    Args:
        starttls: Offer STARTTLS, and require it before MAIL and AUTH.
        implicit_tls: Speak TLS from the first byte (SMTPS); not with ``starttls``.
        auth: ``(username, password)`` to require before MAIL.

    Raises:
        ValueError: If both ``starttls`` and ``implicit_tls`` are asked.
    """

    def __init__(
        self,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        if starttls and implicit_tls:
            raise ValueError("starttls or implicit_tls, not both")
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.messages: list[ReceivedMessage] = []
        self.refuse: dict[str, str] = {}
        self.faults = SmtpFaults()
        self.on_accept: Callable[[ReceivedMessage], None] | None = None
        self.dropped = 0
        self.ca_file: Path | None = None
        self.implicit_tls = implicit_tls
        self._live: set[Any] = set()
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="ecampus-smtp-")
        kwargs: dict[str, Any] = {}
        self._ssl_context: ssl.SSLContext | None = None
        if starttls:
            context, self.ca_file = _tls_context(Path(self._tmp.name))
            kwargs.update(tls_context=context, require_starttls=True)
        if implicit_tls:
            self._ssl_context, self.ca_file = _tls_context(Path(self._tmp.name))
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

            # Under implicit TLS, FaultySmtp.connection_made lifts auth_require_tls (which
            # aiosmtpd knows for STARTTLS only) once it sees the session is encrypted.
            kwargs.update(
                authenticator=check,
                auth_required=True,
                auth_require_tls=starttls or implicit_tls,
            )
        self._kwargs = kwargs
        self._controller: Any = None
        self.up()

    def up(self) -> None:
        """Listen (again) on :attr:`port`; what was received is kept (idempotent)."""
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - optional extra

        owner = self
        protocol = _smtp_class()

        class FaultyController(Controller):
            def factory(self) -> Any:
                return protocol(owner, self.handler, **self.SMTP_kwargs)

        with self._lock:
            if self._controller is not None:
                return
            connect, self.faults.connect = self.faults.connect, None  # the start's probe
            try:
                controller = FaultyController(
                    _Handler(self),
                    hostname=self.host,
                    port=self.port,
                    ready_timeout=10,
                    ssl_context=self._ssl_context,
                    **self._kwargs,
                )
                controller.start()
            finally:
                self.faults.connect = connect
            self._controller = controller

    def down(self) -> None:
        """Close the port and every open connection (idempotent); :meth:`up` reopens it."""
        with self._lock:
            controller, self._controller = self._controller, None
            if controller is None:
                return
            loop = controller.loop
            live = list(self._live)

            async def abort() -> None:
                for transport in live:
                    transport.abort()

            with contextlib.suppress(RuntimeError, TimeoutError):  # loop gone
                asyncio.run_coroutine_threadsafe(abort(), loop).result(timeout=5)
            controller.stop()
            self._live.clear()

    def settings(self, **overrides: Any) -> SmtpSettings:
        """Client settings for this server (``ssl``, ``starttls`` or plain, as it speaks)."""
        security = "ssl" if self.implicit_tls else "starttls" if self.ca_file else "none"
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": security,
            "ca_file": self.ca_file,
            "timeout_seconds": 10,
        }
        values.update(overrides)
        return SmtpSettings(**values)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        self.down()
        self._tmp.cleanup()

    def to(self, address: str) -> list[ReceivedMessage]:
        """The accepted messages for ``address``."""
        return [m for m in self.messages if address in m.recipients]

    def deliveries(self) -> Counter[tuple[str, str]]:
        """How many times each (Message-ID, recipient) was accepted (1 everywhere: once)."""
        return Counter(
            (message.message_id, recipient)
            for message in self.messages
            for recipient in message.recipients
        )


def start_smtp_server(
    *, starttls: bool = False, implicit_tls: bool = False, auth: tuple[str, str] | None = None
) -> SmtpServer:
    """Start a recording SMTP server; skip the test if aiosmtpd is missing.

    Args:
        starttls: Offer and require STARTTLS.
        implicit_tls: Speak TLS from the first byte (SMTPS).
        auth: ``(username, password)`` to require.
    """
    try:
        import aiosmtpd  # noqa: F401, PLC0415 - probe the optional extra
    except ImportError:
        if os.environ.get(REQUIRE_MAIL_VARIABLE) == "1":
            pytest.fail(f"aiosmtpd is not installed, and {REQUIRE_MAIL_VARIABLE}=1", pytrace=False)
        pytest.skip("aiosmtpd is not installed (pip install 'ecampus-idm[testing]')")
    return SmtpServer(starttls=starttls, implicit_tls=implicit_tls, auth=auth)


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
