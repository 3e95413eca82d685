"""The nightly run on Samba AD, over several days: leavers, held plans, moves.

Each test starts from an empty tree with 200 sample people and a fixed clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ad_world import AdWorld, make_world

from ecampus_idm.directory.active_directory import UAC_DISABLED, AccountDisabledError
from ecampus_idm.directory.ldap import ActiveDirectory
from ecampus_idm.store.base import RunStatus
from ecampus_idm.testing.samba import SambaServer

pytestmark = pytest.mark.integration


@pytest.fixture
def world(tmp_path: Path, ad_server: SambaServer, ad_directory: ActiveDirectory) -> AdWorld:
    """A fresh world on the emptied Samba AD."""
    return make_world(tmp_path, ad_server, ad_directory)


def test_leaver_is_disabled_514_then_deleted_on_schedule(world: AdWorld) -> None:
    """A student who leaves: grace (still 512), then 514 and refused (533), then deleted."""
    world.run()
    before = {u.first("employeeNumber"): u.first("sAMAccountName") for u in world.users()}
    world.drop_rows("secretariat-ps", keep=-3)
    world.on_day(1)
    assert world.run().status is RunStatus.SUCCEEDED
    world.on_day(121)
    disabled_run = world.run()
    assert disabled_run.status is RunStatus.SUCCEEDED, disabled_run.message
    disabled = [u for u in world.users() if u.first("userAccountControl") == str(UAC_DISABLED)]
    assert disabled
    username = (disabled[0].first("userPrincipalName") or "").split("@")[0]
    with pytest.raises(AccountDisabledError):
        world.directory.authenticate(disabled[0].dn, world.issued[username])
    world.on_day(400)
    assert world.run().status is RunStatus.SUCCEEDED
    after = {u.first("employeeNumber") for u in world.users()}
    assert {u.first("employeeNumber") for u in disabled}.isdisjoint(after)
    assert len(after) < len(before)


def test_over_budget_plan_is_held_until_its_hash_is_approved(world: AdWorld) -> None:
    """Many leavers at once hold the plan; only its hash applies it."""
    world.run()
    world.drop_rows("secretariat-he", keep=-12)
    world.on_day(125)
    held = world.run()
    assert held.status is RunStatus.HELD, held.to_dict()
    assert held.plan is not None
    assert world.run(approve="0" * 64).status is RunStatus.HELD
    assert not [u for u in world.users() if u.first("userAccountControl") == str(UAC_DISABLED)]
    applied = world.run(approve=held.plan.hash)
    assert applied.status is RunStatus.SUCCEEDED
    assert applied.applied is not None
    assert applied.applied.applied["disable"] > 0


def test_move_between_schools_moves_the_user_between_ous_and_groups(world: AdWorld) -> None:
    """With an OU per school, a move renames the user into the new OU and swaps groups."""
    ous = {"EPS-MONS": "OU=mons", "EPS-CHARLEROI": "OU=charleroi"}
    for rdn_text in ous.values():
        name = rdn_text.split("=", 1)[1]
        world.directory.add(
            f"{rdn_text},{world.server.people_dn}",
            {"objectClass": "organizationalUnit", "ou": name},
        )
    directory = world.settings.directory
    ad = directory.active_directory.model_copy(update={"school_ous": ous})
    world.settings = world.settings.model_copy(
        update={"directory": directory.model_copy(update={"active_directory": ad})}
    )
    world.run()
    before = {u.dn for u in world.users()}
    world.move("secretariat-ps", "EPS-CHARLEROI")
    world.on_day(1)
    report = world.run()
    assert report.status is RunStatus.SUCCEEDED, report.message
    assert report.plan is not None
    counts = report.plan.counts()
    assert counts.get("rename", 0) >= 1
    assert counts.get("add_member", 0) >= 1
    assert counts.get("remove_member", 0) >= 1
    moved = [u for u in world.users() if u.dn not in before]
    assert moved
    assert all("OU=charleroi" in u.dn for u in moved)
    assert all(u.get("departmentNumber") == ("EPS-CHARLEROI",) for u in moved)
    again = world.run()
    assert again.plan is not None
    assert again.plan.is_empty, again.plan.summary()
