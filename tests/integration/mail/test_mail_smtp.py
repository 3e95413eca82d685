"""SmtpTransport against a real SMTP server (aiosmtpd): STARTTLS, SMTPS, login, refusals, outage."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from ecampus_idm.mail.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportUnavailableError,
)
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.testing.smtp import SmtpServer, start_smtp_server

RAW = b"From: a@condorcet.be\r\nTo: b@example.be\r\nSubject: test\r\n\r\nhello\r\n"
LOGIN = ("ecampus", "Smtp-Canary-Pw-3")


@pytest.fixture
def tls_server() -> Iterator[SmtpServer]:
    """A server that requires STARTTLS and a login."""
    server = start_smtp_server(starttls=True, auth=LOGIN)
    yield server
    server.stop()


@pytest.fixture
def smtps_server() -> Iterator[SmtpServer]:
    """A server that speaks TLS from the first byte (SMTPS) and requires a login."""
    server = start_smtp_server(implicit_tls=True, auth=LOGIN)
    yield server
    server.stop()


def test_message_reaches_the_server(smtp_server: SmtpServer) -> None:
    """A message is accepted with its envelope."""
    transport = SmtpTransport(smtp_server.settings())
    transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()
    (received,) = smtp_server.messages
    assert (received.sender, received.recipients) == ("a@condorcet.be", ("b@example.be",))
    assert not received.tls


def test_one_connection_serves_many_messages(smtp_server: SmtpServer) -> None:
    """Several messages go over the kept connection."""
    transport = SmtpTransport(smtp_server.settings())
    for i in range(5):
        transport.send(RAW, sender="a@condorcet.be", recipients=[f"u{i}@example.be"])
    transport.close()
    assert len(smtp_server.messages) == 5


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_starttls_and_login(tls_server: SmtpServer) -> None:
    """STARTTLS with a verified certificate, then AUTH, then the message."""
    settings = tls_server.settings(username=LOGIN[0], password=SecretStr(LOGIN[1]))
    transport = SmtpTransport(settings)
    transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()
    assert len(tls_server.messages) == 1


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_smtps_and_login(smtps_server: SmtpServer) -> None:
    """security = "ssl": TLS from the first byte, the CA of ca_file trusted, then AUTH."""
    settings = smtps_server.settings(username=LOGIN[0], password=SecretStr(LOGIN[1]))
    assert settings.security == "ssl"
    transport = SmtpTransport(settings)
    assert transport.where.startswith("smtps://")
    transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()
    (received,) = smtps_server.messages
    assert received.tls


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_smtps_with_an_injected_tls_context(smtps_server: SmtpServer) -> None:
    """The transport's tls_context replaces the system CAs (a portal's own trust store)."""
    assert smtps_server.ca_file is not None
    context = ssl.create_default_context(cafile=str(smtps_server.ca_file))
    settings = smtps_server.settings(username=LOGIN[0], password=SecretStr(LOGIN[1]), ca_file=None)
    transport = SmtpTransport(settings, tls_context=context)
    transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()
    assert [m.tls for m in smtps_server.messages] == [True]


def test_smtps_with_an_untrusted_certificate_is_unavailable(smtps_server: SmtpServer) -> None:
    """Without the CA (system CAs only), the self-signed server is refused before the login."""
    settings = smtps_server.settings(
        username=LOGIN[0], password=SecretStr(LOGIN[1]), ca_file=None, timeout_seconds=2
    )
    with pytest.raises(TransportUnavailableError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        SmtpTransport(settings).send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    assert LOGIN[1] not in str(caught.value)
    assert smtps_server.messages == []


def test_plain_smtp_client_cannot_talk_to_an_smtps_server(smtps_server: SmtpServer) -> None:
    """The fixture really speaks TLS first: a plain client gets no SMTP greeting."""
    settings = smtps_server.settings(security="none", timeout_seconds=2)
    with pytest.raises(TransportUnavailableError):
        SmtpTransport(settings).send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    assert smtps_server.messages == []


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_starttls_message_is_marked_tls(tls_server: SmtpServer) -> None:
    """A message after STARTTLS is marked as received over TLS; a plain one is not."""
    settings = tls_server.settings(username=LOGIN[0], password=SecretStr(LOGIN[1]))
    transport = SmtpTransport(settings)
    transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()
    assert [m.tls for m in tls_server.messages] == [True]


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_refused_login_is_unavailable_without_the_password(tls_server: SmtpServer) -> None:
    """A wrong login makes the transport unavailable; the error never shows the password."""
    settings = tls_server.settings(
        username=LOGIN[0], password=SecretStr("Wrong-Canary-Pw"), timeout_seconds=2
    )
    with pytest.raises(TransportUnavailableError) as caught:
        SmtpTransport(settings).send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    assert "Wrong-Canary-Pw" not in str(caught.value)


def test_starttls_required_but_not_offered(smtp_server: SmtpServer) -> None:
    """A server without STARTTLS is refused when STARTTLS is required."""
    transport = SmtpTransport(smtp_server.settings(security="starttls"))
    with pytest.raises(TransportUnavailableError, match="STARTTLS"):
        transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("550 5.1.1 <b@example.be>: user unknown", PermanentDeliveryError),
        ("451 4.3.0 try again later", TemporaryDeliveryError),
    ],
    ids=["5xx", "4xx"],
)
def test_refusal_is_classified_and_masked(
    smtp_server: SmtpServer, reply: str, error: type[Exception]
) -> None:
    """5xx is permanent, 4xx temporary; the address is masked in the error."""
    smtp_server.refuse["b@example.be"] = reply
    transport = SmtpTransport(smtp_server.settings())
    with pytest.raises(error) as caught:
        transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    assert "b@example.be" not in str(caught.value)
    transport.send(RAW, sender="a@condorcet.be", recipients=["c@example.be"])
    transport.close()
    assert len(smtp_server.messages) == 1


def test_server_down_is_unavailable() -> None:
    """Nobody listening: the transport is unavailable."""
    server = start_smtp_server()
    settings = server.settings()
    server.stop()
    with pytest.raises(TransportUnavailableError):
        SmtpTransport(settings).send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
