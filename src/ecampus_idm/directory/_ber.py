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

__all__ = [
    "BerError",
    "LdapResult",
    "SearchPage",
    "add_request",
    "encode_filter",
    "read_message",
    "result_of",
    "search_request",
    "search_response",
]

_SEQUENCE = 0x30
_SET = 0x31
_INTEGER = 0x02
_OCTETS = 0x04
_ENUMERATED = 0x0A
_ADD_REQUEST = 0x68  # [APPLICATION 8], constructed
_ADD_RESPONSE = 0x69  # [APPLICATION 9], constructed
_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24]: a notice of disconnection arrives as one
_SEARCH_REQUEST = 0x63  # [APPLICATION 3]
_SEARCH_ENTRY = 0x64  # [APPLICATION 4]
_SEARCH_DONE = 0x65  # [APPLICATION 5]
_SEARCH_REFERENCE = 0x73  # [APPLICATION 19]
_BOOLEAN = 0x01
_CONTROLS = 0xA0  # [0] Controls in an LDAPMessage
_PAGED_RESULTS = b"1.2.840.113556.1.4.319"  # RFC 2696
_SCOPES = {"base": 0, "one": 1, "sub": 2}


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


def encode_filter(text_filter: object) -> bytes:
    """Return the BER of one of our :class:`~ecampus_idm.directory.filters.Filter` values.

    Values go in as octets, so nothing needs escaping on this path.
    """
    from ecampus_idm.directory import filters  # noqa: PLC0415 - avoid an import cycle

    def octets(text: str) -> bytes:
        return _tlv(_OCTETS, text.encode("utf-8"))

    def encode(node: object) -> bytes:
        if isinstance(node, filters.Equals):
            return _tlv(0xA3, octets(node.attribute) + octets(node.value))
        if isinstance(node, filters.Present):
            return _tlv(0x87, node.attribute.encode("utf-8"))
        if isinstance(node, filters.Substring):
            parts = b""
            if node.initial:
                parts += _tlv(0x80, node.initial.encode("utf-8"))
            parts += b"".join(_tlv(0x81, p.encode("utf-8")) for p in node.any if p)
            if node.final:
                parts += _tlv(0x82, node.final.encode("utf-8"))
            return _tlv(0xA4, octets(node.attribute) + _tlv(_SEQUENCE, parts))
        if isinstance(node, filters.And):
            return _tlv(0xA0, b"".join(encode(f) for f in node.filters))
        if isinstance(node, filters.Or):
            return _tlv(0xA1, b"".join(encode(f) for f in node.filters))
        if isinstance(node, filters.Not):
            return _tlv(0xA2, encode(node.filter))
        raise BerError(f"cannot encode filter {node!r}")

    return encode(text_filter)


def search_request(
    message_id: int,
    *,
    base: str,
    scope: str,
    filter_ber: bytes,
    attributes: Sequence[str],
    page_size: int,
    cookie: bytes,
) -> bytes:
    """Return the BER of a paged SearchRequest (derefAliases never, no limits)."""
    body = (
        _tlv(_OCTETS, base.encode("utf-8"))
        + _tlv(_ENUMERATED, bytes((_SCOPES[scope],)))
        + _tlv(_ENUMERATED, b"\x00")  # neverDerefAliases
        + _integer(0)  # sizeLimit
        + _integer(0)  # timeLimit
        + _tlv(_BOOLEAN, b"\x00")  # typesOnly FALSE
        + filter_ber
        + _tlv(_SEQUENCE, b"".join(_tlv(_OCTETS, a.encode("utf-8")) for a in attributes))
    )
    paged = _tlv(_SEQUENCE, _integer(page_size) + _tlv(_OCTETS, cookie))
    control = _tlv(_SEQUENCE, _tlv(_OCTETS, _PAGED_RESULTS) + _tlv(_OCTETS, paged))
    return _tlv(
        _SEQUENCE,
        _integer(message_id) + _tlv(_SEARCH_REQUEST, body) + _tlv(_CONTROLS, control),
    )


@dataclass
class SearchPage:
    """The entries of one page, then (when the page is done) its result and cookie.

    Attributes:
        entries: (dn, attributes) pairs, attribute names lower-cased.
        result: The SearchResultDone's LDAPResult, once received.
        cookie: The paged-results cookie for the next page (empty when last).
    """

    entries: list[tuple[str, dict[str, tuple[str, ...]]]]
    result: LdapResult | None = None
    cookie: bytes = b""


def search_response(message: bytes, page: SearchPage) -> None:
    """Add one search response message to ``page`` (entry, reference or done).

    Raises:
        BerError: If the message is not a search response.
    """
    outer = _header(message, 0)
    if outer is None:
        raise BerError("truncated message")
    id_header = _header(message, outer[1])
    if id_header is None:
        raise BerError("truncated message")
    op = _header(message, id_header[2])
    if op is None:
        raise BerError("truncated message")
    tag, start, end = op
    if tag == _SEARCH_ENTRY:
        page.entries.append(_entry(message, start, end))
    elif tag == _SEARCH_DONE:
        page.result = result_of(message)
        page.cookie = _paged_cookie(message, end, outer[2])
    elif tag != _SEARCH_REFERENCE:  # referrals are not followed
        page.result = result_of(message)


def _entry(message: bytes, start: int, end: int) -> tuple[str, dict[str, tuple[str, ...]]]:
    """Decode a SearchResultEntry's DN and attributes (the hot loop of a snapshot)."""
    dn_tag, dn_start, dn_end = _strict(message, start)
    attributes: dict[str, tuple[str, ...]] = {}
    _, position, list_end = _strict(message, dn_end)
    while position < list_end:
        _, attr_start, attr_end = _strict(message, position)
        _, name_start, name_end = _strict(message, attr_start)
        _, value_start, values_end = _strict(message, name_end)
        values = []
        while value_start < values_end:
            _, v_start, v_end = _strict(message, value_start)
            values.append(message[v_start:v_end].decode("utf-8", "surrogateescape"))
            value_start = v_end
        attributes[message[name_start:name_end].decode("ascii").lower()] = tuple(values)
        position = attr_end
    if dn_tag != _OCTETS or position != list_end or list_end > end:
        raise BerError("malformed search entry")
    return message[dn_start:dn_end].decode("utf-8", "surrogateescape"), attributes


def _paged_cookie(message: bytes, position: int, end: int) -> bytes:
    while position < end:
        tag, start, stop = _strict(message, position)
        if tag == _CONTROLS:
            inner = start
            while inner < stop:
                _, c_start, c_end = _strict(message, inner)
                _, oid_start, oid_end = _strict(message, c_start)
                if message[oid_start:oid_end] == _PAGED_RESULTS:
                    value = oid_end
                    tag_value, v_start, v_end = _strict(message, value)
                    if tag_value == _BOOLEAN:
                        tag_value, v_start, v_end = _strict(message, v_end)
                    _, seq_start, _ = _strict(message, v_start)
                    _, _, size_end = _strict(message, seq_start)
                    _, cookie_start, cookie_end = _strict(message, size_end)
                    return message[cookie_start:cookie_end]
                inner = c_end
        position = stop
    return b""


def _strict(buffer: bytes, offset: int) -> tuple[int, int, int]:
    header = _header(buffer, offset)
    if header is None:
        raise BerError("truncated element")
    return header


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
    if id_tag != _INTEGER or op_tag not in (_ADD_RESPONSE, _SEARCH_DONE, _EXTENDED_RESPONSE):
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
