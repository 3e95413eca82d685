"""SMTP submission: the only module of ecampus-idm that talks SMTP (smtplib).

:class:`SmtpTransport` keeps one connection open across messages (a flush of thousands
of mails must not reconnect for each), secured by STARTTLS (refused if the server does
not offer it) or SMTPS, with AUTH when a login is configured; the server certificate is
verified. Replies are translated: 4xx → :class:`TemporaryDeliveryError`, 5xx →
:class:`PermanentDeliveryError`, connection or login problems and 421 (the server closing
the channel, whatever the command) → :class:`TransportUnavailableError`; no smtplib
exception leaves this module. The SMTP password is a :class:`~pydantic.SecretStr`, read
on the one line that logs in.

A connection lost before the server's answer to a message (a kept connection timed out,
or dropped during DATA) is retried once at once on a new connection. The outcome of the
first try is unknown: if the server had kept the message without our hearing its 250,
the retry sends it twice (the at-least-once window of SMTP, one duplicate per such
drop); otherwise it delivers it. Lost again, the message is a temporary failure (retried
later with backoff) and the flush goes on; a server that cannot be reached at all is
unavailable.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Sequence

from ecampus_idm.mail.address import mask_email
from ecampus_idm.mail.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportUnavailableError,
)
from ecampus_idm.mail.settings import SmtpSettings

__all__ = ["SmtpTransport"]

_PERMANENT = 500
_TEMPORARY = 400
_CLOSING = 421  # "service not available, closing transmission channel" (RFC 5321)


class SmtpTransport:
    """Submits messages to an SMTP server.

    Args:
        settings: Server, port, security, login.
        tls_context: The TLS context (default: system CAs, or ``settings.ca_file``).
    """

    def __init__(
        self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.settings = settings
        self._tls = tls_context
        self._client: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        return f"SmtpTransport({self.where!r})"

    @property
    def where(self) -> str:
        """``smtp://host:port`` (no login)."""
        scheme = "smtps" if self.settings.security == "ssl" else "smtp"
        return f"{scheme}://{self.settings.host}:{self.settings.port}"

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            ca = self.settings.ca_file
            self._tls = ssl.create_default_context(cafile=str(ca) if ca else None)
        return self._tls

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                client = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    local_hostname=s.local_hostname,
                    timeout=s.timeout_seconds,
                    context=self._context(),
                )
            else:
                client = smtplib.SMTP(
                    s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout_seconds
                )
            client.ehlo()
            if s.security == "starttls":
                if not client.has_extn("starttls"):
                    raise TransportUnavailableError(  # noqa: TRY301 - closes the socket below
                        self.where, "the server offers no STARTTLS"
                    )
                client.starttls(context=self._context())
                client.ehlo()
            if s.username is not None:
                secret = s.password.get_secret_value() if s.password is not None else ""
                client.login(s.username, secret)
        except BaseException:
            if client is not None:
                with contextlib.suppress(OSError):
                    client.close()
            raise
        return client

    def _connect(self) -> smtplib.SMTP:
        try:
            return self._open()
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportUnavailableError(
                self.where, f"login refused ({exc.smtp_code})"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise TransportUnavailableError(self.where, "the server offers no AUTH") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise TransportUnavailableError(self.where, _describe(exc)) from None

    def send(self, raw: bytes, *, sender: str, recipients: Sequence[str]) -> None:
        """Submit one message; reconnect once if the connection was lost (module docstring)."""
        for attempt in (1, 2):
            if self._client is None:
                self._client = self._connect()
            try:
                self._client.sendmail(sender, list(recipients), raw)
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if attempt == 2:  # noqa: PLR2004 - the retry after a reconnection
                    raise TemporaryDeliveryError(
                        "connection lost twice before the server's answer (outcome unknown)"
                    ) from None
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()), (550, b"refused"))
                if code == _CLOSING:
                    self._drop()
                    raise TransportUnavailableError(
                        self.where, _reply_text(code, reply, recipients)
                    ) from None
                raise _refusal(code, reply, recipients) from None
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == _CLOSING:
                    self._drop()
                    raise TransportUnavailableError(
                        self.where, _reply_text(exc.smtp_code, exc.smtp_error, recipients)
                    ) from None
                self._reset()
                raise _refusal(exc.smtp_code, exc.smtp_error, recipients) from None
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                raise TransportUnavailableError(self.where, _describe(exc)) from None
            return

    def _reset(self) -> None:
        try:
            if self._client is not None:
                self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        """Say QUIT and close the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):  # a refused greeting (421...)
        return _reply_text(exc.smtp_code, exc.smtp_error, ())
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _text(reply: bytes | str, recipients: Sequence[str]) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    for address in recipients:  # the server often quotes the address: mask it
        text = text.replace(address, mask_email(address))
    return " ".join(text.split())[:300]


def _reply_text(code: int, reply: bytes | str, recipients: Sequence[str]) -> str:
    return f"{code} {_text(reply, recipients)}"


def _refusal(
    code: int, reply: bytes | str, recipients: Sequence[str]
) -> TemporaryDeliveryError | PermanentDeliveryError:
    text = _text(reply, recipients)
    if code >= _PERMANENT:
        return PermanentDeliveryError(text, code)
    if code >= _TEMPORARY:
        return TemporaryDeliveryError(text, code)
    return TemporaryDeliveryError(f"unexpected reply: {text}", code)
