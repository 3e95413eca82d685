"""Builders of the password-service unit tests: accounts, a recording mailer and custody."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.passwords import ResetMail

PEOPLE = "ou=people,dc=ecampus,dc=test"
OLD_PASSWORD = "ancien-mot-de-passe-initial"
NEW_PASSWORD = "lampadaire-violet-sous-la-pluie"


class RecordingMailer:
    """A ResetMailer that keeps what it is given (the tests read the links)."""

    def __init__(self) -> None:
        self.mails: list[ResetMail] = []

    def send_reset(self, mail: ResetMail) -> None:
        self.mails.append(mail)

    def token(self, index: int = -1) -> str:
        """The token of a sent mail."""
        return self.mails[index].link.get_secret_value().rsplit("token=", 1)[1]


class RecordingCustody:
    """A custody that records discards."""

    def __init__(self) -> None:
        self.discarded: list[tuple[str, str]] = []

    def discard(self, person_id: str, *, reason: str, at: datetime) -> bool:
        del at
        self.discarded.append((person_id, reason))
        return True


def add_account(
    directory: MemoryDirectory,
    username: str,
    *,
    person_id: str | None = None,
    mail: str = "parent@example.org",
    status: str = "active",
    password: str = OLD_PASSWORD,
) -> str:
    """Add an account entry like the OpenLDAP profile writes it; return its DN."""
    dn = f"uid={username},{PEOPLE}"
    directory.add(
        dn,
        {
            "objectClass": ["inetOrgPerson", "ecampusPerson"],
            "uid": username,
            "cn": f"{username.title()} Dupont",
            "displayName": f"{username.title()} Dupont",
            "givenName": username.title(),
            "sn": "Dupont",
            "ecampusPersonId": person_id or f"p-{username}",
            "ecampusAccountStatus": status,
            "ecampusPersonalMail": mail,
            "ecampusSchool": "HEC-TOURNAI",
            "eduPersonPrimaryAffiliation": "student",
            "userPassword": password,
        },
    )
    return dn


def secret(value: str) -> SecretStr:
    """Wrap a test password."""
    return SecretStr(value)
