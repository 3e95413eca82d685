"""Helpers of the password integration tests: accounts on slapd, a direct SMTP mailer."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from pydantic import SecretStr

from ecampus_idm.directory.base import Directory
from ecampus_idm.passwords import ResetMail
from ecampus_idm.passwords.hashing import hash_ldap_password
from ecampus_idm.testing.smtp import ReceivedMessage

OLD_PASSWORD = "ancien-mot-de-passe-initial"
NEW_PASSWORD = "lampadaire-violet-sous-la-pluie"


def add_ldap_account(
    directory: Directory,
    people_dn: str,
    username: str,
    *,
    mail: str = "parent@example.org",
    password: str = OLD_PASSWORD,
    status: str = "active",
) -> str:
    """Add an account as the OpenLDAP profile writes it; return its DN."""
    dn = f"uid={username},{people_dn}"
    directory.add(
        dn,
        {
            "objectClass": ["inetOrgPerson", "eduPerson", "ecampusPerson"],
            "uid": username,
            "cn": f"{username.title()} Dupont",
            "displayName": f"{username.title()} Dupont",
            "givenName": username.title(),
            "sn": "Dupont",
            "ecampusManagedBy": "ecampus-idm",
            "ecampusPersonId": f"p-{username}",
            "ecampusAccountStatus": status,
            "ecampusPersonalMail": mail,
            "eduPersonPrimaryAffiliation": "student",
            "userPassword": hash_ldap_password(SecretStr(password)),
        },
    )
    return dn


class SmtpResetMailer:
    """A ResetMailer that sends at once over SMTP (the lead wires the outbox instead)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def send_reset(self, mail: ResetMail) -> None:
        message = EmailMessage()
        message["From"] = "eCampus <no-reply@ecampus.test>"
        message["To"] = mail.to
        message["Subject"] = "Mot de passe oublié / Forgotten password"
        message.set_content(
            f"Bonjour {mail.display_name},\n\n"
            f"Identifiant : {mail.username}\n"
            f"Choisissez un nouveau mot de passe : {mail.link.get_secret_value()}\n"
            f"Ce lien expire le {mail.expires_at:%d/%m/%Y à %H:%M} (UTC).\n"
        )
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.send_message(message)


def token_in(message: ReceivedMessage) -> str:
    """The token of the link in a received mail."""
    return message.text().split("token=", 1)[1].split()[0]
