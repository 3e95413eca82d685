"""The keyring: AES-GCM with key ids, rotation, no key material shown."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from ecampus_idm.crypto import CryptoError, DataKey, Keyring, UnknownKeyError, generate_key


def test_roundtrip_with_the_same_context() -> None:
    """What is sealed opens with the same associated data."""
    ring = Keyring.from_config([generate_key()])
    token = ring.encrypt(b"secret-Pw-1", aad=b"p1")
    assert b"secret-Pw-1" not in token
    assert ring.decrypt(token, aad=b"p1") == b"secret-Pw-1"


def test_other_context_is_refused() -> None:
    """A value copied to another row (other aad) does not open."""
    ring = Keyring.from_config([generate_key()])
    token = ring.encrypt(b"x", aad=b"p1")
    with pytest.raises(CryptoError):
        ring.decrypt(token, aad=b"p2")


def test_removed_key_is_named() -> None:
    """A value of a key no longer configured names that key id."""
    old = DataKey.parse(f"old:{generate_key()}")
    token = Keyring([old]).encrypt(b"x", aad=b"a")
    with pytest.raises(UnknownKeyError) as caught:
        Keyring.from_config([generate_key()]).decrypt(token, aad=b"a")
    assert caught.value.key_id == "old"


def test_newest_key_encrypts_and_rewrap_moves_to_it() -> None:
    """With two keys the last one seals; rewrap re-seals old values with it."""
    old, new = generate_key(), generate_key()
    token = Keyring.from_config([old]).encrypt(b"x", aad=b"a")
    both = Keyring.from_config([old, new])
    assert both.needs_rewrap(token)
    fresh = both.rewrap(token, aad=b"a")
    assert both.key_id_of(fresh) == both.current_id
    assert Keyring.from_config([new]).decrypt(fresh, aad=b"a") == b"x"


def test_repr_shows_ids_only() -> None:
    """Neither the keyring nor a key shows key material."""
    text = generate_key()
    key = DataKey.parse(SecretStr(text))
    assert text not in repr(Keyring([key])) + repr(key)


@pytest.mark.parametrize(
    "text",
    ["short", base64.b64encode(b"x" * 16).decode(), "id:!!!"],
    ids=["text", "16-bytes", "bad"],
)
def test_bad_key_text_is_refused_without_echo(text: str) -> None:
    """A malformed key is refused with a message that does not quote it."""
    with pytest.raises(ValueError, match="32 random bytes") as caught:
        DataKey.parse(text)
    assert text not in str(caught.value)


def test_derived_key_is_stable_per_purpose() -> None:
    """A derived key is the same for one secret and purpose, different for another purpose."""
    secret = SecretStr("a-pseudonym-key-of-some-length")
    a = Keyring([DataKey.derive(secret, purpose="one")])
    b = Keyring([DataKey.derive(secret, purpose="one")])
    c = Keyring([DataKey.derive(secret, purpose="two")])
    token = a.encrypt(b"x", aad=b"")
    assert b.decrypt(token, aad=b"") == b"x"
    with pytest.raises(CryptoError):
        c.decrypt(token, aad=b"")
