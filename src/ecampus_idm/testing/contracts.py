"""Contract tests: written once, run against every implementation of a port.

Subclass :class:`DirectoryContract` in a test module (with a name starting with
``Test``) and provide two fixtures, ``directory`` (the implementation under test) and
``base`` (an existing, empty container DN where the tests may write)::

    class TestMyDirectory(DirectoryContract):
        @pytest.fixture
        def directory(self, ldap_directory):
            return ldap_directory

        @pytest.fixture
        def base(self, ldap_server):
            return ldap_server.people_dn

A server whose vocabulary differs (Active Directory: ``cn`` naming, ``uSNChanged``
stamp, ``user`` objects, unreadable ``unicodePwd``) overrides the class attributes
(``naming``, ``stamp``, ``stamp_is_operational``, ``multi_valued``) and the hooks
:meth:`DirectoryContract.person_entry` and :meth:`DirectoryContract.check_password_storage`.

ecampus-idm runs this class against the in-memory directory, a real slapd and a Samba AD
domain controller; a downstream implementation of the port can run it too.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import SecretStr

from ecampus_idm.directory.base import Directory, Modification, Scope
from ecampus_idm.directory.dn import build_dn, dn_path, normalize_dn, parse_dn, rdn
from ecampus_idm.directory.filters import Substring, eq, present
from ecampus_idm.errors import (
    AttributeValueError,
    EntryAlreadyExistsError,
    EntryNotFoundError,
    InvalidCredentialsError,
    NotAllowedOnNonLeafError,
    PreconditionFailedError,
    SchemaViolationError,
)

__all__ = ["NASTY_VALUES", "DirectoryContract", "PpolicyContract"]

NASTY_VALUES = (
    "*)(uid=*",
    " #Dupont, Jean+Marie*)(uid=*",
    "Smith, John",
    "a+b",
    "#hash",
    " leading space",
    "trailing space ",
    'quote " and \\ backslash',
    "<angle>;semi=equals",
    "Œuvre d’Hélène Ærø",
    "x)(|(objectClass=*",
)
"""Values that must round-trip through a DN and a filter without changing what matches."""


def _person(uid: str, **extra: str | list[str]) -> dict[str, str | list[str]]:
    attributes: dict[str, str | list[str]] = {
        "objectClass": ["inetOrgPerson"],
        "cn": uid,
        "sn": "Test",
        "uid": uid,
    }
    attributes.update(extra)
    return attributes


class DirectoryContract:
    """The behaviour every :class:`~ecampus_idm.directory.base.Directory` must have."""

    naming: ClassVar[str] = "uid"
    """The naming (RDN) attribute of person entries (``cn`` on Active Directory)."""
    stamp: ClassVar[str] = "entryCSN"
    """The change-stamp attribute (``uSNChanged`` on Active Directory)."""
    stamp_is_operational: ClassVar[bool] = True
    """Whether the stamp is returned only when asked for by name (not on AD)."""
    multi_valued: ClassVar[str] = "description"
    """A multi-valued attribute of person entries (``description`` is single on AD users)."""

    def person_entry(self, uid: str, **extra: str | list[str]) -> dict[str, str | list[str]]:
        """The attributes of a minimal person entry named ``uid`` (override per server)."""
        return _person(uid, **extra)

    def check_password_storage(self, directory: Directory, dn: str, clear: str) -> None:
        """Assert the stored password is a hash without ``clear`` (override per server)."""
        entry = directory.get(dn, ["userPassword"])
        assert entry is not None
        stored = entry.get("userPassword")
        assert stored
        assert all(v.startswith("{") and clear not in v for v in stored)

    @pytest.fixture
    def directory(self) -> Directory:
        """The implementation under test (override in the subclass)."""
        raise NotImplementedError

    @pytest.fixture
    def base(self) -> str:
        """An existing, empty container where the tests write (override)."""
        raise NotImplementedError

    # -- add / get -----------------------------------------------------------------------

    def test_add_then_get_returns_values(self, directory: Directory, base: str) -> None:
        """An added entry reads back with lower-case names and its values."""
        dn = build_dn(self.naming, "jean.dupont", base)
        directory.add(dn, self.person_entry("jean.dupont", givenName="Jean", mail="j@x.be"))
        entry = directory.get(dn)
        assert entry is not None
        assert normalize_dn(entry.dn) == normalize_dn(dn)
        assert entry.first("givenName") == "Jean"
        assert entry.get("mail") == ("j@x.be",)
        assert "objectclass" in entry.attributes

    def test_add_many_reports_each_entry_in_order(self, directory: Directory, base: str) -> None:
        """A bulk add creates the good entries and returns each bad one's error in place."""
        directory.add(build_dn(self.naming, "taken", base), self.person_entry("taken"))
        items = [
            (build_dn(self.naming, f"bulk{n:03d}", base), self.person_entry(f"bulk{n:03d}"))
            for n in range(300)
        ]
        items.insert(7, (build_dn(self.naming, "taken", base), self.person_entry("taken")))
        items.insert(
            150,
            (build_dn(self.naming, "orphan", build_dn("ou", "none", base)), self.person_entry("o")),
        )
        results = list(directory.add_many(items))
        assert len(results) == len(items)
        assert isinstance(results[7], EntryAlreadyExistsError)
        assert isinstance(results[150], EntryNotFoundError)
        assert normalize_dn(results[150].dn or "") == normalize_dn(build_dn("ou", "none", base))
        assert sum(r is None for r in results) == 300
        found = list(directory.search(base, Substring("uid", initial="bulk"), attributes=["uid"]))
        assert len(found) == 300

    def test_get_missing_returns_none(self, directory: Directory, base: str) -> None:
        """Getting a DN that does not exist gives None, not an error."""
        assert directory.get(build_dn(self.naming, "nobody", base)) is None

    def test_add_existing_fails(self, directory: Directory, base: str) -> None:
        """Adding over an existing DN raises EntryAlreadyExistsError."""
        dn = build_dn(self.naming, "twice", base)
        directory.add(dn, self.person_entry("twice"))
        with pytest.raises(EntryAlreadyExistsError) as caught:
            directory.add(dn, self.person_entry("twice"))
        assert normalize_dn(caught.value.dn or "") == normalize_dn(dn)

    def test_add_under_missing_parent_names_parent(self, directory: Directory, base: str) -> None:
        """Adding below a missing parent raises EntryNotFoundError naming the parent."""
        parent = build_dn("ou", "missing", base)
        with pytest.raises(EntryNotFoundError) as caught:
            directory.add(build_dn(self.naming, "orphan", parent), self.person_entry("orphan"))
        assert normalize_dn(caught.value.dn or "") == normalize_dn(parent)

    def test_add_without_object_class_fails(self, directory: Directory, base: str) -> None:
        """An entry without objectClass is refused by the schema."""
        with pytest.raises(SchemaViolationError):
            directory.add(build_dn(self.naming, "classless", base), {"uid": "classless", "sn": "x"})

    def test_non_ascii_values_round_trip(self, directory: Directory, base: str) -> None:
        """Accents, ligatures and typographic apostrophes survive unchanged."""
        dn = build_dn(self.naming, "helene.oeuvre", base)
        directory.add(dn, self.person_entry("helene.oeuvre", givenName="Hélène", sn="d’Œuvre-Ærø"))
        entry = directory.get(dn)
        assert entry is not None
        assert entry.first("givenName") == "Hélène"
        assert entry.first("sn") == "d’Œuvre-Ærø"

    # -- search --------------------------------------------------------------------------

    def test_search_scopes(self, directory: Directory, base: str) -> None:
        """BASE, ONELEVEL and SUBTREE return the expected entries."""
        unit = build_dn("ou", "unit", base)
        directory.add(unit, {"objectClass": "organizationalUnit", "ou": "unit"})
        child = build_dn(self.naming, "child", unit)
        directory.add(child, self.person_entry("child"))

        def found(scope: Scope) -> set[tuple[str, ...]]:
            return {dn_path(e.dn) for e in directory.search(base, scope=scope)}

        assert found(Scope.BASE) == {dn_path(base)}
        assert found(Scope.ONELEVEL) == {dn_path(unit)}
        assert found(Scope.SUBTREE) == {dn_path(base), dn_path(unit), dn_path(child)}

    def test_search_filters(self, directory: Directory, base: str) -> None:
        """Equality, substring, presence, and/or/not select the right entries."""
        directory.add(
            build_dn(self.naming, "anne", base), self.person_entry("anne", mail="anne@x.be")
        )
        directory.add(build_dn(self.naming, "annick", base), self.person_entry("annick"))
        directory.add(build_dn(self.naming, "bob", base), self.person_entry("bob", mail="bob@x.be"))

        def uids(filter_: object) -> set[str]:
            return {e.first("uid") or "" for e in directory.search(base, filter_)}  # type: ignore[arg-type]

        assert uids(eq("uid", "ANNE")) == {"anne"}
        assert uids(Substring("uid", initial="ann")) == {"anne", "annick"}
        assert uids(present("mail")) == {"anne", "bob"}
        assert uids(eq("uid", "anne") | eq("uid", "bob")) == {"anne", "bob"}
        assert uids(present("uid") & ~present("mail")) == {"annick"}

    def test_search_missing_base_fails(self, directory: Directory, base: str) -> None:
        """Searching under a DN that does not exist raises EntryNotFoundError."""
        with pytest.raises(EntryNotFoundError):
            list(directory.search(build_dn("ou", "nowhere", base)))

    def test_search_reads_every_page(self, directory: Directory, base: str) -> None:
        """A paged search returns every entry exactly once."""
        for number in range(23):
            directory.add(
                build_dn(self.naming, f"user{number:02d}", base),
                self.person_entry(f"user{number:02d}"),
            )
        uids = [e.first("uid") for e in directory.search(base, present("uid"), page_size=5)]
        assert sorted(uids) == [f"user{n:02d}" for n in range(23)]  # type: ignore[type-var]

    def test_search_returns_only_requested_attributes(
        self, directory: Directory, base: str
    ) -> None:
        """Asking for some attributes returns those and no others."""
        directory.add(build_dn(self.naming, "few", base), self.person_entry("few", mail="f@x.be"))
        (entry,) = directory.search(base, eq("uid", "few"), attributes=["mail"])
        assert set(entry.attributes) == {"mail"}

    def test_star_reads_user_attributes_plus_named_operational(
        self, directory: Directory, base: str
    ) -> None:
        """``*`` with the change stamp returns every user attribute and the stamp."""
        directory.add(build_dn(self.naming, "star", base), self.person_entry("star", mail="s@x.be"))
        (entry,) = directory.search(base, eq("uid", "star"), attributes=["*", self.stamp])
        expected = {"uid", "mail", "sn", "cn", "objectclass", self.stamp.lower()}
        assert expected <= set(entry.attributes)

    # -- escaping ------------------------------------------------------------------------

    @pytest.mark.parametrize("value", NASTY_VALUES)
    def test_special_value_round_trips_through_dn_and_filter(
        self, directory: Directory, base: str, value: str
    ) -> None:
        """A hostile value in a DN and a filter matches exactly its own entry."""
        dn = build_dn("cn", value, base)
        directory.add(dn, {"objectClass": "organizationalRole", "cn": value})
        directory.add(
            build_dn("cn", "decoy", base), {"objectClass": "organizationalRole", "cn": "decoy"}
        )
        matches = list(directory.search(base, eq("cn", value)))
        assert len(matches) == 1
        assert [(kind.lower(), text) for kind, text in parse_dn(matches[0].dn)[0]] == [
            ("cn", value)
        ]
        assert matches[0].get("cn") == (value,)
        fetched = directory.get(matches[0].dn)
        assert fetched is not None
        assert fetched.get("cn") == (value,)

    # -- modify --------------------------------------------------------------------------

    def test_modify_replace_add_delete(self, directory: Directory, base: str) -> None:
        """Replace, add and delete change exactly the named values."""
        dn = build_dn(self.naming, "mod", base)
        multi = self.multi_valued
        directory.add(dn, self.person_entry("mod", mail="old@x.be", **{multi: ["a", "b"]}))
        directory.modify(
            dn,
            [
                Modification.replace("mail", "new@x.be"),
                Modification.add(multi, "c"),
                Modification.delete(multi, "a"),
                Modification.replace("title"),
            ],
        )
        entry = directory.get(dn)
        assert entry is not None
        assert entry.get("mail") == ("new@x.be",)
        assert sorted(entry.get(multi)) == ["b", "c"]
        assert "title" not in entry

    def test_modify_missing_entry_fails(self, directory: Directory, base: str) -> None:
        """Modifying a DN that does not exist raises EntryNotFoundError."""
        with pytest.raises(EntryNotFoundError):
            directory.modify(
                build_dn(self.naming, "ghost", base), [Modification.replace("sn", "x")]
            )

    def test_modify_conflicts_fail_and_change_nothing(
        self, directory: Directory, base: str
    ) -> None:
        """Adding a present value or deleting an absent one fails; the entry is unchanged."""
        dn = build_dn(self.naming, "atomic", base)
        directory.add(dn, self.person_entry("atomic", mail="keep@x.be"))
        with pytest.raises(AttributeValueError):
            directory.modify(
                dn, [Modification.replace("sn", "Changed"), Modification.add("mail", "keep@x.be")]
            )
        with pytest.raises(AttributeValueError):
            directory.modify(dn, [Modification.delete("description", "absent")])
        entry = directory.get(dn)
        assert entry is not None
        assert entry.first("sn") == "Test"

    def test_change_stamp_is_operational_and_moves(self, directory: Directory, base: str) -> None:
        """The change stamp is operational (entryCSN) or not (uSNChanged), and moves."""
        dn = build_dn(self.naming, "stamp", base)
        directory.add(dn, self.person_entry("stamp"))
        plain = directory.get(dn)
        assert plain is not None
        assert (self.stamp.lower() in plain) is not self.stamp_is_operational
        before = directory.get(dn, [self.stamp])
        directory.modify(dn, [Modification.replace("description", "changed")])
        after = directory.get(dn, [self.stamp])
        assert before is not None
        assert after is not None
        assert before.first(self.stamp)
        assert before.first(self.stamp) != after.first(self.stamp)

    def test_modify_with_holding_precondition(self, directory: Directory, base: str) -> None:
        """A modify whose precondition still matches is applied."""
        dn = build_dn(self.naming, "fresh", base)
        directory.add(dn, self.person_entry("fresh"))
        seen = directory.get(dn, [self.stamp])
        assert seen is not None
        directory.modify(
            dn,
            [Modification.replace("sn", "Fresh")],
            expect=eq(self.stamp, seen.first(self.stamp) or ""),
        )
        entry = directory.get(dn)
        assert entry is not None
        assert entry.first("sn") == "Fresh"

    def test_stale_precondition_refuses_every_write(self, directory: Directory, base: str) -> None:
        """After a change by someone else, modify, rename and delete with the old stamp fail."""
        dn = build_dn(self.naming, "stale", base)
        directory.add(dn, self.person_entry("stale"))
        seen = directory.get(dn, [self.stamp])
        assert seen is not None
        stamp = eq(self.stamp, seen.first(self.stamp) or "")
        directory.modify(dn, [Modification.replace("description", "by someone else")])
        with pytest.raises(PreconditionFailedError):
            directory.modify(dn, [Modification.replace("sn", "Mine")], expect=stamp)
        with pytest.raises(PreconditionFailedError):
            directory.rename(dn, rdn(self.naming, "moved"), expect=stamp)
        with pytest.raises(PreconditionFailedError):
            directory.delete(dn, expect=stamp)
        entry = directory.get(dn)
        assert entry is not None
        assert entry.first("sn") == "Test"

    # -- rename --------------------------------------------------------------------------

    def test_rename_changes_naming_value(self, directory: Directory, base: str) -> None:
        """A rename moves the entry and replaces the old RDN value."""
        dn = build_dn(self.naming, "before", base)
        directory.add(dn, self.person_entry("before"))
        new_dn = directory.rename(dn, rdn(self.naming, "after"))
        assert directory.get(dn) is None
        entry = directory.get(new_dn)
        assert entry is not None
        assert entry.get(self.naming) == ("after",)

    def test_rename_moves_subtree(self, directory: Directory, base: str) -> None:
        """Moving an entry with children to a new parent moves the children too."""
        source = build_dn("ou", "source", base)
        target = build_dn("ou", "target", base)
        for dn, name in ((source, "source"), (target, "target")):
            directory.add(dn, {"objectClass": "organizationalUnit", "ou": name})
        unit = build_dn("ou", "unit", source)
        directory.add(unit, {"objectClass": "organizationalUnit", "ou": "unit"})
        directory.add(build_dn(self.naming, "kid", unit), self.person_entry("kid"))
        moved = directory.rename(unit, rdn("ou", "unit"), new_parent=target)
        assert normalize_dn(moved) == normalize_dn(build_dn("ou", "unit", target))
        assert directory.get(build_dn(self.naming, "kid", moved)) is not None
        assert directory.get(build_dn(self.naming, "kid", unit)) is None

    def test_rename_onto_existing_fails(self, directory: Directory, base: str) -> None:
        """Renaming onto an existing DN raises EntryAlreadyExistsError."""
        directory.add(build_dn(self.naming, "one", base), self.person_entry("one"))
        directory.add(build_dn(self.naming, "two", base), self.person_entry("two"))
        with pytest.raises(EntryAlreadyExistsError):
            directory.rename(build_dn(self.naming, "one", base), rdn(self.naming, "two"))

    def test_rename_missing_fails(self, directory: Directory, base: str) -> None:
        """Renaming a DN that does not exist raises EntryNotFoundError."""
        with pytest.raises(EntryNotFoundError):
            directory.rename(build_dn(self.naming, "ghost", base), rdn(self.naming, "spirit"))

    # -- delete --------------------------------------------------------------------------

    def test_delete_leaf(self, directory: Directory, base: str) -> None:
        """A deleted entry is gone."""
        dn = build_dn(self.naming, "gone", base)
        directory.add(dn, self.person_entry("gone"))
        directory.delete(dn)
        assert directory.get(dn) is None

    def test_delete_missing_fails(self, directory: Directory, base: str) -> None:
        """Deleting a DN that does not exist raises EntryNotFoundError."""
        with pytest.raises(EntryNotFoundError):
            directory.delete(build_dn(self.naming, "ghost", base))

    def test_delete_non_leaf_fails(self, directory: Directory, base: str) -> None:
        """Deleting an entry with children raises NotAllowedOnNonLeafError."""
        unit = build_dn("ou", "parent", base)
        directory.add(unit, {"objectClass": "organizationalUnit", "ou": "parent"})
        directory.add(build_dn(self.naming, "kid", unit), self.person_entry("kid"))
        with pytest.raises(NotAllowedOnNonLeafError):
            directory.delete(unit)

    # -- passwords -----------------------------------------------------------------------

    def test_admin_password_reset_then_authenticate(self, directory: Directory, base: str) -> None:
        """After a reset, the new password binds, a wrong one does not, nothing is clear."""
        dn = build_dn(self.naming, "pw", base)
        directory.add(dn, self.person_entry("pw"))
        directory.set_password(dn, SecretStr("Correct-Horse-Battery-9"))
        directory.authenticate(dn, SecretStr("Correct-Horse-Battery-9"))
        with pytest.raises(InvalidCredentialsError):
            directory.authenticate(dn, SecretStr("wrong-password-123"))
        self.check_password_storage(directory, dn, "Correct-Horse")

    def test_user_password_change_needs_old_password(self, directory: Directory, base: str) -> None:
        """A change with the old password works; a wrong old password is refused."""
        dn = build_dn(self.naming, "self", base)
        directory.add(dn, self.person_entry("self"))
        directory.set_password(dn, SecretStr("First-Password-2026"))
        with pytest.raises(InvalidCredentialsError):
            directory.set_password(
                dn, SecretStr("Second-Password-2026"), old_password=SecretStr("not-it-at-all")
            )
        directory.set_password(
            dn, SecretStr("Second-Password-2026"), old_password=SecretStr("First-Password-2026")
        )
        directory.authenticate(dn, SecretStr("Second-Password-2026"))
        with pytest.raises(InvalidCredentialsError):
            directory.authenticate(dn, SecretStr("First-Password-2026"))

    def test_empty_password_never_authenticates(self, directory: Directory, base: str) -> None:
        """An empty password is refused (it would be an anonymous bind)."""
        dn = build_dn(self.naming, "empty", base)
        directory.add(dn, self.person_entry("empty"))
        directory.set_password(dn, SecretStr("Some-Password-2026"))
        with pytest.raises(InvalidCredentialsError):
            directory.authenticate(dn, SecretStr(""))

    def test_authenticate_unknown_entry_fails(self, directory: Directory, base: str) -> None:
        """Binding as a DN that does not exist is an InvalidCredentialsError."""
        with pytest.raises(InvalidCredentialsError):
            directory.authenticate(build_dn(self.naming, "ghost", base), SecretStr("Whatever-2026"))


class PpolicyContract(DirectoryContract):
    """What a directory with OpenLDAP's ppolicy lock adds to the contract (not AD)."""

    @pytest.mark.parametrize(
        "lock", ["20261205061500Z", "000001010000Z"], ids=["lockout", "permanent-lock"]
    )
    def test_an_administrators_password_reset_clears_the_lock(
        self, directory: Directory, base: str, lock: str
    ) -> None:
        """ppolicy: a password set by the administrator removes ``pwdAccountLockedTime``.

        slapd does it for a lockout after failed binds and for the permanent lock alike;
        so the reset service refuses a disabled account before it writes anything, and
        the nightly run writes the permanent lock back on any disabled entry without it.
        """
        dn = build_dn(self.naming, "lockout", base)
        directory.add(dn, self.person_entry("lockout"))
        directory.set_password(dn, SecretStr("Before-The-Lockout-26"))
        directory.modify(dn, [Modification.replace("pwdAccountLockedTime", lock)])
        if lock == "000001010000Z":
            with pytest.raises(InvalidCredentialsError):
                directory.authenticate(dn, SecretStr("Before-The-Lockout-26"))
        directory.set_password(dn, SecretStr("After-The-Reset-2026"))
        entry = directory.get(dn, ["pwdAccountLockedTime"])
        assert entry is not None
        assert entry.get("pwdAccountLockedTime") == ()
        directory.authenticate(dn, SecretStr("After-The-Reset-2026"))
