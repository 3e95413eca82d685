"""Addresses: masking and normalisation."""

from __future__ import annotations

import pytest

from ecampus_idm.mail.address import domain_of, mask_email, normalise_email


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jean.dupont@gmail.com", "j***@gmail.com"),
        ("J@Example.BE", "J***@example.be"),
        ("not-an-address", "***"),
        (None, "***"),
    ],
    ids=["usual", "short-upper", "invalid", "none"],
)
def test_mask_email(address: str | None, masked: str) -> None:
    """An address shows its first letter and its domain only."""
    assert mask_email(address) == masked


def test_normalise_lowercases_the_domain_only() -> None:
    """The local part is kept as is (it may be case-sensitive), the domain lowered."""
    assert normalise_email("  Jean.Dupont@GMAIL.com ") == "Jean.Dupont@gmail.com"


@pytest.mark.parametrize("bad", ["", "a@", "@b.be", "a b@c.be", "a@localhost"])
def test_normalise_refuses_non_addresses(bad: str) -> None:
    """Something that is not local@domain.tld is refused."""
    with pytest.raises(ValueError, match="not an e-mail address"):
        normalise_email(bad)


def test_domain_of() -> None:
    """The receiving domain is lower-case."""
    assert domain_of("x@Skynet.BE") == "skynet.be"
