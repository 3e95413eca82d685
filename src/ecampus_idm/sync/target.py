"""How a sync target's entries are recognised: containers, keys, marker, change stamp.

A :class:`TargetSpec` is shared by the snapshot reader and by apply, so both agree on
which entries are ours (the ownership marker), how an entry is identified across renames
(the key attribute per kind), and which attribute carries the change stamp used for
preconditions. The OpenLDAP mapping profile provides one; the AD profile another
(``uSNChanged`` as the change stamp, ``unicodePwd`` + ``pwdLastSet=0`` as the initial
password, :func:`ad_initial_password`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pydantic import SecretStr

from ecampus_idm.directory.base import Directory, Entry, Scope
from ecampus_idm.directory.dn import normalize_dn
from ecampus_idm.sync.model import EntryKind, ObservedEntry

__all__ = ["TargetSpec", "ad_initial_password", "openldap_initial_password", "read_snapshot"]


def openldap_initial_password(password: SecretStr) -> dict[str, str]:
    """Attributes that set an initial password on OpenLDAP, to be changed at first login.

    The cleartext goes in the add itself (ppolicy hashes it, ``olcPPolicyHashCleartext``),
    so that an entry never exists without its password; ``pwdReset`` makes ppolicy demand
    a change at the first bind.
    """
    return {"userPassword": password.get_secret_value(), "pwdReset": "TRUE"}


def ad_initial_password(password: SecretStr) -> dict[str, str]:
    """Attributes that set an initial password on Active Directory, to be changed first.

    ``unicodePwd`` carries the cleartext here; the AD adapter
    (:class:`~ecampus_idm.directory.ldap.ActiveDirectory`) encodes it (quoted UTF-16-LE)
    on the wire, inside the add, so that an account never exists without its password.
    ``pwdLastSet=0`` makes AD demand a change at the first logon (bind result 773).
    """
    return {"unicodePwd": password.get_secret_value(), "pwdLastSet": "0"}


@dataclass(frozen=True)
class TargetSpec:
    """What the engine needs to know about a target directory.

    Attributes:
        containers: Where each kind of managed entry lives (searched with SUBTREE scope).
        key_attributes: The attribute holding an entry's stable key, per kind.
        marker_attribute: The ownership marker attribute.
        marker_value: Its value on entries this engine manages.
        version_attribute: The change stamp read with each entry (``entryCSN``).
        extra_attributes: Operational attributes to read too (account lock...).
        member_attribute: The group membership attribute.
        initial_password: Attributes that set an initial password at creation.
    """

    containers: Mapping[EntryKind, str]
    key_attributes: Mapping[EntryKind, str] = field(
        default_factory=lambda: {EntryKind.PERSON: "ecampusPersonId", EntryKind.GROUP: "cn"}
    )
    marker_attribute: str = "ecampusManagedBy"
    marker_value: str = "ecampus-idm"
    version_attribute: str = "entryCSN"
    extra_attributes: tuple[str, ...] = ("pwdAccountLockedTime",)
    member_attribute: str = "member"
    initial_password: Callable[[SecretStr], Mapping[str, str]] = field(
        default=openldap_initial_password, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "containers", MappingProxyType(dict(self.containers)))
        object.__setattr__(self, "key_attributes", MappingProxyType(dict(self.key_attributes)))

    def observe(self, kind: EntryKind, entry: Entry) -> ObservedEntry:
        """Turn a read entry into an :class:`ObservedEntry` of ``kind``."""
        marker = {v.casefold() for v in entry.get(self.marker_attribute)}
        version = entry.first(self.version_attribute)
        attributes = {
            name: values
            for name, values in entry.attributes.items()
            if name != self.version_attribute.lower()
        }
        return ObservedEntry(
            kind=kind,
            dn=entry.dn,
            key=entry.first(self.key_attributes[kind]),
            managed=self.marker_value.casefold() in marker,
            attributes=attributes,
            version=version,
        )

    def is_ours(self, kind: EntryKind, key: str, entry: Entry | None) -> bool:
        """Whether ``entry`` is the managed entry with ``key`` (idempotent re-runs)."""
        if entry is None:
            return False
        observed = self.observe(kind, entry)
        return observed.managed and observed.key == key


def read_snapshot(
    directory: Directory,
    spec: TargetSpec,
    *,
    page_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[ObservedEntry]:
    """Read every entry under the target's containers: one paged search per container.

    Container entries themselves are skipped. Unmanaged entries are returned too (marked
    ``managed=False``), so that the plan can see a DN it must not take.

    Args:
        directory: The target.
        spec: What to read and how to recognise our entries.
        page_size: Search page size (the directory's default when None).
        progress: Called with the number of entries read so far, every 1,000 entries.
    """
    attributes = ["*", spec.version_attribute, *spec.extra_attributes]
    read = 0
    for kind, container in spec.containers.items():
        container_key = normalize_dn(container)
        for entry in directory.search(
            container, scope=Scope.SUBTREE, attributes=attributes, page_size=page_size
        ):
            if normalize_dn(entry.dn) == container_key:
                continue
            read += 1
            if progress is not None and read % 1000 == 0:
                progress(read)
            yield spec.observe(kind, entry)
