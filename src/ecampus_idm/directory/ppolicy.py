"""Account locks in the directory: the sync's permanent lock and a lockout after bad binds.

Two different things leave a lock on an account entry, and they must never be confused:

* the nightly run **disables** an account: on OpenLDAP it writes ppolicy's permanent lock,
  ``pwdAccountLockedTime: 000001010000Z`` (:data:`PERMANENT_LOCK`, "locked until an
  administrator unlocks"), with ``ecampusAccountStatus: disabled``; on AD it sets
  ``userAccountControl`` bit 2. A disabled account gets no reset mail and no reset;
* the directory **locks an account out** after repeated failed binds: ppolicy stamps
  ``pwdAccountLockedTime`` with the time of the lockout (and keeps the attribute after
  ``pwdLockoutDuration``, until the next successful bind or password change); AD stamps
  ``lockoutTime`` (a FILETIME, ``0`` once unlocked). A mistyping user, or the victim of
  someone else's bad binds, is locked out, not disabled: the reset is how they get back
  in, and a successful reset clears the lockout (ppolicy does it itself on a password
  change; AD needs ``lockoutTime: 0``).

slapd's ppolicy removes ``pwdAccountLockedTime`` on any password set by the
administrator, the permanent lock included (measured, see the directory contract test
``test_an_administrators_password_reset_clears_the_lock``): the reset service therefore
refuses a disabled account before it writes anything, and the nightly run writes the
permanent lock back on a disabled entry that lost it.

Pure data handling: importing this module loads no LDAP client.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PERMANENT_LOCK", "ad_locked_out", "ppolicy_locked_out", "ppolicy_permanent_lock"]

PERMANENT_LOCK = "000001010000Z"
"""ppolicy's ``pwdAccountLockedTime`` for "locked until an administrator unlocks"."""


def ppolicy_permanent_lock(values: Iterable[str]) -> bool:
    """Whether ``pwdAccountLockedTime`` holds the permanent lock (a disabled account)."""
    return any(value.strip().upper() == PERMANENT_LOCK for value in values)


def ppolicy_locked_out(values: Iterable[str]) -> bool:
    """Whether ``pwdAccountLockedTime`` holds a lockout after failed binds (a timestamp)."""
    found = [value.strip().upper() for value in values if value.strip()]
    return bool(found) and PERMANENT_LOCK not in found


def ad_locked_out(values: Iterable[str]) -> bool:
    """Whether AD's ``lockoutTime`` shows a lockout (any value other than ``0``)."""
    for value in values:
        try:
            if int(value.strip()) != 0:
                return True
        except ValueError:
            continue
    return False
