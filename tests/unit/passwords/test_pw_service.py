"""Unit tests of the reset service on the in-memory store and directory."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pw_builders import (
    NEW_PASSWORD,
    OLD_PASSWORD,
    PEOPLE,
    RecordingCustody,
    RecordingMailer,
    add_account,
    secret,
)

from ecampus_idm.clock import FixedClock
from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.custody import PasswordCustody
from ecampus_idm.directory import Modification
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.errors import DirectoryUnavailableError, InvalidCredentialsError
from ecampus_idm.passwords import (
    ACCEPTED,
    InvalidAddressError,
    PasswordRejectedError,
    PasswordResetService,
    PasswordSettings,
    RateLimitSettings,
    ResetConfigError,
    ResetEvent,
    TokenExpiredError,
    TokenInvalidError,
)
from ecampus_idm.passwords.memory import MemoryResetRepository
from ecampus_idm.passwords.repository import NewToken
from ecampus_idm.passwords.tokens import TokenKeyring
from ecampus_idm.store.memory import MemoryStore

IP = "198.51.100.7"


def kinds(store: MemoryStore, person_id: str) -> list[str]:
    return [e.kind for e in store.events_for_person(person_id)]


def mailed_token(
    service: PasswordResetService, mailer: RecordingMailer, address: str = "parent@example.org"
) -> str:
    service.request_reset(address, IP)
    service.process_pending()
    return mailer.token()


# -- request -----------------------------------------------------------------------------


def test_request_answers_the_same_for_known_and_unknown(
    service: PasswordResetService, directory: MemoryDirectory
) -> None:
    """Known and unknown addresses get the very same answer."""
    add_account(directory, "jean")
    assert service.request_reset("parent@example.org", IP) is ACCEPTED
    assert service.request_reset("nobody@example.org", IP) is ACCEPTED


def test_request_does_not_look_the_address_up(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """The request only records: no mail before the worker runs."""
    add_account(directory, "jean")
    service.request_reset("parent@example.org", IP)
    assert mailer.mails == []
    assert service.repository.pending_count() == 1


def test_request_with_no_address_syntax_is_refused(service: PasswordResetService) -> None:
    """Text that is not an e-mail address gets a clear error."""
    with pytest.raises(InvalidAddressError) as caught:
        service.request_reset("not an address", IP)
    assert "valide" in caught.value.message_fr


def test_rate_limited_request_is_answered_the_same(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """Over the per-address limit the answer is unchanged but nothing is mailed."""
    add_account(directory, "jean")
    answers = {service.request_reset("parent@example.org", IP) for _ in range(5)}
    service.process_pending()
    assert answers == {ACCEPTED}
    assert len(mailer.mails) == 3


def test_rate_limit_is_audited_with_its_reason(service: PasswordResetService) -> None:
    """A limited request leaves a suppressed audit line naming the limit."""
    for _ in range(4):
        service.request_reset("someone@example.org", IP)
    reasons = [a.reason for a in service.repository.audit_records() if a.kind == "reset.suppressed"]
    assert reasons == ["rate_limit.address"]


def test_rate_limit_per_ip_counts_every_address(
    service: PasswordResetService, settings: PasswordSettings
) -> None:
    """Many addresses from one IP hit the per-IP limit."""
    for n in range(settings.rate_limits.per_ip + 1):
        service.request_reset(f"user{n}@example.org", IP)
    reasons = [a.reason for a in service.repository.audit_records() if a.kind == "reset.suppressed"]
    assert reasons == ["rate_limit.ip"]


def test_rate_limit_window_ends(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    clock: FixedClock,
) -> None:
    """After the window, the address may ask again."""
    add_account(directory, "jean")
    for _ in range(4):
        service.request_reset("parent@example.org", IP)
    service.process_pending()
    clock.advance(timedelta(hours=1))
    service.request_reset("parent@example.org", IP)
    service.process_pending()
    assert len(mailer.mails) == 4


def test_audit_keeps_no_address_in_clear(service: PasswordResetService) -> None:
    """The audit holds a keyed label, never the address."""
    service.request_reset("secret.person@example.org", IP)
    service.process_pending()
    lines = service.repository.audit_records()
    assert lines
    assert all("example.org" not in repr(line) and IP not in repr(line) for line in lines)


# -- worker ------------------------------------------------------------------------------


def test_worker_mails_the_account_with_username_and_link(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A known address gets one mail with the username and a link to the portal."""
    add_account(directory, "jean")
    service.request_reset("Parent@Example.org ", IP)
    report = service.process_pending()
    assert report.mailed == 1
    (mail,) = mailer.mails
    assert (mail.username, mail.to) == ("jean", "parent@example.org")
    assert mail.link.get_secret_value().startswith("https://portal.example.be/reset?token=")


def test_shared_address_gets_one_mail_per_account(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """Siblings sharing a parent's address each get their own mail and link."""
    add_account(directory, "jean")
    add_account(directory, "marie")
    service.request_reset("parent@example.org", IP)
    service.process_pending()
    assert sorted(m.username for m in mailer.mails) == ["jean", "marie"]
    assert len({m.link.get_secret_value() for m in mailer.mails}) == 2


def test_shared_address_is_capped(
    store: MemoryStore,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    clock: FixedClock,
) -> None:
    """Beyond the cap, accounts get no mail and a suppressed event."""
    settings = PasswordSettings(people_dn=PEOPLE, max_accounts_per_address=2)
    service = PasswordResetService.for_store(
        store,
        mailer=mailer,
        settings=settings,
        directory=directory,
        clock=clock,
        keyring=_keyring(),
    )
    for name in ("anna", "bert", "carl"):
        add_account(directory, name)
    service.request_reset("parent@example.org", IP)
    report = service.process_pending()
    assert (report.mailed, report.suppressed) == (2, {"cap": 1})
    assert "reset.suppressed" in kinds(store, "p-carl")


def _keyring() -> TokenKeyring:
    return TokenKeyring.generate()


def test_unknown_address_is_audited_without_person(
    service: PasswordResetService, mailer: RecordingMailer
) -> None:
    """An unknown address is audited as suppressed, no person, no mail."""
    service.request_reset("nobody@example.org", IP)
    service.process_pending()
    (line,) = [a for a in service.repository.audit_records() if a.kind == "reset.suppressed"]
    assert (line.reason, line.person_id) == ("no_account", None)
    assert mailer.mails == []


def test_disabled_account_gets_no_mail(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    store: MemoryStore,
) -> None:
    """A disabled account is skipped, with a suppressed event naming why."""
    add_account(directory, "jean", status="disabled")
    service.request_reset("parent@example.org", IP)
    service.process_pending()
    assert mailer.mails == []
    (event,) = [e for e in store.events_for_person("p-jean") if e.kind == "reset.suppressed"]
    assert event.data["reason"] == "disabled"


def test_per_account_limit_applies_in_the_worker(
    store: MemoryStore, directory: MemoryDirectory, mailer: RecordingMailer, clock: FixedClock
) -> None:
    """One account gets at most ``per_account`` mails per window."""
    settings = PasswordSettings(
        people_dn=PEOPLE, rate_limits=RateLimitSettings(per_address=10, per_account=3)
    )
    service = PasswordResetService.for_store(
        store,
        mailer=mailer,
        settings=settings,
        directory=directory,
        clock=clock,
        keyring=_keyring(),
    )
    add_account(directory, "jean")
    for n in range(4):
        service.request_reset("parent@example.org", f"198.51.100.{n}")
    report = service.process_pending()
    assert (report.mailed, report.suppressed) == (3, {"rate_limit.account": 1})


def test_worker_events_use_masked_address(
    service: PasswordResetService, directory: MemoryDirectory, store: MemoryStore
) -> None:
    """The person's timeline shows the address masked."""
    add_account(directory, "jean")
    service.request_reset("parent@example.org", IP)
    service.process_pending()
    mailed = [e for e in store.events_for_person("p-jean") if e.kind == "reset.mailed"]
    assert mailed[0].data["to"] == "p***@example.org"


def test_new_mail_supersedes_older_links(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A second request kills the first link."""
    add_account(directory, "jean")
    first = mailed_token(service, mailer)
    mailed_token(service, mailer)
    with pytest.raises(TokenInvalidError) as caught:
        service.peek(first)
    assert caught.value.reason == "revoked"


# -- peek --------------------------------------------------------------------------------


def test_peek_does_not_consume(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A link can be shown many times (mail scanners) and still redeemed."""
    add_account(directory, "jean")
    token = mailed_token(service, mailer)
    infos = [service.peek(token) for _ in range(3)]
    assert infos[0].username == "jean"
    assert infos[0].min_length == 15
    service.redeem(token, NEW_PASSWORD)


def test_peek_of_unknown_token_is_invalid(service: PasswordResetService) -> None:
    """A well-formed but unknown token is invalid."""
    with pytest.raises(TokenInvalidError) as caught:
        service.peek("A" * 43)
    assert caught.value.reason == "unknown"


@pytest.mark.parametrize("token", ["", "short", "A" * 42 + "!", "A" * 44])
def test_malformed_token_is_invalid(service: PasswordResetService, token: str) -> None:
    """Anything not shaped like a token is invalid, not an internal error."""
    with pytest.raises(TokenInvalidError) as caught:
        service.peek(token)
    assert caught.value.reason == "malformed"


def test_expired_token_says_when_it_was_issued(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    clock: FixedClock,
) -> None:
    """After 30 minutes the link is expired, and the error carries its issue time."""
    add_account(directory, "jean")
    issued = clock.now()
    token = mailed_token(service, mailer)
    clock.advance(timedelta(minutes=30))
    with pytest.raises(TokenExpiredError) as caught:
        service.peek(token)
    assert caught.value.issued_at == issued


def test_token_dies_when_the_password_changes_elsewhere(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A password change by another route kills the link."""
    dn = add_account(directory, "jean")
    token = mailed_token(service, mailer)
    directory.set_password(dn, secret("changed-by-the-helpdesk-today"))
    with pytest.raises(TokenInvalidError) as caught:
        service.peek(token)
    assert caught.value.reason == "changed"


def test_token_dies_when_the_personal_address_changes(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A new personal address kills the link sent to the old one."""
    dn = add_account(directory, "jean")
    token = mailed_token(service, mailer)
    directory.modify(dn, [Modification.replace("ecampusPersonalMail", "new@example.org")])
    with pytest.raises(TokenInvalidError) as caught:
        service.redeem(token, NEW_PASSWORD)
    assert caught.value.reason == "changed"


def test_token_of_a_disabled_account_is_invalid(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """An account disabled after the mail cannot be reset."""
    dn = add_account(directory, "jean")
    token = mailed_token(service, mailer)
    directory.modify(dn, [Modification.replace("ecampusAccountStatus", "disabled")])
    with pytest.raises(TokenInvalidError) as caught:
        service.peek(token)
    assert caught.value.reason == "disabled"


# -- redeem ------------------------------------------------------------------------------


def test_redeem_sets_the_new_password(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """After a reset the new password binds and the old one does not."""
    dn = add_account(directory, "jean")
    done = service.redeem(mailed_token(service, mailer), NEW_PASSWORD)
    assert done.username == "jean"
    directory.authenticate(dn, secret(NEW_PASSWORD))
    with pytest.raises(InvalidCredentialsError):
        directory.authenticate(dn, secret(OLD_PASSWORD))


def test_redeem_twice_is_refused(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A link works once."""
    add_account(directory, "jean")
    token = mailed_token(service, mailer)
    service.redeem(token, NEW_PASSWORD)
    with pytest.raises(TokenInvalidError) as caught:
        service.redeem(token, "une-autre-phrase-bien-longue")
    assert caught.value.reason == "used"


def test_weak_password_keeps_the_link_usable(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A refused password is explained in French and the link still works."""
    add_account(directory, "jean")
    token = mailed_token(service, mailer)
    with pytest.raises(PasswordRejectedError) as caught:
        service.redeem(token, "court")
    assert "au moins 15 caractères" in caught.value.message_fr
    service.redeem(token, NEW_PASSWORD)


def test_password_with_the_username_is_refused(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """The account's own names are context words."""
    add_account(directory, "jean")
    with pytest.raises(PasswordRejectedError) as caught:
        service.redeem(mailed_token(service, mailer), "jean-aime-les-longues-phrases")
    assert [p.code for p in caught.value.problems] == ["quality.personal"]


def test_successful_reset_revokes_other_links(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    store: MemoryStore,
) -> None:
    """Other live links of the account die when one is used."""
    add_account(directory, "jean")
    token = mailed_token(service, mailer)
    extra = service.repository.add_token(_copy_of_last_token(service, "p-jean", "e" * 64))
    done = service.redeem(token, NEW_PASSWORD)
    assert done.revoked == 1
    revoked = service.repository.get_token(extra.token_id)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert "reset.revoked" in kinds(store, "p-jean")


def _copy_of_last_token(service: PasswordResetService, person_id: str, digest: str) -> NewToken:
    record = service.repository.tokens_for(person_id)[-1]
    return NewToken(
        purpose=record.purpose,
        person_id=record.person_id,
        dn=record.dn,
        username=record.username,
        key_id=record.key_id,
        digest=digest,
        fingerprint=record.fingerprint,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
    )


def test_reset_records_the_agreed_events(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    store: MemoryStore,
) -> None:
    """The timeline shows request, mail, peek, change and completion."""
    add_account(directory, "jean")
    token = mailed_token(service, mailer)
    service.peek(token)
    service.redeem(token, NEW_PASSWORD)
    assert kinds(store, "p-jean") == [
        "reset.requested",
        "reset.mailed",
        "reset.peeked",
        "password.changed",
        "reset.completed",
        "custody.discarded",
    ]


def test_reset_discards_the_initial_password_custody(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    custody: RecordingCustody,
) -> None:
    """The secretariat no longer lists an initial password once the user chose theirs."""
    add_account(directory, "jean")
    service.redeem(mailed_token(service, mailer), NEW_PASSWORD)
    assert custody.discarded == [("p-jean", "password-reset")]


def test_after_reset_hook_is_told_who(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """``on_after_reset`` receives the person and username, never a secret."""
    seen: list[ResetEvent] = []
    service.hooks.on_after_reset(seen.append)
    add_account(directory, "jean")
    service.redeem(mailed_token(service, mailer), NEW_PASSWORD)
    assert [(e.step, e.person_id, e.username) for e in seen] == [("after_reset", "p-jean", "jean")]


def test_failing_hook_does_not_undo_the_reset(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A hook that raises is logged; the reset stands."""

    def broken(event: ResetEvent) -> None:
        raise RuntimeError(event.step)

    service.hooks.on_after_reset(broken)
    dn = add_account(directory, "jean")
    service.redeem(mailed_token(service, mailer), NEW_PASSWORD)
    directory.authenticate(dn, secret(NEW_PASSWORD))


def test_canary_token_and_password_never_reach_logs_or_events(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    store: MemoryStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither the token nor the new password appears in a log line or an event."""
    caplog.set_level(logging.DEBUG)
    add_account(directory, "jean")
    token = mailed_token(service, mailer)
    service.peek(token)
    with pytest.raises(PasswordRejectedError):
        service.redeem(token, "short-" + token[:8])
    service.redeem(token, NEW_PASSWORD)
    with pytest.raises(TokenInvalidError):
        service.redeem(token, NEW_PASSWORD)
    text = caplog.text + repr(store.events_for_person("p-jean"))
    text += repr(service.repository.audit_records()) + repr(service.repository.tokens_for("p-jean"))
    assert token not in text
    assert NEW_PASSWORD not in text
    assert caplog.records


def test_service_without_people_dn_or_lookup_is_refused(
    store: MemoryStore, mailer: RecordingMailer, directory: MemoryDirectory
) -> None:
    """The service needs somewhere to find accounts."""
    with pytest.raises(ResetConfigError, match="people_dn"):
        PasswordResetService(
            repository=MemoryResetRepository(),
            store=store,
            mailer=mailer,
            settings=PasswordSettings(token_keys=()),
            directory=directory,
            keyring=_keyring(),
        )


def test_service_without_token_key_is_refused(
    store: MemoryStore, mailer: RecordingMailer, directory: MemoryDirectory
) -> None:
    """No token key, no service: a clear configuration error."""
    with pytest.raises(ResetConfigError, match="token_keys"):
        PasswordResetService(
            repository=MemoryResetRepository(),
            store=store,
            mailer=mailer,
            settings=PasswordSettings(people_dn=PEOPLE),
            directory=directory,
        )


def test_directory_is_opened_lazily(
    store: MemoryStore, mailer: RecordingMailer, directory: MemoryDirectory, clock: FixedClock
) -> None:
    """A request opens no directory; the worker does, once."""
    opened: list[MemoryDirectory] = []

    def open_directory() -> MemoryDirectory:
        opened.append(directory)
        return directory

    service = PasswordResetService(
        repository=MemoryResetRepository(),
        store=store,
        mailer=mailer,
        settings=PasswordSettings(people_dn=PEOPLE),
        directory=open_directory,
        clock=clock,
        keyring=_keyring(),
    )
    service.request_reset("parent@example.org", IP)
    assert opened == []
    service.process_pending()
    service.process_pending()
    assert len(opened) == 1


class _Unreachable(MemoryDirectory):
    """A directory that cannot be reached for searches."""

    def search(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def, override]
        raise DirectoryUnavailableError("ldap://down", "connection refused")


def test_unreachable_directory_puts_requests_back(
    store: MemoryStore, mailer: RecordingMailer, clock: FixedClock
) -> None:
    """When the directory is down, the worker defers the requests instead of losing them."""
    service = PasswordResetService(
        repository=MemoryResetRepository(),
        store=store,
        mailer=mailer,
        settings=PasswordSettings(people_dn=PEOPLE),
        directory=_Unreachable([PEOPLE]),
        clock=clock,
        keyring=_keyring(),
    )
    service.request_reset("parent@example.org", IP)
    service.request_reset("other@example.org", IP)
    report = service.process_pending()
    assert (report.requests, report.deferred) == (0, 2)
    assert service.repository.pending_count() == 2


def test_reset_discards_the_real_custody(
    store: MemoryStore, directory: MemoryDirectory, mailer: RecordingMailer, clock: FixedClock
) -> None:
    """With the mail package's custody, the initial password is gone after a reset."""
    custody = PasswordCustody.for_store(store, Keyring.from_config([generate_key()]))
    custody.deposit("p-jean", "jean", secret(OLD_PASSWORD), issued_at=clock.now())
    service = PasswordResetService.for_store(
        store,
        mailer=mailer,
        settings=PasswordSettings(people_dn=PEOPLE),
        directory=directory,
        clock=clock,
        keyring=_keyring(),
        custody=custody,
    )
    add_account(directory, "jean")
    service.redeem(mailed_token(service, mailer), NEW_PASSWORD)
    assert custody.reveal("p-jean") is None
    status = custody.status("p-jean")
    assert status is not None
    assert status.discard_reason == "password-reset"


def test_services_on_one_memory_store_share_their_repository(
    store: MemoryStore, directory: MemoryDirectory, mailer: RecordingMailer, clock: FixedClock
) -> None:
    """A link mailed by one instance is redeemed by another on the same store."""
    keyring = _keyring()
    first, second = (
        PasswordResetService.for_store(
            store,
            mailer=mailer,
            settings=PasswordSettings(people_dn=PEOPLE),
            directory=directory,
            clock=clock,
            keyring=keyring,
        )
        for _ in range(2)
    )
    add_account(directory, "jean")
    second.redeem(mailed_token(first, mailer), NEW_PASSWORD)


def test_reprs_hide_the_link_and_the_address(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """A mail's or an account's repr shows neither the link nor the personal address."""
    dn = add_account(directory, "jean")
    token = mailed_token(service, mailer)
    account = service.accounts.account(dn)
    shown = repr(mailer.mails[0]) + repr(account) + repr(service.repository.tokens_for("p-jean"))
    assert token not in shown
    assert "parent@example.org" not in shown


class _ClosingDirectory(MemoryDirectory):
    """A memory directory that counts its closes."""

    closes = 0

    def close(self) -> None:
        self.closes += 1


def _service_on(
    directory: MemoryDirectory | object, store: MemoryStore, settings: PasswordSettings
) -> PasswordResetService:
    return PasswordResetService(
        repository=MemoryResetRepository(),
        store=store,
        mailer=RecordingMailer(),
        settings=settings,
        directory=directory,  # type: ignore[arg-type]
        keyring=TokenKeyring.generate(),
    )


def test_close_closes_the_directory_the_service_opened_and_reopens_on_demand(
    store: MemoryStore, settings: PasswordSettings
) -> None:
    """Opened from a function: closed by close(), and a later use opens a new one."""
    opened: list[_ClosingDirectory] = []

    def open_directory() -> _ClosingDirectory:
        opened.append(_ClosingDirectory())
        return opened[-1]

    service = _service_on(open_directory, store, settings)
    service.close()
    assert opened == []  # never used, never opened
    with service:
        assert service.directory is opened[0]
    assert opened[0].closes == 1
    assert service.directory is opened[1]


def test_close_leaves_a_directory_handed_over_open(
    store: MemoryStore, settings: PasswordSettings
) -> None:
    """A directory given open belongs to the caller."""
    directory = _ClosingDirectory()
    with _service_on(directory, store, settings) as service:
        assert service.directory is directory
    assert directory.closes == 0
