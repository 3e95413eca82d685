"""Just enough BER (X.690) to pipeline LDAP add requests and read their results.

ldap3 builds every request through pyasn1 objects, which costs about a millisecond of
Python per add: more than slapd needs to store the entry. For the bulk path
(:meth:`~ecampus_idm.directory.ldap.LdapDirectory.add_many`) we encode the AddRequest
ourselves — a handful of nested tag-length-value triples (RFC 4511, section 4.7) — and
decode only the LDAPResult of each response. Everything else still goes through ldap3.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["BerError", "LdapResult", "add_request", "read_message", "result_of"]

_SEQUENCE = 0x30
_SET = 0x31
_INTEGER = 0x02
_OCTETS = 0x04
_ENUMERATED = 0x0A
_ADD_REQUEST = 0x68  # [APPLICATION 8], constructed
_ADD_RESPONSE = 0x69  # [APPLICATION 9], constructed
_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24]: a notice of disconnection arrives as one


class BerError(ValueError):
    """Bytes that are not the BER we expect."""


def _length(size: int) -> bytes:
    if size < 0x80:  # noqa: PLR2004 - short form
        return bytes((size,))
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(encoded),)) + encoded


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _integer(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def add_request(message_id: int, dn: str, attributes: Iterable[tuple[str, Sequence[str]]]) -> bytes:
    """Return the BER of an LDAPMessage carrying an AddRequest."""
    encoded = b"".join(
        _tlv(
            _SEQUENCE,
            _tlv(_OCTETS, name.encode("utf-8"))
            + _tlv(_SET, b"".join(_tlv(_OCTETS, v.encode("utf-8")) for v in values)),
        )
        for name, values in attributes
    )
    body = _tlv(_OCTETS, dn.encode("utf-8")) + _tlv(_SEQUENCE, encoded)
    return _tlv(_SEQUENCE, _integer(message_id) + _tlv(_ADD_REQUEST, body))


def _header(buffer: bytes | bytearray, offset: int) -> tuple[int, int, int] | None:
    """Return (tag, content start, content end) of the TLV at offset, None if incomplete."""
    if len(buffer) < offset + 2:
        return None
    tag, first = buffer[offset], buffer[offset + 1]
    start = offset + 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4:  # noqa: PLR2004 - indefinite or absurd lengths
            raise BerError("unsupported BER length")
        if len(buffer) < start + count:
            return None
        size = int.from_bytes(buffer[start : start + count], "big")
        start += count
    else:
        size = first
    end = start + size
    return (tag, start, end) if len(buffer) >= end else None


def read_message(buffer: bytearray) -> bytes | None:
    """Remove and return one complete LDAPMessage from ``buffer`` (None if incomplete)."""
    header = _header(buffer, 0)
    if header is None:
        return None
    tag, _, end = header
    if tag != _SEQUENCE:
        raise BerError("an LDAPMessage starts with a SEQUENCE")
    message = bytes(buffer[:end])
    del buffer[:end]
    return message


@dataclass(frozen=True)
class LdapResult:
    """The LDAPResult of a response.

    Attributes:
        message_id: The request it answers (0 for an unsolicited notice).
        code: The result code (0 success).
        matched_dn: The matchedDN field.
        diagnostic: The server's diagnostic message.
        operation: The protocol operation tag of the response.
    """

    message_id: int
    code: int
    matched_dn: str
    diagnostic: str
    operation: int

    @property
    def is_add_response(self) -> bool:
        """Whether this answers an add request."""
        return self.operation == _ADD_RESPONSE


def result_of(message: bytes) -> LdapResult:
    """Decode the message id and LDAPResult of a response message.

    Raises:
        BerError: If the message is not a response with an LDAPResult.
    """
    outer = _header(message, 0)
    if outer is None:
        raise BerError("truncated message")
    _, start, _ = outer
    fields = []
    position = start
    for _ in range(2):  # messageID, protocolOp
        header = _header(message, position)
        if header is None:
            raise BerError("truncated message")
        fields.append(header)
        position = header[2]
    (id_tag, id_start, id_end), (op_tag, op_start, op_end) = fields
    if id_tag != _INTEGER or op_tag not in (_ADD_RESPONSE, _EXTENDED_RESPONSE):
        raise BerError(f"unexpected response (operation tag {op_tag:#x})")
    parts = []
    position = op_start
    for expected in (_ENUMERATED, _OCTETS, _OCTETS):
        header = _header(message, position)
        if header is None or header[0] != expected or header[2] > op_end:
            raise BerError("malformed LDAPResult")
        parts.append(message[header[1] : header[2]])
        position = header[2]
    return LdapResult(
        message_id=int.from_bytes(message[id_start:id_end], "big", signed=True),
        code=int.from_bytes(parts[0], "big"),
        matched_dn=parts[1].decode("utf-8", "replace"),
        diagnostic=parts[2].decode("utf-8", "replace"),
        operation=op_tag,
    )
