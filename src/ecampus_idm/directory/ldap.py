"""The ldap3 adapter: a real LDAP server behind the Directory port.

This is the only module of ecampus-idm that imports ldap3. It wraps ldap3's habits
(string options, ``False`` on failure, exceptions of its own) into the port's contract:

* the connection always runs with ``raise_exceptions=True`` and every ldap3 exception is
  translated into an :class:`~ecampus_idm.errors.IdmError` subclass, chained;
* TLS is on by default: StartTLS for ``ldap://``, implicit TLS for ``ldaps://``, with the
  certificate and host name checked by Python's own :mod:`ssl` (ldap3's fallback host name
  check is replaced); plain LDAP is allowed only on a loopback address, explicitly;
* values are read raw and decoded as UTF-8, so the types never change with settings;
* the bind password is held as a :class:`~pydantic.SecretStr` and handed to ldap3 only
  when binding; it never appears in an error, a repr or a log line.

:class:`ActiveDirectory` is the Active Directory flavour (TLS mandatory, pages of at most
1000, ``unicodePwd`` passwords, AD bind sub-codes as typed errors, preconditions checked
by a read); its pure helpers live in :mod:`ecampus_idm.directory.active_directory`.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import ssl
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from ecampus_idm.directory import _ber
from ecampus_idm.directory.active_directory import (
    bind_error,
    encode_unicode_pwd,
    password_error,
    wrong_old_password,
)
from ecampus_idm.directory.base import (
    AttributeInput,
    Entry,
    Modification,
    ModOp,
    Scope,
    TlsMode,
    as_values,
)
from ecampus_idm.directory.dn import parent_dn
from ecampus_idm.directory.filters import Filter, everything
from ecampus_idm.errors import (
    AttributeValueError,
    ConstraintViolationError,
    DirectoryBindError,
    DirectoryError,
    DirectoryOperationError,
    DirectoryUnavailableError,
    EntryAlreadyExistsError,
    EntryNotFoundError,
    InsufficientAccessError,
    InvalidCredentialsError,
    InvalidDnError,
    NotAllowedOnNonLeafError,
    PreconditionFailedError,
    SchemaViolationError,
)

with warnings.catch_warnings():
    # ldap3 2.9.1 imports pyasn1 names that pyasn1 0.6 deprecates (tagMap, typeMap): harmless
    # and not ours to fix, but it must not break users who run with -W error.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core import exceptions as ldap_exc

__all__ = ["AD_MAX_PAGE_SIZE", "ActiveDirectory", "LdapDirectory"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_SCOPES = {
    Scope.BASE: ldap3.BASE,
    Scope.ONELEVEL: ldap3.LEVEL,
    Scope.SUBTREE: ldap3.SUBTREE,
}
_MOD_OPS = {
    ModOp.ADD: ldap3.MODIFY_ADD,
    ModOp.DELETE: ldap3.MODIFY_DELETE,
    ModOp.REPLACE: ldap3.MODIFY_REPLACE,
}
_SCHEMA_CODES = {17, 18, 21, 64, 65, 67, 69}  # undefinedType ... objectClassModsProhibited
_UNAVAILABLE_CODES = {51, 52, 53, 80, 81}  # busy, unavailable, unwillingToPerform, other, down


class _CheckedTls(ldap3.Tls):  # type: ignore[misc] # ldap3 is untyped
    """ldap3's Tls with a proper SSLContext: CA and host name checked by :mod:`ssl`.

    ldap3 2.9 disables ``check_hostname`` and falls back to the deprecated
    ``ssl.match_hostname``; this context verifies the chain and the name (DNS or IP
    subjectAltName) during the handshake, with TLS 1.2 as the floor.
    """

    def __init__(self, ca_file: Path | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        self._context = context

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


class LdapDirectory:
    """A :class:`~ecampus_idm.directory.base.Directory` on a real LDAP server, via ldap3.

    The connection opens lazily on first use and re-opens after a network failure
    (an operation that failed is not retried: the caller decides). One instance may be
    shared by threads; operations are serialised on its connection.

    Args:
        url: ``ldap://host[:port]`` or ``ldaps://host[:port]``.
        bind_dn: The service account's DN.
        bind_password: The service account's password.
        tls: ``auto`` (StartTLS for ldap://, implicit TLS for ldaps://), ``starttls``,
            ``ldaps`` or ``none`` (refused unless the host is a loopback address).
        ca_file: PEM file of the CA that signed the server certificate; the system trust
            store when ``None``.
        timeout: Connect and receive timeout in seconds.
        page_size: Page size of searches (RFC 2696).

    Raises:
        DirectoryUnavailableError: If the URL or the TLS settings cannot work.
    """

    def __init__(
        self,
        url: str,
        bind_dn: str,
        bind_password: SecretStr,
        *,
        tls: TlsMode = "auto",
        ca_file: Path | None = None,
        timeout: float = 10.0,
        page_size: int = 500,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise DirectoryUnavailableError(
                _safe_url(url), "URL must be ldap://host or ldaps://host"
            )
        self._url = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self._host = parts.hostname
        self._port = parts.port or (636 if parts.scheme == "ldaps" else 389)
        mode = tls if tls != "auto" else ("ldaps" if parts.scheme == "ldaps" else "starttls")
        if (mode == "ldaps") != (parts.scheme == "ldaps"):
            raise DirectoryUnavailableError(self._url, f"tls={mode!r} does not fit the URL scheme")
        if mode == "none" and not _is_loopback(self._host):
            raise DirectoryUnavailableError(
                self._url, "plain LDAP would send the bind password in clear: use TLS"
            )
        if ca_file is not None and not ca_file.is_file():
            raise DirectoryUnavailableError(self._url, f"CA file {ca_file} does not exist")
        self._mode = mode
        self._ca_file = ca_file
        self._bind_dn = bind_dn
        self._bind_password = bind_password
        self._timeout = timeout
        self._page_size = page_size
        self._lock = threading.RLock()
        self._connection: Any = None
        self._message_id = 1_000_000  # raw requests; far above ldap3's own counter

    @property
    def url(self) -> str:
        """The server URL, without credentials."""
        return self._url

    def __repr__(self) -> str:
        return f"LdapDirectory({self._url!r}, bind_dn={self._bind_dn!r}, tls={self._mode!r})"

    # -- connection ----------------------------------------------------------------------

    def _server(self) -> Any:
        return ldap3.Server(
            self._host,
            port=self._port,
            use_ssl=self._mode == "ldaps",
            tls=None if self._mode == "none" else _CheckedTls(self._ca_file),
            get_info=ldap3.NONE,
            connect_timeout=self._timeout,
        )

    def _open(self, user: str, password: SecretStr) -> Any:
        """Open, secure and bind a new connection; translate every failure."""
        connection = ldap3.Connection(
            self._server(),
            user=user,
            password=password.get_secret_value(),
            client_strategy=ldap3.SYNC,
            auto_bind=ldap3.AUTO_BIND_NONE,
            raise_exceptions=True,
            receive_timeout=max(1, round(self._timeout)),  # ldap3 packs it as an integer
            auto_referrals=False,
            return_empty_attributes=False,
        )
        try:
            connection.open()
            if self._mode == "starttls":
                connection.start_tls()
            connection.bind()
        except ldap_exc.LDAPInvalidCredentialsResult as exc:
            _quietly_close(connection)
            raise self._refused(user, str(getattr(exc, "message", "") or "")) from exc
        except ldap_exc.LDAPException as exc:
            _quietly_close(connection)
            raise DirectoryUnavailableError(self._url, _describe(exc)) from exc
        except OSError as exc:
            _quietly_close(connection)
            raise DirectoryUnavailableError(self._url, type(exc).__name__) from exc
        return connection

    def _refused(self, user: str, diagnostic: str) -> InvalidCredentialsError:
        """The error of a bind refused with invalidCredentials (AD adds sub-codes)."""
        del diagnostic
        return InvalidCredentialsError(user)

    def _conn(self) -> Any:
        if self._connection is None:
            try:
                self._connection = self._open(self._bind_dn, self._bind_password)
            except InvalidCredentialsError as exc:
                raise DirectoryBindError(self._url, self._bind_dn, "invalid credentials") from exc
            log.debug("connected to %s as %s (%s)", self._url, self._bind_dn, self._mode)
        return self._connection

    def _run(self, dn: str | None, operation: Callable[[Any], _T]) -> _T:
        """Run ``operation`` on the shared connection, translating ldap3 failures."""
        with self._lock:
            connection = self._conn()
            try:
                return operation(connection)
            except DirectoryUnavailableError:
                self._drop()  # the raw paths found the connection gone: reopen next time
                raise
            except ldap_exc.LDAPOperationResult as exc:
                raise _translate_result(exc, dn, self._url) from exc
            except (
                ldap_exc.LDAPCommunicationError,
                ldap_exc.LDAPSessionTerminatedByServerError,
            ) as exc:
                self._drop()
                raise DirectoryUnavailableError(self._url, _describe(exc)) from exc
            except (ldap_exc.LDAPObjectClassError, ldap_exc.LDAPAttributeError) as exc:
                # ldap3's own client-side checks, before anything reaches the server.
                raise SchemaViolationError(dn, _describe(exc)) from exc
            except ldap_exc.LDAPException as exc:
                raise DirectoryOperationError(dn, _describe(exc)) from exc

    def _drop(self) -> None:
        if self._connection is not None:
            _quietly_close(self._connection)
            self._connection = None

    def close(self) -> None:
        """Unbind and close the connection (a later call re-opens one)."""
        with self._lock:
            self._drop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def check(self) -> None:
        """Connect and bind now, so that a bad configuration fails early.

        Raises:
            DirectoryUnavailableError: If the server cannot be reached, secured or bound.
        """
        with self._lock:
            self._conn()

    # -- reads ---------------------------------------------------------------------------

    def search(
        self,
        base: str,
        filter: Filter | None = None,
        *,
        scope: Scope = Scope.SUBTREE,
        attributes: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """Yield the matching entries, reading them in pages."""
        wanted = list(attributes) if attributes is not None else ["*"]
        filter_ber = _ber.encode_filter(filter or everything())
        size = page_size or self._page_size
        cookie = b""
        while True:
            read_page = functools.partial(
                self._raw_page,
                base=base,
                scope=scope.value,
                filter_ber=filter_ber,
                attributes=wanted,
                size=size,
                cookie=cookie,
            )
            page = self._run(base, read_page)
            yield from (Entry(dn, values) for dn, values in page.entries)
            cookie = page.cookie
            if not cookie:
                return

    def _raw_page(
        self,
        connection: Any,
        *,
        base: str,
        scope: str,
        filter_ber: bytes,
        attributes: list[str],
        size: int,
        cookie: bytes,
    ) -> _ber.SearchPage:
        """One page of a paged search, encoded and decoded by :mod:`._ber`.

        ldap3's decoding of search results costs several times the server's work; on the
        bound connection (under the lock, nothing else in flight) we send the request
        and read the responses ourselves.
        """
        self._message_id += 1
        message_id = self._message_id
        request = _ber.search_request(
            message_id,
            base=base,
            scope=scope,
            filter_ber=filter_ber,
            attributes=attributes,
            page_size=size,
            cookie=cookie,
        )
        stream = _Stream(connection.socket, self._url)
        stream.send(request)
        page = _ber.SearchPage([])
        while page.result is None:
            _ber.search_response(stream.message(), page)
        if page.result.code != 0:
            if page.result.code == 32:  # noqa: PLR2004 - noSuchObject: the base is missing
                raise EntryNotFoundError(base)
            raise _error_for(page.result.code, page.result.diagnostic, base, self._url)
        return page

    def get(self, dn: str, attributes: Iterable[str] | None = None) -> Entry | None:
        """Return the entry at ``dn`` or ``None``."""
        try:
            found = list(self.search(dn, scope=Scope.BASE, attributes=attributes))
        except EntryNotFoundError:
            return None
        return found[0] if found else None

    # -- writes --------------------------------------------------------------------------

    def add(self, dn: str, attributes: AttributeInput) -> None:
        """Create an entry."""
        payload = {name: list(as_values(values)) for name, values in attributes.items()}
        try:
            self._run(dn, lambda c: c.add(dn, attributes=payload))
        except EntryNotFoundError as exc:
            raise EntryNotFoundError(parent_dn(dn)) from exc
        log.debug("added %s", dn)

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]], *, window: int = 128
    ) -> Iterator[DirectoryError | None]:
        """Create many entries, pipelined on a dedicated connection.

        Requests are encoded by :mod:`ecampus_idm.directory._ber` (ldap3's pyasn1 path
        costs more than the server's work) and up to ``window`` of them are in flight at
        once, well under what slapd tolerates. Entries of one call must not depend on
        each other (a parent and its child): the server may process them in any order.

        Yields:
            One result per entry, in input order: ``None`` for success, or the
            :class:`~ecampus_idm.errors.DirectoryError` that entry got.

        Raises:
            DirectoryUnavailableError: If the server cannot be reached or goes away.
        """
        try:
            connection = self._open(self._bind_dn, self._bind_password)
        except InvalidCredentialsError as exc:
            raise DirectoryBindError(self._url, self._bind_dn, "invalid credentials") from exc
        try:
            yield from _Pipeline(connection.socket, self._url, max(self._timeout, 30.0)).run(
                entries, window
            )
        finally:
            _quietly_close(connection)

    def modify(
        self, dn: str, changes: Sequence[Modification], *, expect: Filter | None = None
    ) -> None:
        """Apply the changes atomically (one LDAP modify request)."""
        payload: dict[str, list[tuple[Any, list[str]]]] = {}
        for change in changes:
            payload.setdefault(change.attribute, []).append(
                (_MOD_OPS[change.op], list(change.values))
            )
        if payload:
            controls = _assertion(expect)
            self._run(dn, lambda c: c.modify(dn, payload, controls=controls))
            log.debug("modified %s (%s)", dn, ", ".join(payload))

    def rename(
        self,
        dn: str,
        new_rdn: str,
        new_parent: str | None = None,
        *,
        expect: Filter | None = None,
    ) -> str:
        """Rename and/or move an entry (modify DN with deleteoldrdn)."""
        target_parent = parent_dn(dn) if new_parent is None else new_parent
        controls = _assertion(expect)
        self._run(
            dn,
            lambda c: c.modify_dn(
                dn, new_rdn, delete_old_dn=True, new_superior=new_parent, controls=controls
            ),
        )
        target = f"{new_rdn},{target_parent}" if target_parent else new_rdn
        log.debug("renamed %s to %s", dn, target)
        return target

    def delete(self, dn: str, *, expect: Filter | None = None) -> None:
        """Delete a leaf entry."""
        controls = _assertion(expect)
        self._run(dn, lambda c: c.delete(dn, controls=controls))
        log.debug("deleted %s", dn)

    def set_password(
        self, dn: str, new_password: SecretStr, *, old_password: SecretStr | None = None
    ) -> None:
        """Change a password with the RFC 3062 extended operation."""
        secret = new_password.get_secret_value()
        if old_password is None:
            self._run(dn, lambda c: c.extend.standard.modify_password(dn, None, secret))
        else:
            own = self._open(dn, old_password)
            try:
                own.extend.standard.modify_password(None, old_password.get_secret_value(), secret)
            except ldap_exc.LDAPOperationResult as exc:
                raise _translate_result(exc, dn, self._url) from exc
            except ldap_exc.LDAPException as exc:
                raise DirectoryOperationError(dn, _describe(exc)) from exc
            finally:
                _quietly_close(own)
        log.info("password changed for %s", dn)

    def authenticate(self, dn: str, password: SecretStr) -> None:
        """Bind as ``dn`` on a separate connection, then close it."""
        if not password.get_secret_value():
            # An empty password is an unauthenticated bind (RFC 4513 5.1.2): never a success.
            raise InvalidCredentialsError(dn)
        _quietly_close(self._open(dn, password))


AD_MAX_PAGE_SIZE = 1000
"""Active Directory's default ``MaxPageSize``: a larger page is silently cut to it."""

_UNICODE_PWD = "unicodepwd"  # noqa: S105 - an attribute name, not a password


class ActiveDirectory(LdapDirectory):
    """An :class:`LdapDirectory` for Active Directory (and Samba AD).

    What differs from OpenLDAP:

    * TLS is mandatory: ``tls="none"`` is refused even on loopback (AD refuses simple
      binds in clear anyway, with a less helpful error);
    * pages are at most :data:`AD_MAX_PAGE_SIZE` entries (AD's ``MaxPageSize``);
    * ``unicodePwd`` values (an initial password in an add, a change) are sent encoded
      (quoted UTF-16-LE), and a refused password raises
      :class:`~ecampus_idm.directory.active_directory.PasswordRefusedError`;
    * :meth:`set_password` uses ``unicodePwd``: a *replace* by the service account for an
      administrative reset, a *delete old + add new* for a change by the user (checked
      against the old password and the domain's password policy);
    * a refused bind names its reason (must change 773, disabled 533, expired 532/701,
      locked 775) through the typed errors of
      :mod:`ecampus_idm.directory.active_directory`;
    * AD has no assertion control (RFC 4528): a write's ``expect`` precondition is checked
      by a read just before the write. A change made between that read and the write
      (milliseconds) is not detected; the plan's other safeguards still hold.
    * additions go one at a time (``add_many`` is sequential): AD's own cost per add
      (password hashing) dominates, so pipelining would not help.

    Args: as for :class:`LdapDirectory`; ``page_size`` above 1000 is lowered to 1000.

    Raises:
        DirectoryUnavailableError: If the URL or the TLS settings cannot work, or if
            ``tls`` is ``none``.
    """

    def __init__(
        self,
        url: str,
        bind_dn: str,
        bind_password: SecretStr,
        *,
        tls: TlsMode = "auto",
        ca_file: Path | None = None,
        timeout: float = 10.0,
        page_size: int = 500,
    ) -> None:
        if tls == "none":
            raise DirectoryUnavailableError(
                _safe_url(url),
                "Active Directory exige LDAPS ou StartTLS, jamais LDAP en clair / "
                "Active Directory requires LDAPS or StartTLS, never plain LDAP",
            )
        super().__init__(
            url,
            bind_dn,
            bind_password,
            tls=tls,
            ca_file=ca_file,
            timeout=timeout,
            page_size=min(page_size, AD_MAX_PAGE_SIZE),
        )

    def __repr__(self) -> str:
        return f"ActiveDirectory({self._url!r}, bind_dn={self._bind_dn!r}, tls={self._mode!r})"

    def _refused(self, user: str, diagnostic: str) -> InvalidCredentialsError:
        return bind_error(user, diagnostic)

    def search(
        self,
        base: str,
        filter: Filter | None = None,
        *,
        scope: Scope = Scope.SUBTREE,
        attributes: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """Yield the matching entries, in pages of at most 1000."""
        size = min(page_size or self._page_size, AD_MAX_PAGE_SIZE)
        return super().search(base, filter, scope=scope, attributes=attributes, page_size=size)

    def _require(self, dn: str, expect: Filter | None) -> None:
        """Check a write's precondition by reading the entry (AD has no RFC 4528)."""
        if expect is None:
            return
        matching = list(self.search(dn, expect, scope=Scope.BASE, attributes=["1.1"]))
        if not matching:
            raise PreconditionFailedError(dn)

    def add(self, dn: str, attributes: AttributeInput) -> None:
        """Create an entry; a ``unicodePwd`` value is sent encoded, empty attributes not."""
        payload = {
            name: _ad_values(name, values)
            for name, values in attributes.items()
            if as_values(values)
        }
        try:
            self._run(dn, lambda c: c.add(dn, attributes=payload))
        except EntryNotFoundError as exc:
            # AD answers noSuchObject for a missing member too: say which it is.
            parent = parent_dn(dn)
            has_members = "member" in {name.lower() for name in payload}
            if has_members and self.get(parent, ["1.1"]) is not None:
                raise ConstraintViolationError(
                    dn, "un membre du groupe n'existe pas / a group member does not exist"
                ) from exc
            raise EntryNotFoundError(parent) from exc
        except ConstraintViolationError as exc:
            raise password_error(dn, exc.detail) from exc
        log.debug("added %s", dn)

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]], *, window: int = 128
    ) -> Iterator[DirectoryError | None]:
        """Create many entries, one at a time (``window`` is ignored on AD).

        AD checks that every ``member`` of a group exists: entries with members (groups)
        are added after the others of the batch, so that a new group may list the new
        users of the same batch. Results still come in input order.
        """
        del window
        batch = list(entries)
        members = {"member"}
        later = [i for i, (_, a) in enumerate(batch) if members & {n.lower() for n in a}]
        deferred = set(later)
        order = [i for i in range(len(batch)) if i not in deferred] + later
        results: dict[int, DirectoryError | None] = {}
        for index in order:
            dn, attributes = batch[index]
            try:
                self.add(dn, attributes)
            except DirectoryUnavailableError:
                raise
            except DirectoryError as exc:
                results[index] = exc
            else:
                results[index] = None
        for index in range(len(batch)):
            yield results[index]

    def modify(
        self, dn: str, changes: Sequence[Modification], *, expect: Filter | None = None
    ) -> None:
        """Apply the changes (one modify request); ``unicodePwd`` values are encoded."""
        payload: dict[str, list[tuple[Any, list[str | bytes]]]] = {}
        for change in changes:
            payload.setdefault(change.attribute, []).append(
                (_MOD_OPS[change.op], _ad_values(change.attribute, change.values))
            )
        if not payload:
            return
        self._require(dn, expect)
        try:
            self._run(dn, lambda c: c.modify(dn, payload))
        except ConstraintViolationError as exc:
            if _UNICODE_PWD not in {name.lower() for name in payload}:
                raise
            raise password_error(dn, exc.detail) from exc
        log.debug("modified %s (%s)", dn, ", ".join(payload))

    def rename(
        self,
        dn: str,
        new_rdn: str,
        new_parent: str | None = None,
        *,
        expect: Filter | None = None,
    ) -> str:
        """Rename and/or move an entry, after checking ``expect``."""
        self._require(dn, expect)
        return super().rename(dn, new_rdn, new_parent)

    def delete(self, dn: str, *, expect: Filter | None = None) -> None:
        """Delete a leaf entry, after checking ``expect``."""
        self._require(dn, expect)
        super().delete(dn)

    def set_password(
        self, dn: str, new_password: SecretStr, *, old_password: SecretStr | None = None
    ) -> None:
        """Set ``unicodePwd``: replace (reset) or delete the old + add the new (change).

        Raises:
            EntryNotFoundError: If ``dn`` does not exist.
            InvalidCredentialsError: If ``old_password`` is wrong.
            PasswordRefusedError: If the domain's password policy refuses the password.
        """
        new = encode_unicode_pwd(new_password)
        changes: list[tuple[Any, list[bytes]]]
        if old_password is None:
            changes = [(ldap3.MODIFY_REPLACE, [new])]
        else:
            changes = [
                (ldap3.MODIFY_DELETE, [encode_unicode_pwd(old_password)]),
                (ldap3.MODIFY_ADD, [new]),
            ]
        try:
            self._run(dn, lambda c: c.modify(dn, {"unicodePwd": changes}))
        except ConstraintViolationError as exc:
            if old_password is not None and wrong_old_password(exc.detail):
                raise InvalidCredentialsError(dn) from exc
            raise password_error(dn, exc.detail) from exc
        except AttributeValueError as exc:  # noSuchAttribute: the old value is not it
            if old_password is None:
                raise
            raise InvalidCredentialsError(dn) from exc
        log.info("password changed for %s", dn)


def _ad_values(name: str, values: str | Sequence[str]) -> list[str | bytes]:
    """Attribute values for AD: ``unicodePwd`` encoded, everything else as given."""
    if name.lower() == _UNICODE_PWD:
        return [encode_unicode_pwd(SecretStr(v)) for v in as_values(values)]
    return list(as_values(values))


# RFC 4511 result codes -> the error a caller handles (dn, detail) -> error.
_BY_RESULT: dict[int, Callable[[str, str], DirectoryError]] = {
    16: AttributeValueError,  # noSuchAttribute
    19: ConstraintViolationError,  # constraintViolation
    20: AttributeValueError,  # attributeOrValueExists
    32: lambda dn, _: EntryNotFoundError(dn),  # noSuchObject
    34: lambda dn, detail: InvalidDnError(dn, 0, detail or "invalidDNSyntax"),
    49: lambda dn, _: InvalidCredentialsError(dn),  # invalidCredentials
    50: InsufficientAccessError,  # insufficientAccessRights
    66: lambda dn, _: NotAllowedOnNonLeafError(dn),  # notAllowedOnNonLeaf
    68: lambda dn, _: EntryAlreadyExistsError(dn),  # entryAlreadyExists
    122: lambda dn, _: PreconditionFailedError(dn),  # assertionFailed (RFC 4528)
    **dict.fromkeys(_SCHEMA_CODES, SchemaViolationError),
}


def _translate_result(exc: Any, dn: str | None, url: str) -> DirectoryError:
    code = getattr(exc, "result", None)
    description = str(getattr(exc, "description", "") or "")
    detail = str(getattr(exc, "message", "") or description)
    return _error_for(code if isinstance(code, int) else None, detail, dn, url)


def _error_for(code: int | None, detail: str, dn: str | None, url: str) -> DirectoryError:
    factory = _BY_RESULT.get(code) if code is not None else None
    if factory is not None:
        return factory(dn or "", detail)
    if code in _UNAVAILABLE_CODES:
        return DirectoryUnavailableError(url, f"{detail} (result {code})")
    return DirectoryOperationError(dn, detail, code)


class _Stream:
    """Whole LDAP messages over a (TLS) socket, for the raw request paths."""

    def __init__(self, sock: Any, url: str) -> None:
        self.sock = sock
        self.url = url
        self.buffer = bytearray()

    def send(self, payload: bytes) -> None:
        try:
            self.sock.sendall(payload)
        except OSError as exc:
            raise DirectoryUnavailableError(self.url, type(exc).__name__) from exc

    def message(self) -> bytes:
        try:
            while (message := _ber.read_message(self.buffer)) is None:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise DirectoryUnavailableError(self.url, "the server closed the connection")
                self.buffer += chunk
        except OSError as exc:
            raise DirectoryUnavailableError(self.url, type(exc).__name__) from exc
        except _ber.BerError as exc:
            raise DirectoryUnavailableError(self.url, f"undecodable response: {exc}") from exc
        return message


class _Pipeline:
    """Pipelined add requests on a bound socket; results matched by message id."""

    _FIRST_ID = 1_000  # well above the ids ldap3 used for StartTLS and bind

    def __init__(self, sock: Any, url: str, timeout: float) -> None:
        sock.settimeout(timeout)
        self.stream = _Stream(sock, url)
        self.url = url

    def run(
        self, entries: Iterable[tuple[str, AttributeInput]], window: int
    ) -> Iterator[DirectoryError | None]:
        source = iter(entries)
        in_flight: dict[int, tuple[int, str]] = {}  # message id -> (index, dn)
        done: dict[int, DirectoryError | None] = {}
        next_id, next_index, next_yield, exhausted = self._FIRST_ID, 0, 0, False
        while True:
            batch = []
            while not exhausted and len(in_flight) < window:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                dn, attributes = item
                values = [(name, as_values(raw)) for name, raw in attributes.items()]
                batch.append(_ber.add_request(next_id, dn, values))
                in_flight[next_id] = (next_index, dn)
                next_id += 1
                next_index += 1
            if batch:
                self.stream.send(b"".join(batch))
            if not in_flight:
                break
            low_water = 0 if exhausted else window // 2
            while len(in_flight) > low_water:
                result = self._result()
                slot = in_flight.pop(result.message_id, None)
                if slot is None or not result.is_add_response:
                    raise DirectoryUnavailableError(
                        self.url, result.diagnostic or "unexpected message from the server"
                    )
                index, dn = slot
                done[index] = self._outcome(result, dn)
            while next_yield in done:
                yield done.pop(next_yield)
                next_yield += 1

    def _result(self) -> _ber.LdapResult:
        message = self.stream.message()
        try:
            return _ber.result_of(message)
        except _ber.BerError as exc:
            raise DirectoryUnavailableError(self.url, f"undecodable response: {exc}") from exc

    def _outcome(self, result: _ber.LdapResult, dn: str) -> DirectoryError | None:
        if result.code == 0:
            return None
        if result.code == 32:  # noqa: PLR2004 - noSuchObject: the contract names the parent
            return EntryNotFoundError(parent_dn(dn))
        return _error_for(result.code, result.diagnostic, dn, self.url)


_ASSERTION_OID = "1.3.6.1.1.12"  # RFC 4528


def _assertion(expect: Filter | None) -> list[tuple[str, bool, bytes]] | None:
    """Return the RFC 4528 assertion control for ``expect`` (None when there is none)."""
    if expect is None:
        return None
    return [(_ASSERTION_OID, True, _ber.encode_filter(expect))]


def _describe(exc: BaseException) -> str:
    """A short reason for an ldap3 failure, without ldap3's object dumps."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _quietly_close(connection: Any) -> None:
    try:
        connection.unbind()
    except (ldap_exc.LDAPException, OSError):
        log.debug("ignored a failure while closing an LDAP connection")
    # After a failed TLS handshake ldap3 neither unbinds nor closes its socket.
    sock = getattr(connection, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" if parts.scheme else "<invalid URL>"
