"""The first nightly run on Samba AD: the issue's "done when" list for new accounts.

One run creates 200 sample people's accounts (module fixture); each test then checks one
thing on its own user: a re-run plans nothing, no sAMAccountName over 20, the first bind
by UPN over LDAPS says "must change" (773), a change through the port and the reset
route give passwords that bind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ad_world import AdWorld, make_world
from pydantic import SecretStr

from ecampus_idm.directory.active_directory import UAC_ENABLED, PasswordMustChangeError
from ecampus_idm.directory.filters import eq
from ecampus_idm.mapping.active_directory import MAX_SAM_LENGTH
from ecampus_idm.runner import RunReport
from ecampus_idm.store.base import RunStatus
from ecampus_idm.testing.samba import SambaServer, reset_ad_tree

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def created(
    tmp_path_factory: pytest.TempPathFactory, ad_server: SambaServer
) -> Iterator[tuple[AdWorld, RunReport]]:
    """One first run on an empty Samba AD, shared by this module's tests."""
    directory = ad_server.connect()
    try:
        world = make_world(tmp_path_factory.mktemp("ad-first-run"), ad_server, directory)
        yield world, world.run()
    finally:
        reset_ad_tree(directory, ad_server)
        directory.close()


def _user(world: AdWorld, index: int) -> tuple[str, SecretStr]:
    """The ``index``-th account created, with its initial password (tests use distinct ones)."""
    return sorted(world.issued.items())[index]


def test_first_run_creates_enabled_users_that_must_set_a_password(
    created: tuple[AdWorld, RunReport],
) -> None:
    """Every created user is enabled (512) with pwdLastSet 0; groups have members."""
    world, first = created
    assert first.status is RunStatus.SUCCEEDED, first.message
    users = world.users()
    assert len(users) == len(world.issued)
    assert {u.first("userAccountControl") for u in users} == {str(UAC_ENABLED)}
    assert all(u.first("pwdLastSet") == "0" for u in users)
    groups = list(world.directory.search(world.server.groups_dn, eq("objectClass", "group")))
    assert any(g.get("member") for g in groups)


def test_rerun_plans_nothing(created: tuple[AdWorld, RunReport]) -> None:
    """The next run against what the first one wrote has nothing to do."""
    world, _ = created
    second = world.run()
    assert second.plan is not None
    assert second.plan.is_empty, second.plan.summary()


def test_no_sam_account_name_over_20(created: tuple[AdWorld, RunReport]) -> None:
    """Every sAMAccountName the run wrote fits Windows' 20 characters."""
    world, _ = created
    names = [u.first("sAMAccountName") or "" for u in world.users()]
    assert names
    assert max(len(n) for n in names) <= MAX_SAM_LENGTH


def test_new_user_binds_by_upn_and_must_change_password(
    created: tuple[AdWorld, RunReport],
) -> None:
    """The initial password is right over LDAPS by UPN, and AD says change it (773)."""
    world, _ = created
    username, password = _user(world, 0)
    with pytest.raises(PasswordMustChangeError) as caught:
        world.directory.authenticate(f"{username}@ecampus.test", password)
    assert password.get_secret_value() not in str(caught.value)


def test_password_change_through_the_port_then_binds(created: tuple[AdWorld, RunReport]) -> None:
    """After a change through the Directory port, the user binds with the new password."""
    world, _ = created
    username, initial = _user(world, 1)
    dn = world.user(username).dn
    world.directory.set_password(dn, SecretStr("Nouveau-Mot2passe!"), old_password=initial)
    world.directory.authenticate(f"{username}@ecampus.test", SecretStr("Nouveau-Mot2passe!"))


def test_reset_route_sets_a_password_that_binds(created: tuple[AdWorld, RunReport]) -> None:
    """The reset service's route (an administrative set) gives a password that binds."""
    world, _ = created
    username, _initial = _user(world, 2)
    dn = world.user(username).dn
    world.directory.set_password(dn, SecretStr("Choisi-Par-Moi-2026"))
    world.directory.authenticate(f"{username}@ecampus.test", SecretStr("Choisi-Par-Moi-2026"))
