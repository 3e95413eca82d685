"""The "Mot de passe oublié" service the portal imports: request, worker, peek, redeem.

The flow:

1. :meth:`PasswordResetService.request_reset` (the form's POST) validates the address's
   syntax, counts the rate limits, and records a pending request holding the address
   sealed. It never looks the address up, so it answers the same thing, through the same
   code path, whatever the address: known, unknown, disabled, or rate-limited.
2. :meth:`PasswordResetService.process_pending` (the worker, out of the request path:
   ``ecampus-idm passwords process`` or a portal background task) looks each address up,
   skips disabled accounts and accounts over their limit, makes one token per account
   (capped) and hands one mail per account, with its own link and the username, to the
   :class:`~ecampus_idm.passwords.base.ResetMailer`.
3. :meth:`PasswordResetService.peek` (the page load) checks a token without consuming it:
   mail scanners open links too.
4. :meth:`PasswordResetService.redeem` (the page's POST) checks the new password, consumes
   the token atomically (exactly one success, whatever the concurrency), writes the
   password with the directory's password-modify operation, revokes the account's other
   tokens, discards the initial-password custody, and fires ``on_after_reset``.

A token dies when the account's password or personal address changes by any other route
(``ldappasswd``, the nightly sync): its fingerprint no longer matches the entry.

Every step is audited: per person in the store's events (``reset.*``, ``password.changed``),
and per request in the repository's audit (requests for unknown addresses have no person).
No token, link, password or clear address is ever logged or stored.

Importing this module loads no LDAP client and no sync engine.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from email_validator import EmailNotValidError, validate_email
from pydantic import SecretStr

from ecampus_idm.clock import Clock, SystemClock
from ecampus_idm.directory.base import Directory, Modification
from ecampus_idm.directory.filters import eq
from ecampus_idm.errors import (
    AttributeValueError,
    ConstraintViolationError,
    DirectoryError,
    DirectoryUnavailableError,
    IdmError,
    SchemaViolationError,
)
from ecampus_idm.mail.address import mask_email
from ecampus_idm.passwords.base import (
    AccountLookup,
    CustodyDiscarder,
    DirectoryAccountLookup,
    ResetAccount,
    ResetMail,
    ResetMailer,
    normalise_address,
)
from ecampus_idm.passwords.client import ClientAddress, parse_client_ip
from ecampus_idm.passwords.errors import (
    InvalidAddressError,
    PasswordWriteError,
    ResetConfigError,
    TokenExpiredError,
    TokenInvalidError,
)
from ecampus_idm.passwords.hooks import Hooks, ResetEvent
from ecampus_idm.passwords.quality import (
    DirectoryPolicy,
    QualityResult,
    check_user_password,
    read_directory_policy,
    translate_directory_refusal,
)
from ecampus_idm.passwords.ratelimit import RateLimiter
from ecampus_idm.passwords.repository import NewToken, PendingRequest, ResetRepository
from ecampus_idm.passwords.settings import PasswordSettings
from ecampus_idm.passwords.tokens import (
    PURPOSE_ACTIVATION,
    PURPOSE_RESET,
    TokenKeyring,
    TokenRecord,
    new_token,
    parse_token,
)
from ecampus_idm.store.base import JsonValue, Store

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ACCEPTED",
    "PasswordResetService",
    "ProcessReport",
    "RequestAccepted",
    "ResetDone",
    "TokenInfo",
    "mask_email",
    "repository_for",
]

log = logging.getLogger(__name__)

_SEAL_CONTEXT = "reset-request"
_IPV6_PREFIX = 64  # one client usually holds a whole /64


@dataclass(frozen=True)
class RequestAccepted:
    """The one answer to every reset request (it says nothing of the address)."""

    message_fr: str = (
        "Si cette adresse correspond à un compte eCampus, un courriel vient d'y être envoyé "
        "avec un lien pour choisir un nouveau mot de passe. Pensez à vérifier vos indésirables."
    )
    message_en: str = (
        "If this address belongs to an eCampus account, an e-mail has been sent to it with a "
        "link to choose a new password. Remember to check your spam folder."
    )


ACCEPTED = RequestAccepted()


@dataclass(frozen=True)
class TokenInfo:
    """What the reset page may show once a link checks out.

    Attributes:
        username: The account's login.
        display_name: The owner's name.
        issued_at: When the link was made.
        expires_at: When it stops working.
        min_length: The length floor that will apply.
        max_length: The length ceiling that will apply.
    """

    username: str
    display_name: str
    issued_at: datetime
    expires_at: datetime
    min_length: int
    max_length: int


@dataclass(frozen=True)
class ResetDone:
    """A completed reset.

    Attributes:
        person_id: The owner.
        username: The login whose password changed.
        at: When.
        revoked: How many other tokens of the account were revoked.
    """

    person_id: str
    username: str
    at: datetime
    revoked: int = 0


@dataclass
class ProcessReport:
    """What a worker pass did.

    Attributes:
        requests: Requests handled.
        mailed: Reset mails handed to the mailer.
        suppressed: Reasons a request or account got no mail, with their counts.
        deferred: Requests put back because the directory could not be reached.
    """

    requests: int = 0
    mailed: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    deferred: int = 0

    def suppress(self, reason: str) -> None:
        """Count one suppression."""
        self.suppressed[reason] = self.suppressed.get(reason, 0) + 1

    def as_dict(self) -> dict[str, JsonValue]:
        """The report as JSON data."""
        return {
            "requests": self.requests,
            "mailed": self.mailed,
            "suppressed": dict(self.suppressed),
            "deferred": self.deferred,
        }


def _ip_key(ip: ClientAddress) -> str:
    if ip.version == 6:  # noqa: PLR2004 - IPv6 (parse_client_ip unmapped IPv4 already)
        return str(ipaddress.ip_network(f"{ip}/{_IPV6_PREFIX}", strict=False))
    return str(ip)


def _network_key(ip: ClientAddress, prefix: int) -> str | None:
    """The client's wider IPv6 network (``None`` for IPv4: one address is the client)."""
    if ip.version == 6:  # noqa: PLR2004
        return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    return None


class PasswordResetService:
    """The password-reset service; one per portal process (thread-safe).

    Args:
        repository: Requests, tokens, counters and audit (see ``for_store``).
        store: The state store, for the per-person events.
        mailer: Receives the reset mails.
        settings: The ``[passwords]`` settings.
        directory: The directory, or a function returning it (called once, on first use:
            the portal opens no LDAP connection until a reset needs one).
        accounts: How accounts are found; a :class:`DirectoryAccountLookup` on
            ``directory`` under ``settings.people_dn`` when not given.
        clock: Where "now" comes from.
        keyring: The token keys; built from ``settings.token_keys`` when not given.
        custody: The initial-password custody, discarded after a reset (optional).

    Raises:
        ResetConfigError: If there is no token key, or no way to find accounts.
    """

    def __init__(
        self,
        *,
        repository: ResetRepository,
        store: Store,
        mailer: ResetMailer,
        settings: PasswordSettings,
        directory: Directory | Callable[[], Directory],
        accounts: AccountLookup | None = None,
        clock: Clock | None = None,
        keyring: TokenKeyring | None = None,
        custody: CustodyDiscarder | None = None,
    ) -> None:
        self._repository = repository
        self._store = store
        self._mailer = mailer
        self._settings = settings
        self._clock = clock or SystemClock()
        self._keyring = keyring or TokenKeyring.from_base64(settings.token_keys)
        self._custody = custody
        self._directory_source = directory
        self._directory: Directory | None = directory if isinstance(directory, Directory) else None
        self._accounts = accounts
        self._given_accounts = accounts
        if accounts is None and settings.people_dn is None:
            raise ResetConfigError("set passwords.people_dn, or give the service an AccountLookup")
        self._lock = threading.Lock()
        self._policy: DirectoryPolicy | None = None
        self._policy_read = False
        self._limiter = RateLimiter(repository, settings.rate_limits, self._clock)
        self.hooks = Hooks()

    @classmethod
    def for_store(
        cls,
        store: Store,
        *,
        mailer: ResetMailer,
        settings: PasswordSettings,
        directory: Directory | Callable[[], Directory],
        accounts: AccountLookup | None = None,
        clock: Clock | None = None,
        keyring: TokenKeyring | None = None,
        custody: CustodyDiscarder | None = None,
    ) -> PasswordResetService:
        """Build the service with the repository matching ``store`` (SQL or memory).

        Args:
            store: A :class:`~ecampus_idm.store.sql.SqlStore` (its database must hold the
                reset tables, see :func:`~ecampus_idm.passwords.sql.migrate_v4`) or a
                :class:`~ecampus_idm.store.memory.MemoryStore` (one repository per store,
                shared by the services built on it).
            mailer: See the class.
            settings: See the class.
            directory: See the class.
            accounts: See the class.
            clock: See the class.
            keyring: See the class.
            custody: See the class.
        """
        return cls(
            repository=repository_for(store),
            store=store,
            mailer=mailer,
            settings=settings,
            directory=directory,
            accounts=accounts,
            clock=clock,
            keyring=keyring,
            custody=custody,
        )

    def __repr__(self) -> str:
        return f"PasswordResetService({self._repository!r})"

    def close(self) -> None:
        """Close the directory this service opened itself (from a function, on first use).

        A directory handed over already open belongs to the caller and stays open; the
        store is the caller's too. The service may be used again: it reopens on demand.
        """
        with self._lock:
            opened = self._directory
            if opened is None or opened is self._directory_source:
                return
            self._directory = None
            if self._accounts is not self._given_accounts:
                self._accounts = None  # it searched the closed directory
        opened.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def repository(self) -> ResetRepository:
        """The repository (for the worker command and support tools)."""
        return self._repository

    # -- collaborators -------------------------------------------------------------------

    @property
    def directory(self) -> Directory:
        """The directory, opened on first use."""
        with self._lock:
            if self._directory is None:
                source = self._directory_source
                self._directory = source if isinstance(source, Directory) else source()
            return self._directory

    @property
    def accounts(self) -> AccountLookup:
        """The account lookup."""
        if self._accounts is None:
            base_dn = self._settings.people_dn or ""
            lookup = DirectoryAccountLookup(
                self.directory, base_dn=base_dn, settings=self._settings
            )
            with self._lock:
                self._accounts = self._accounts or lookup
        return self._accounts

    def directory_policy(self) -> DirectoryPolicy | None:
        """The mirrored ppolicy (read once), or ``None`` when not configured or absent."""
        if not self._policy_read and self._settings.policy_dn is not None:
            policy = read_directory_policy(self.directory, self._settings.policy_dn)
            with self._lock:
                self._policy, self._policy_read = policy, True
        return self._policy

    # -- 1. the request ------------------------------------------------------------------

    def request_reset(self, email: str, client_ip: str | ClientAddress) -> RequestAccepted:
        """Record a reset request; the answer is the same whatever the address.

        Args:
            email: What the user typed.
            client_ip: The client's IP address (IPv6 counted per /64), an
                :mod:`ipaddress` address or its text; behind proxies, what
                :func:`~ecampus_idm.passwords.client.client_address` returns.

        Returns:
            :data:`ACCEPTED`, always.

        Raises:
            InvalidAddressError: If ``email`` is not an e-mail address at all (syntax only:
                this says nothing of any account).
            InvalidClientAddressError: If ``client_ip`` is not one IP address (a raw
                ``X-Forwarded-For`` list, a host name): a bug of the caller.
        """
        ip = parse_client_ip(client_ip)
        address = normalise_address(email)
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise InvalidAddressError(str(exc)) from None
        now = self._clock.now()
        address_label = self._keyring.label("address", address)
        ip_label = self._keyring.label("ip", _ip_key(ip))
        network = _network_key(ip, self._settings.rate_limits.ipv6_network_prefix)
        network_label = None if network is None else self._keyring.label("network", network)
        sealed = self._keyring.seal(address, context=_SEAL_CONTEXT)
        with self._store.transaction():  # one commit: counters, request and audit together
            reason = self._limiter.check_request(address_label, ip_label, network_label)
            request_id = self._repository.add_request(
                at=now,
                address_label=address_label,
                ip_label=ip_label,
                address_sealed=sealed if reason is None else None,
            )
            self._repository.add_audit(
                at=now,
                kind="reset.requested" if reason is None else "reset.suppressed",
                reason=reason,
                request_id=request_id,
                address_label=address_label,
                ip_label=ip_label,
            )
        log.info("reset request %d recorded%s", request_id, f" ({reason})" if reason else "")
        self.hooks.fire(ResetEvent("after_request", now))
        return ACCEPTED

    # -- 2. the worker -------------------------------------------------------------------

    def process_pending(self, *, limit: int | None = None) -> ProcessReport:
        """Look up pending requests and hand one mail per account to the mailer.

        Args:
            limit: At most this many requests (``settings.process_batch`` by default).

        Returns:
            What was done. If the directory cannot be reached, the request is put back
            (``deferred``) and the pass stops.
        """
        report = ProcessReport()
        now = self._clock.now()
        claimed = self._repository.claim_requests(
            at=now, limit=limit or self._settings.process_batch
        )
        for position, request in enumerate(claimed):
            try:
                self._process(request, report)
            except DirectoryUnavailableError as exc:
                log.warning("reset worker: directory unavailable, requests put back: %s", exc)
                for later in claimed[position:]:
                    self._requeue(later)
                    report.deferred += 1
                break
            except DirectoryError as exc:
                log.warning("reset worker: request %d failed: %s", request.request_id, exc)
                self._audit_request(request, "reset.suppressed", "directory_error")
                report.suppress("directory_error")
            report.requests += 1
        if claimed:
            log.info("reset worker: %s", report.as_dict())
        return report

    def _requeue(self, request: PendingRequest) -> None:
        self._repository.add_request(
            at=request.requested_at,
            address_label=request.address_label,
            ip_label=request.ip_label,
            address_sealed=request.address_sealed,
        )

    def _process(self, request: PendingRequest, report: ProcessReport) -> None:
        now = self._clock.now()
        sealed = request.address_sealed
        address = self._keyring.unseal(sealed, context=_SEAL_CONTEXT) if sealed else None
        if address is None:
            self._audit_request(request, "reset.suppressed", "unreadable")
            report.suppress("unreadable")
            return
        found = self.accounts.accounts_for_address(address)
        if not found:
            self._audit_request(request, "reset.suppressed", "no_account")
            report.suppress("no_account")
            return
        cap = self._settings.max_accounts_per_address
        masked = mask_email(address)
        for index, account in enumerate(found):
            self._event(
                account.person_id,
                "reset.requested",
                "Réinitialisation du mot de passe demandée depuis l'adresse personnelle.",
                "Password reset requested from the personal address.",
                {"to": masked, "request_id": request.request_id},
            )
            reason = self._mail_refusal(account, index, cap)
            if reason is not None:
                self._suppress(request, account, reason, masked)
                report.suppress(reason)
                continue
            if self._mail(request, account, address, masked, now):
                report.mailed += 1
            else:
                report.suppress("mail_refused")

    def _mail_refusal(self, account: ResetAccount, index: int, cap: int) -> str | None:
        if index >= cap:
            return "cap"
        if account.disabled:
            return "disabled"
        return self._limiter.check_account(account.person_id)

    def _suppress(
        self, request: PendingRequest, account: ResetAccount, reason: str, masked: str
    ) -> None:
        texts = {
            "cap": (
                "Trop de comptes partagent cette adresse : pas de courriel pour ce compte.",
                "Too many accounts share this address: no mail for this account.",
            ),
            "disabled": (
                "Compte désactivé : pas de courriel de réinitialisation.",
                "Disabled account: no reset mail.",
            ),
            "rate_limit.account": (
                "Trop de demandes pour ce compte : demande ignorée.",
                "Too many requests for this account: request ignored.",
            ),
        }
        fr, en = texts.get(reason, ("Demande ignorée.", "Request ignored."))
        self._event(account.person_id, "reset.suppressed", fr, en, {"reason": reason, "to": masked})
        self._audit_request(request, "reset.suppressed", reason, account.person_id)

    def _mail(
        self,
        request: PendingRequest,
        account: ResetAccount,
        address: str,
        masked: str,
        now: datetime,
    ) -> bool:
        superseded = self._repository.revoke_person(account.person_id, now, "superseded")
        if superseded:
            self._revoked_event(account.person_id, len(superseded), "superseded")
        expires_at = now + timedelta(seconds=self._settings.ttl_seconds())
        record, token = self._issue(account, PURPOSE_RESET, now, expires_at)
        mail = ResetMail(
            person_id=account.person_id,
            username=account.username,
            display_name=account.display_name,
            to=address,
            link=self._link(token),
            issued_at=now,
            expires_at=expires_at,
        )
        try:
            self._mailer.send_reset(mail)
        except IdmError as exc:
            self._repository.revoke(record.token_id, now, "mail-refused")
            log.warning("reset mail for %s refused: %s", account.person_id, type(exc).__name__)
            self._event(
                account.person_id,
                "reset.suppressed",
                "Le courriel de réinitialisation n'a pas pu être mis en file.",
                "The reset mail could not be queued.",
                {"reason": "mail_refused", "to": masked},
            )
            return False
        self._event(
            account.person_id,
            "reset.mailed",
            "Lien de réinitialisation envoyé à l'adresse personnelle.",
            "Reset link sent to the personal address.",
            {"to": masked, "expires_at": expires_at.isoformat(), "request_id": request.request_id},
        )
        self._audit_request(request, "reset.mailed", None, account.person_id)
        self.hooks.fire(
            ResetEvent("after_mail", now, account.person_id, account.username, account.dn)
        )
        return True

    def _issue(
        self, account: ResetAccount, purpose: str, now: datetime, expires_at: datetime
    ) -> tuple[TokenRecord, SecretStr]:
        """Store a new token's digest for ``account``; return its record and the token."""
        token = new_token()
        key_id, digest = self._keyring.token_digest(token, purpose)
        fingerprint = self._keyring.fingerprint(key_id, account.fingerprint_material())
        record = self._repository.add_token(
            NewToken(
                purpose=purpose,
                person_id=account.person_id,
                dn=account.dn,
                username=account.username,
                key_id=key_id,
                digest=digest,
                fingerprint=fingerprint or "",
                issued_at=now,
                expires_at=expires_at,
            )
        )
        return record, token

    def activation_link(self, *, person_id: str, username: str, purpose: str) -> str:
        """Issue an activation link for a new account (a welcome mail's ``LinkIssuer``).

        The welcome mail calls it at send time in the ``activation`` mode: the user
        chooses a first password through the same portal page as a reset (``peek`` and
        ``redeem`` accept the token), within ``activation_ttl_hours``.

        Args:
            person_id: The account's owner (checked against the directory entry).
            username: The login, searched in ``people_dn``.
            purpose: The mail's purpose (the link is the same for every purpose).

        Returns:
            The URL: it carries a secret token, never log it.

        Raises:
            TokenInvalidError: If the account is not (or no longer) in the directory.
        """
        del purpose
        account = self._account_by_username(username)
        if account is None or account.person_id != person_id:
            raise TokenInvalidError("gone")
        now = self._clock.now()
        expires_at = now + timedelta(hours=self._settings.activation_ttl_hours)
        _, token = self._issue(account, PURPOSE_ACTIVATION, now, expires_at)
        self._event(
            person_id,
            "activation.issued",
            "Lien d'activation créé pour le courriel de bienvenue.",
            "Activation link made for the welcome mail.",
            {"purpose": PURPOSE_ACTIVATION, "expires_at": expires_at.isoformat()},
        )
        return self._link(token).get_secret_value()

    def _account_by_username(self, username: str) -> ResetAccount | None:
        base = self._settings.people_dn
        if base is None:
            return None
        found = self.directory.search(
            base,
            eq(self._settings.username_attribute, username),
            attributes=[self._settings.username_attribute],
        )
        for entry in found:
            return self.accounts.account(entry.dn)
        return None

    def _link(self, token: SecretStr) -> SecretStr:
        url = self._settings.reset_url
        separator = "&" if "?" in url else "?"
        return SecretStr(f"{url}{separator}token={token.get_secret_value()}")

    # -- 3. peek -------------------------------------------------------------------------

    def peek(self, token: str | SecretStr) -> TokenInfo:
        """Check a link for the reset page, without consuming it.

        Raises:
            TokenInvalidError: Unknown, malformed, used, revoked, or the account changed.
            TokenExpiredError: Past its expiry (with the issue time).
        """
        record, account = self._validate(token)
        now = self._clock.now()
        self._repository.mark_peeked(record.token_id, now)
        self._event(
            record.person_id,
            "reset.peeked",
            "Page de réinitialisation ouverte avec un lien valable.",
            "Reset page opened with a valid link.",
            {},
        )
        self.hooks.fire(ResetEvent("after_peek", now, record.person_id, record.username, record.dn))
        quality, policy = self._settings.quality, self.directory_policy() or DirectoryPolicy()
        ceiling = quality.max_length
        return TokenInfo(
            username=record.username,
            display_name=account.display_name,
            issued_at=record.issued_at,
            expires_at=record.expires_at,
            min_length=max(quality.min_length_for(account.population), policy.min_length),
            max_length=min(ceiling, policy.max_length) if policy.max_length else ceiling,
        )

    # -- 4. redeem -----------------------------------------------------------------------

    def redeem(self, token: str | SecretStr, new_password: str | SecretStr) -> ResetDone:
        """Set a new password with a link: at most once per link, whatever the concurrency.

        Raises:
            TokenInvalidError: Unknown, malformed, used, revoked, or the account changed.
            TokenExpiredError: Past its expiry.
            PasswordRejectedError: The password breaks a rule (ours or the directory's);
                the link stays usable.
            PasswordWriteError: The directory could not be written; the link stays usable.
        """
        password = new_password if isinstance(new_password, SecretStr) else SecretStr(new_password)
        record, account = self._validate(token)
        result = self._quality(account, password)
        if not result.ok:
            self._rejected(record, "quality", {"rules": list(result.codes)})
            result.raise_if_rejected()
        now = self._clock.now()
        if not self._repository.consume(record.token_id, now):
            self._refuse(self._repository.get_token(record.token_id) or record, now)
        try:
            self.directory.set_password(account.dn, password)
        except ConstraintViolationError as exc:
            self._repository.release(record.token_id)
            rejection = translate_directory_refusal(exc)
            self._rejected(
                record, "directory_policy", {"rules": [p.code for p in rejection.problems]}
            )
            raise rejection from None
        except DirectoryError as exc:
            self._repository.release(record.token_id)
            log.warning("reset for %s: directory write failed: %s", record.person_id, exc)
            raise PasswordWriteError(
                f"the directory refused the write ({type(exc).__name__})"
            ) from None
        if self._settings.clear_must_change:
            self._clear_must_change(account.dn)
        if account.locked_out:
            self._unlock(record, account)
        return self._completed(record, now)

    def _unlock(self, record: TokenRecord, account: ResetAccount) -> None:
        """Lift a lockout after failed binds: the user just proved control of the mailbox.

        ppolicy clears its stamp and failure times itself on a password change (the
        removal then finds nothing); AD needs ``lockoutTime: 0``. A failure leaves the
        password set: the lockout then ends after the directory's lockout duration.
        """
        words = self._settings.vocabulary()
        try:
            self.directory.modify(account.dn, [words.unlock()])
        except AttributeValueError:
            pass  # already lifted by the password change (ppolicy)
        except DirectoryError as exc:
            log.warning(
                "reset for %s: lockout not lifted: %s", record.person_id, type(exc).__name__
            )
            return
        self._event(
            record.person_id,
            "account.unlocked",
            "Verrouillage après des essais manqués levé par la réinitialisation du mot de passe.",
            "Lockout after failed attempts lifted by the password reset.",
            {"route": "reset"},
        )

    def _clear_must_change(self, dn: str) -> None:
        """Clear "must change": the administrative write may set it, but the user chose this.

        OpenLDAP: remove ppolicy's ``pwdReset``. AD: ``pwdLastSet=-1`` (stamped "now" by
        the domain controller), so that an account still flagged ``pwdLastSet=0`` (its
        initial password) is not asked to change the password the user just chose.
        """
        if self._settings.directory_kind == "active_directory":
            change = Modification.replace("pwdLastSet", "-1")
        else:
            change = Modification.delete("pwdReset")
        try:
            self.directory.modify(dn, [change])
        except (AttributeValueError, SchemaViolationError):
            pass  # not set (no pwdMustChange), or a directory without ppolicy
        except DirectoryError as exc:
            log.warning("reset for %s: pwdReset not cleared: %s", dn, type(exc).__name__)

    def _completed(self, record: TokenRecord, now: datetime) -> ResetDone:
        revoked = self._repository.revoke_person(
            record.person_id, now, "reset-done", keep=record.token_id
        )
        self._event(
            record.person_id,
            "password.changed",
            "Mot de passe changé par l'utilisateur (mot de passe oublié).",
            "Password changed by the user (forgotten password).",
            {"route": "reset"},
        )
        self._event(
            record.person_id,
            "reset.completed",
            "Réinitialisation du mot de passe terminée.",
            "Password reset completed.",
            {"revoked_links": len(revoked)},
        )
        if revoked:
            self._revoked_event(record.person_id, len(revoked), "reset-done")
        if self._custody is not None:
            try:
                held = self._custody.discard(record.person_id, reason="password-reset", at=now)
            except IdmError as exc:
                log.warning("custody discard failed for %s: %s", record.person_id, exc)
            else:
                if held:
                    self._event(
                        record.person_id,
                        "custody.discarded",
                        "Mot de passe initial oublié : l'utilisateur a choisi le sien.",
                        "Initial password discarded: the user chose their own.",
                        {"reason": "password-reset"},
                    )
        log.info("password reset completed for %s", record.person_id)
        self.hooks.fire(
            ResetEvent("after_reset", now, record.person_id, record.username, record.dn)
        )
        return ResetDone(record.person_id, record.username, now, len(revoked))

    # -- checks --------------------------------------------------------------------------

    def check_password(
        self, token: str | SecretStr, new_password: str | SecretStr
    ) -> QualityResult:
        """Check a candidate password for the link's account (live form feedback); no write."""
        password = new_password if isinstance(new_password, SecretStr) else SecretStr(new_password)
        _, account = self._validate(token)
        return self._quality(account, password)

    def _quality(self, account: ResetAccount, password: SecretStr) -> QualityResult:
        policy = self.directory_policy()
        return check_user_password(
            password,
            settings=self._settings.quality,
            username=account.username,
            names=(account.display_name, account.given_name, account.family_name),
            schools=account.schools,
            population=account.population,
            policy=policy,
            history=account.history,
        )

    def _validate(self, token: str | SecretStr) -> tuple[TokenRecord, ResetAccount]:
        now = self._clock.now()
        try:
            secret = parse_token(token)
        except TokenInvalidError:
            self._repository.add_audit(at=now, kind="reset.rejected", reason="malformed")
            raise
        record = None
        for purpose in (PURPOSE_RESET, PURPOSE_ACTIVATION):
            record = self._repository.find_token(
                self._keyring.token_candidates(secret, purpose), purpose
            )
            if record is not None:
                break
        if record is None:
            self._repository.add_audit(at=now, kind="reset.rejected", reason="unknown")
            raise TokenInvalidError("unknown")
        if record.used_at is not None or record.revoked_at is not None or record.expires_at <= now:
            self._refuse(record, now)
        account = self.accounts.account(record.dn)
        reason = self._account_mismatch(record, account)
        if reason is not None or account is None:
            reason = reason or "gone"
            if self._repository.revoke(record.token_id, now, reason):
                self._revoked_event(record.person_id, 1, reason)
            self._rejected(record, reason)
            raise TokenInvalidError(reason)
        return record, account

    def _account_mismatch(self, record: TokenRecord, account: ResetAccount | None) -> str | None:
        """Why the account no longer matches the token (``None``: it still does)."""
        if account is None or account.person_id != record.person_id:
            return "gone"
        if account.disabled:
            return "disabled"
        current = self._keyring.fingerprint(record.key_id, account.fingerprint_material())
        if not hmac.compare_digest(current or "", record.fingerprint):
            return "changed"
        return None

    def _refuse(self, record: TokenRecord, now: datetime) -> None:
        if record.used_at is not None:
            reason = "used"
        elif record.revoked_at is not None:
            reason = "revoked"
        elif record.expires_at <= now:
            self._rejected(record, "expired")
            raise TokenExpiredError(record.issued_at, record.expires_at)
        else:
            reason = "unavailable"
        self._rejected(record, reason)
        raise TokenInvalidError(reason)

    # -- audit ---------------------------------------------------------------------------

    def _rejected(
        self, record: TokenRecord, reason: str, extra: Mapping[str, JsonValue] | None = None
    ) -> None:
        now = self._clock.now()
        self._repository.add_audit(
            at=now, kind="reset.rejected", reason=reason, person_id=record.person_id
        )
        self._event(
            record.person_id,
            "reset.rejected",
            f"Lien de réinitialisation refusé ({reason}).",
            f"Reset link refused ({reason}).",
            {"reason": reason, **(extra or {})},
        )
        self.hooks.fire(
            ResetEvent("after_reject", now, record.person_id, record.username, record.dn, reason)
        )

    def _revoked_event(self, person_id: str, count: int, reason: str) -> None:
        self._event(
            person_id,
            "reset.revoked",
            f"Liens de réinitialisation révoqués ({reason}).",
            f"Reset links revoked ({reason}).",
            {"reason": reason, "count": count},
        )

    def _audit_request(
        self, request: PendingRequest, kind: str, reason: str | None, person_id: str | None = None
    ) -> None:
        self._repository.add_audit(
            at=self._clock.now(),
            kind=kind,
            reason=reason,
            request_id=request.request_id,
            address_label=request.address_label,
            ip_label=request.ip_label,
            person_id=person_id,
        )

    def _event(
        self, person_id: str, kind: str, fr: str, en: str, data: Mapping[str, JsonValue]
    ) -> None:
        self._store.record_event(person_id, kind, reason_fr=fr, reason_en=en, data=data)

    def purge(self) -> int:
        """Delete requests, tokens, counters and audit older than the retention."""
        before = self._clock.now() - timedelta(days=self._settings.retention_days)
        return self._repository.purge(before)


_MEMORY_LOCK = threading.Lock()
_MEMORY_REPOSITORIES: weakref.WeakKeyDictionary[Store, ResetRepository] = (
    weakref.WeakKeyDictionary()
)


def repository_for(store: Store) -> ResetRepository:
    """Return the reset repository for ``store``: SQL on a SqlStore, memory otherwise."""
    # Only the module of the store's own kind is imported (the check the outbox and the
    # custody make): the portal's SQL path never loads the in-memory twins, nor a memory
    # store SQLAlchemy.
    if hasattr(store, "connection"):
        from ecampus_idm.passwords.sql import SqlResetRepository  # noqa: PLC0415 - SQLAlchemy
        from ecampus_idm.store.sql import SqlStore  # noqa: PLC0415

        if isinstance(store, SqlStore):
            return SqlResetRepository(store)
    else:
        from ecampus_idm.store.memory import MemoryStore  # noqa: PLC0415 - the twin

        if isinstance(store, MemoryStore):
            from ecampus_idm.passwords.memory import MemoryResetRepository  # noqa: PLC0415

            with _MEMORY_LOCK:  # one repository per memory store, shared by its services
                return _MEMORY_REPOSITORIES.setdefault(store, MemoryResetRepository())
    raise ResetConfigError(f"no reset repository for {type(store).__name__}")
