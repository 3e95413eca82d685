"""Bounce reading over IMAP: the server's certificate is checked before the login."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.mail.bounces import imap_reports
from ecampus_idm.mail.errors import BounceSourceError
from ecampus_idm.testing.smtp import _tls_context

CANARY = "imap-canary-Vx93kq"


@dataclass
class _FakeImaps:
    """A TLS listener that greets like IMAP, refuses every LOGIN, records what it got."""

    port: int
    ca_file: Path
    received: list[bytes] = field(default_factory=list)


@pytest.fixture
def imaps(tmp_path: Path) -> Iterator[_FakeImaps]:
    """An IMAPS-looking server on 127.0.0.1 with a self-signed certificate."""
    context, cert_file = _tls_context(tmp_path)
    listener = socket.create_server(("127.0.0.1", 0))
    server = _FakeImaps(listener.getsockname()[1], cert_file)

    def serve() -> None:
        try:
            raw, _ = listener.accept()
        except OSError:
            return
        try:
            with context.wrap_socket(raw, server_side=True) as tls:
                tls.sendall(b"* OK IMAP4rev1 ready\r\n")
                while line := tls.recv(4096):
                    server.received.append(line)
                    tag = line.split(b" ", 1)[0]
                    if b"CAPABILITY" in line.upper():
                        tls.sendall(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
                    else:
                        tls.sendall(tag + b" NO refused\r\n")
        except (ssl.SSLError, OSError):
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server
    listener.close()
    thread.join(timeout=5)


def test_untrusted_server_never_gets_the_password(imaps: _FakeImaps) -> None:
    """A self-signed server is refused at the handshake: no LOGIN, no password, sent."""
    reports = imap_reports(
        "127.0.0.1", username="bounces", password=SecretStr(CANARY), port=imaps.port
    )
    with pytest.raises(BounceSourceError) as caught:
        list(reports)
    assert not any(b"LOGIN" in line.upper() for line in imaps.received)
    assert CANARY not in str(caught.value)


def test_trusted_server_gets_the_login(imaps: _FakeImaps) -> None:
    """With its CA given, the same server is trusted and receives the login (then refuses)."""
    reports = imap_reports(
        "127.0.0.1",
        username="bounces",
        password=SecretStr(CANARY),
        port=imaps.port,
        ca_file=imaps.ca_file,
    )
    with pytest.raises(BounceSourceError) as caught:
        list(reports)
    assert any(b"LOGIN" in line.upper() for line in imaps.received)
    assert CANARY not in str(caught.value)
