"""Unit tests of tokens, the keyring, sealing, settings and hashing schemes."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys

import pytest
from pydantic import SecretStr, ValidationError

from ecampus_idm.passwords import PasswordSettings, ResetConfigError, TokenInvalidError
from ecampus_idm.passwords.hashing import hash_ldap_password, verify_ldap_password
from ecampus_idm.passwords.tokens import TokenKeyring, new_token, parse_token


def key() -> bytes:
    return secrets.token_bytes(32)


def test_token_is_256_bits_url_safe() -> None:
    """A token decodes to 32 random bytes and holds only URL-safe characters."""
    token = new_token().get_secret_value()
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert parse_token(token).get_secret_value() == token


def test_tokens_differ() -> None:
    """Two tokens are never the same."""
    assert len({new_token().get_secret_value() for _ in range(100)}) == 100


def test_malformed_token_is_refused_without_echo() -> None:
    """A malformed token's error does not repeat it."""
    with pytest.raises(TokenInvalidError) as caught:
        parse_token("not-a-token-canary")
    assert "canary" not in str(caught.value)


def test_digest_depends_on_purpose() -> None:
    """The same token has another digest for another purpose."""
    ring = TokenKeyring([key()])
    token = new_token()
    assert ring.token_digest(token, "reset") != ring.token_digest(token, "activation")


def test_rotation_keeps_old_digests_findable() -> None:
    """After a new key is prepended, the old key's digest is still among the candidates."""
    old, new = key(), key()
    token = new_token()
    _, digest = TokenKeyring([old]).token_digest(token, "reset")
    rotated = TokenKeyring([new, old])
    assert digest in rotated.token_candidates(token, "reset")
    assert rotated.token_digest(token, "reset")[1] != digest


def test_keyring_repr_shows_no_key() -> None:
    """The repr names key ids only."""
    raw = key()
    ring = TokenKeyring([raw])
    assert base64.b64encode(raw).decode() not in repr(ring)
    assert raw.hex() not in repr(ring)


def test_short_key_is_refused() -> None:
    """A key under 256 bits is a configuration error."""
    with pytest.raises(ResetConfigError):
        TokenKeyring([b"short"])


def test_seal_round_trips_and_detects_tampering() -> None:
    """A sealed address opens with its keyring and context only, and is not in clear."""
    ring = TokenKeyring([key()])
    sealed = ring.seal("parent@example.org", context="reset-request")
    assert "parent" not in sealed
    assert ring.unseal(sealed, context="reset-request") == "parent@example.org"
    assert ring.unseal(sealed, context="other") is None
    assert TokenKeyring([key()]).unseal(sealed, context="reset-request") is None


def test_settings_refuse_a_short_key() -> None:
    """A configured key under 32 bytes is refused, by position, not echoed."""
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(ValidationError, match="token key #1") as caught:
        PasswordSettings(token_keys=(SecretStr(short),))
    assert short not in str(caught.value)


@pytest.mark.parametrize("minutes", [4, 241])
def test_settings_keep_expiry_in_a_safe_range(minutes: int) -> None:
    """The link lifetime is 5 minutes to 4 hours."""
    with pytest.raises(ValidationError, match="token_ttl_minutes"):
        PasswordSettings(token_ttl_minutes=minutes)


def test_settings_refuse_a_plain_http_portal() -> None:
    """A reset link never travels over plain HTTP (except to localhost)."""
    with pytest.raises(ValidationError, match="https"):
        PasswordSettings(reset_url="http://portal.example.be/reset")
    assert PasswordSettings(reset_url="http://localhost:8000/reset")


def test_argon2_hash_verifies() -> None:
    """An {ARGON2} hash is an Argon2id PHC string and verifies."""
    stored = hash_ldap_password(SecretStr("pässwörd-long"), "ARGON2")
    assert stored.startswith("{ARGON2}$argon2id$")
    assert verify_ldap_password(SecretStr("pässwörd-long"), stored)
    assert not verify_ldap_password(SecretStr("passwörd-long"), stored)


def test_malformed_argon2_value_is_false() -> None:
    """A broken {ARGON2} value never matches and never raises."""
    assert verify_ldap_password(SecretStr("x"), "{ARGON2}$argon2id$garbage") is False


def test_unknown_scheme_is_refused() -> None:
    """Only the schemes slapd verifies can be asked for."""
    with pytest.raises(ValueError, match="unsupported"):
        hash_ldap_password(SecretStr("x"), "MD5")  # type: ignore[arg-type]


PORTAL_MODULES = {
    "ecampus_idm",
    "ecampus_idm._lazy",
    "ecampus_idm.clock",
    "ecampus_idm.errors",
    "ecampus_idm.model",
    "ecampus_idm.directory",
    "ecampus_idm.directory.base",
    "ecampus_idm.directory.dn",
    "ecampus_idm.directory.filters",
    "ecampus_idm.directory.ppolicy",
    "ecampus_idm.mail",
    "ecampus_idm.mail.address",
    "ecampus_idm.mail.errors",
    "ecampus_idm.mail.settings",
    "ecampus_idm.store",
    "ecampus_idm.store._sensitive",
    "ecampus_idm.store.base",
    "ecampus_idm.store.errors",
    *(
        f"ecampus_idm.passwords{suffix}"
        for suffix in (
            "",
            ".base",
            ".client",
            ".errors",
            ".hashing",
            ".hooks",
            ".quality",
            ".ratelimit",
            ".repository",
            ".service",
            ".settings",
            ".tokens",
            ".vocabulary",
        )
    ),
}
"""Every ecampus_idm module that ``import ecampus_idm.passwords`` may load, and no other."""


def _modules_loaded_by(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_portal_import_loads_only_the_allowed_modules() -> None:
    """``import ecampus_idm.passwords`` loads the allowlist: no config, sources, policies, SQL.

    Before, it loaded 60 of the package's modules: the configuration and through it the
    connectors, the policies, the support settings and the in-memory twins.
    """
    loaded = _modules_loaded_by("from ecampus_idm.passwords import PasswordResetService")
    ours = {name for name in loaded if name.split(".")[0] == "ecampus_idm"}
    assert ours == PORTAL_MODULES
    foreign = {"ldap3", "pyasn1", "sqlalchemy", "alembic", "reportlab", "rich", "click"}
    assert not foreign & {name.split(".")[0] for name in loaded}


def test_lazy_names_still_resolve_in_a_fresh_interpreter() -> None:
    """The names made lazy are still importable from their packages, as before."""
    loaded = _modules_loaded_by(
        "from ecampus_idm import Settings, load_config; "
        "from ecampus_idm.store import MemoryStore; "
        "from ecampus_idm.directory import MemoryDirectory; "
        "import ecampus_idm; assert ecampus_idm.Settings is Settings"
    )
    assert {"ecampus_idm.config", "ecampus_idm.store.memory", "ecampus_idm.directory.memory"} <= (
        loaded
    )


def test_public_api_is_pinned() -> None:
    """The names the portal may import from ecampus_idm.passwords are exactly these."""
    from ecampus_idm import passwords  # noqa: PLC0415 - the module under test

    assert sorted(passwords.__all__) == [
        "ACCEPTED",
        "AccountLookup",
        "ClientAddress",
        "CustodyDiscarder",
        "DirectoryAccountLookup",
        "DirectoryPolicy",
        "Hooks",
        "InvalidAddressError",
        "InvalidClientAddressError",
        "PasswordError",
        "PasswordRejectedError",
        "PasswordResetService",
        "PasswordSettings",
        "PasswordWriteError",
        "ProcessReport",
        "QualityProblem",
        "QualityResult",
        "QualitySettings",
        "RateLimitSettings",
        "RequestAccepted",
        "ResetAccount",
        "ResetConfigError",
        "ResetDone",
        "ResetEvent",
        "ResetMail",
        "ResetMailer",
        "TokenError",
        "TokenExpiredError",
        "TokenInfo",
        "TokenInvalidError",
        "TokenKeyring",
        "check_user_password",
        "client_address",
        "hash_ldap_password",
        "parse_client_ip",
        "read_directory_policy",
        "verify_ldap_password",
    ]
    assert all(hasattr(passwords, name) for name in passwords.__all__)
