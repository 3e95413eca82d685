"""Personal e-mail addresses: normalisation, masking, receiving domain.

:func:`mask_email` is the only form of an address that events, reports and logs carry
(``j***@gmail.com``): support recognises the address without the timeline spelling it.
"""

from __future__ import annotations

__all__ = ["domain_of", "mask_email", "normalise_email"]


def normalise_email(address: str) -> str:
    """Return ``address`` trimmed, with its domain in lower case (the local part kept).

    Raises:
        ValueError: If it is not ``local@domain``.
    """
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        raise ValueError("not an e-mail address (expected local@domain)")
    return f"{local}@{domain.lower()}"


def mask_email(address: str | None) -> str:
    """Return ``j***@gmail.com`` for ``jean.dupont@gmail.com`` (``***`` if not an address)."""
    if not address:
        return "***"
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain.lower()}"


def domain_of(address: str) -> str:
    """Return the receiving domain of ``address``, in lower case."""
    return address.rpartition("@")[2].strip().lower()
