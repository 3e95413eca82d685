"""A throwaway OpenLDAP server: Debian's ``slapd`` run from a temporary folder.

:func:`start_slapd` writes a ``cn=config`` (mdb with no fsync; memberof, refint and
ppolicy overlays; the core, cosine, nis and inetorgperson schemas plus our eduPerson,
SCHAC and ecampus schemas), a self-signed CA and server certificate, and a base tree,
loads them with ``slapadd`` and starts ``slapd`` on two free loopback ports: one for
``ldap://`` with StartTLS, one for ``ldaps://``. It is up in a fraction of a second and
is gone, folder included, when stopped.

The demo command and the pytest plugin (:mod:`ecampus_idm.testing.plugin`) both use it,
so a downstream service tests against exactly what we test against.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from ecampus_idm.config import DirectorySettings
from ecampus_idm.directory.base import TlsMode
from ecampus_idm.errors import IdmError
from ecampus_idm.files import write_private
from ecampus_idm.passwords.hashing import hash_ldap_password

if TYPE_CHECKING:
    from types import TracebackType

    from ecampus_idm.directory.ldap import LdapDirectory

__all__ = [
    "SCHEMA_FILES",
    "ServerStartError",
    "SlapdLayout",
    "SlapdServer",
    "find_slapd",
    "start_slapd",
    "write_slapd_config",
]

SCHEMA_FILES = ("eduperson.ldif", "schac.ldif", "ecampus.ldif")
"""Our schema files, shipped in ``ecampus_idm/data/schema``, in load order."""

_SYSTEM_SCHEMAS = ("core", "cosine", "nis", "inetorgperson")


class ServerStartError(IdmError):
    """A throwaway test server could not be started.

    Attributes:
        log_tail: The last lines the server wrote, to see why.
    """

    def __init__(self, what: str, reason: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        tail = f"\n--- last output ---\n{log_tail}" if log_tail else ""
        super().__init__(f"cannot start {what}: {reason}{tail}")


class _Stoppable(Protocol):
    """Something that runs the server elsewhere (a container) and can stop it."""

    def stop(self) -> object: ...


@dataclass(frozen=True)
class SlapdLayout:
    """Where an OpenLDAP installation keeps its programs, modules and schemas.

    The defaults are Debian's; the container backend passes the image's.
    """

    slapd: Path = Path("/usr/sbin/slapd")
    slapadd: Path = Path("/usr/sbin/slapadd")
    module_path: Path = Path("/usr/lib/ldap")
    schema_dir: Path = Path("/etc/ldap/schema")


def find_slapd() -> SlapdLayout | None:
    """Return the local OpenLDAP layout, or ``None`` when slapd is not installed."""
    found = shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin:/usr/local/sbin")
    if not found:
        return None
    slapd = Path(found)
    slapadd = slapd.with_name("slapadd")
    layout = SlapdLayout(slapd=slapd, slapadd=slapadd)
    if not (slapadd.exists() and layout.module_path.is_dir() and layout.schema_dir.is_dir()):
        return None
    return layout


@dataclass
class SlapdServer:
    """A running throwaway slapd.

    Attributes:
        url: ``ldap://127.0.0.1:PORT`` (StartTLS available).
        ldaps_url: ``ldaps://127.0.0.1:PORT``.
        base_dn: The suffix (``dc=ecampus,dc=test``).
        admin_dn: The rootdn of the suffix.
        admin_password: Its password (random per server).
        ca_file: PEM file of the CA that signed the server certificate.
        workdir: The temporary folder (configuration, data, certificates, log).
    """

    url: str
    ldaps_url: str
    base_dn: str
    admin_dn: str
    admin_password: SecretStr
    ca_file: Path
    workdir: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_workdir: bool = field(default=True, repr=False)
    _stopper: _Stoppable | None = field(default=None, repr=False)
    _command: tuple[str, ...] = field(default=(), repr=False)
    _log_path: Path | None = field(default=None, repr=False)

    @property
    def people_dn(self) -> str:
        """DN of the people container."""
        return f"ou=people,{self.base_dn}"

    @property
    def groups_dn(self) -> str:
        """DN of the groups container."""
        return f"ou=groups,{self.base_dn}"

    @property
    def policy_dn(self) -> str:
        """DN of the default password policy."""
        return f"cn=default,ou=policies,{self.base_dn}"

    def settings(self, tls: TlsMode = "starttls") -> DirectorySettings:
        """Return directory settings that reach this server as its admin."""
        return DirectorySettings(
            url=self.ldaps_url if tls == "ldaps" else self.url,
            bind_dn=self.admin_dn,
            bind_password=self.admin_password,
            base_dn=self.base_dn,
            tls=tls,
            ca_file=self.ca_file,
        )

    def connect(self, tls: TlsMode = "starttls") -> LdapDirectory:
        """Return an :class:`~ecampus_idm.directory.ldap.LdapDirectory` bound as admin."""
        from ecampus_idm.directory import open_directory  # noqa: PLC0415 - ldap3 stays lazy

        return open_directory(self.settings(tls))

    def is_running(self) -> bool:
        """Whether the server process is alive."""
        if self._stopper is not None:
            return True
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the local slapd, or ``None`` (stopped, or run in a container)."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would (fault tests).

        Open connections are cut without an answer; what slapd had written to its mdb
        database stays (the memory map survives the process), so :meth:`start_again`
        finds the entries that were added before the kill. Idempotent.

        Raises:
            ServerStartError: If the server runs in a container (not supported).
        """
        self._local_only("kill")
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def start_again(self, ready_timeout: float = 10.0) -> None:
        """Start a server stopped by :meth:`kill` again: same ports, configuration, data.

        Connections made before the kill stay broken: open new ones (:meth:`connect`).
        Does nothing if the server is running.

        Raises:
            ServerStartError: If it does not come up (a port taken meanwhile, a
                database that cannot be recovered), or runs in a container.
        """
        self._local_only("start_again")
        if self.is_running():
            return
        log_path = self._log_path or self.workdir / "slapd.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                list(self._command),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._process = process
        ports = [int(u.rsplit(":", 1)[1]) for u in (self.url, self.ldaps_url)]
        _wait_until_ready(process, ports, log_path, ready_timeout)

    def restart(self, ready_timeout: float = 10.0) -> None:
        """:meth:`kill` the server, then :meth:`start_again` it on the same data."""
        self.kill()
        self.start_again(ready_timeout)

    def _local_only(self, what: str) -> None:
        if self._stopper is not None or not self._command:
            raise ServerStartError("slapd", f"{what}() needs a local slapd started here")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._stopper is not None:
            self._stopper.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_slapd(
    workdir: Path | None = None,
    *,
    base_dn: str = "dc=ecampus,dc=test",
    layout: SlapdLayout | None = None,
    ready_timeout: float = 10.0,
    attempts: int = 3,
) -> SlapdServer:
    """Start a throwaway slapd and return it once it accepts connections.

    Args:
        workdir: Folder to use (created if needed, removed on stop only when it was
            created here); a new temporary folder when ``None``.
        base_dn: The suffix, a ``dc=`` DN.
        layout: Where slapd and its files are; the local Debian installation when None.
        ready_timeout: Seconds to wait for the server to accept connections.
        attempts: How many times to retry with new ports if one was taken meanwhile.

    Raises:
        ServerStartError: If slapd is not installed or does not come up.
    """
    layout = layout or find_slapd()
    if layout is None:
        raise ServerStartError("slapd", "not installed (apt-get install slapd ldap-utils)")
    owns = workdir is None
    root = Path(tempfile.mkdtemp(prefix="ecampus-slapd-")) if workdir is None else workdir
    last_error: ServerStartError | None = None
    try:
        for _ in range(attempts):
            attempt_dir = Path(tempfile.mkdtemp(prefix="run-", dir=root))
            try:
                return _start_once(
                    attempt_dir, base_dn, layout, timeout=ready_timeout, root=root, owns=owns
                )
            except ServerStartError as exc:
                last_error = exc
                shutil.rmtree(attempt_dir, ignore_errors=True)
    except BaseException:
        if owns:
            shutil.rmtree(root, ignore_errors=True)
        raise
    if owns:
        shutil.rmtree(root, ignore_errors=True)
    assert last_error is not None  # noqa: S101 - the loop ran at least once
    raise last_error


def _start_once(
    workdir: Path,
    base_dn: str,
    layout: SlapdLayout,
    *,
    timeout: float,
    root: Path,
    owns: bool,
) -> SlapdServer:
    password = SecretStr(secrets.token_urlsafe(24))
    ldap_port, ldaps_port = _free_port(), _free_port()
    ca_file = write_slapd_config(workdir, base_dn, password, layout)
    ldapi = "ldapi://" + quote(str(workdir / "ldapi"), safe="")
    urls = f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/ {ldapi}"
    log_path = workdir / "slapd.log"
    command = (str(layout.slapd), "-d", "0", "-F", str(workdir / "slapd.d"), "-h", urls)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            list(command),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    _wait_until_ready(process, [ldap_port, ldaps_port], log_path, timeout)
    return SlapdServer(
        url=f"ldap://127.0.0.1:{ldap_port}",
        ldaps_url=f"ldaps://127.0.0.1:{ldaps_port}",
        base_dn=base_dn,
        admin_dn=f"cn=admin,{base_dn}",
        admin_password=password,
        ca_file=ca_file,
        workdir=root if owns else workdir,
        _process=process,
        _owns_workdir=owns,
        _command=command,
        _log_path=log_path,
    )


def _wait_until_ready(
    process: subprocess.Popen[bytes], ports: list[int], log_path: Path, timeout: float
) -> None:
    """Wait until slapd accepts connections on every port; kill it if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerStartError("slapd", f"exited with {process.returncode}", _tail(log_path))
        if all(_accepts(port) for port in ports):
            return
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise ServerStartError("slapd", f"not ready after {timeout} s", _tail(log_path))
        time.sleep(0.02)


def write_slapd_config(
    workdir: Path,
    base_dn: str,
    admin_password: SecretStr,
    layout: SlapdLayout,
    *,
    extra_hosts: tuple[str, ...] = (),
    run_slapadd: bool = True,
) -> Path:
    """Write certificates, ``config.ldif`` and ``base.ldif`` into ``workdir`` and load them.

    Every path written into the configuration is under ``workdir``, except the system
    schemas and modules of ``layout``: a container that mounts ``workdir`` at the same
    path can run the same configuration.

    Returns:
        The CA certificate file.

    Raises:
        ServerStartError: If slapadd refuses the configuration.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    (workdir / "slapd.d").mkdir(exist_ok=True)
    ca_file = _write_certificates(workdir, extra_hosts)
    schema_dir = workdir / "schema"
    schema_dir.mkdir(exist_ok=True)
    package_schemas = resources.files("ecampus_idm.data.schema")
    for name in SCHEMA_FILES:
        (schema_dir / name).write_text(package_schemas.joinpath(name).read_text("utf-8"), "utf-8")
    hashed = hash_ldap_password(admin_password)
    config = _CONFIG_TEMPLATE.format(
        dir=workdir,
        modules=layout.module_path,
        includes="\n".join(
            [f"include: file://{layout.schema_dir}/{name}.ldif" for name in _SYSTEM_SCHEMAS]
            + [f"include: file://{schema_dir}/{name}" for name in SCHEMA_FILES]
        ),
        suffix=base_dn,
        rootpw=hashed,
        peer=f"gidNumber={os.getgid()}+uidNumber={os.getuid()},cn=peercred,cn=external,cn=auth",
    )
    (workdir / "config.ldif").write_text(config, "utf-8")
    organisation = base_dn.split(",", maxsplit=1)[0].split("=", 1)[1]
    (workdir / "base.ldif").write_text(
        _BASE_TEMPLATE.format(suffix=base_dn, dc=organisation), "utf-8"
    )
    if run_slapadd:
        _slapadd(layout, workdir, "-n0", workdir / "config.ldif")
        _slapadd(layout, workdir, "-n1", workdir / "base.ldif")
    return ca_file


def _slapadd(layout: SlapdLayout, workdir: Path, database: str, ldif: Path) -> None:
    result = subprocess.run(
        [str(layout.slapadd), "-q", database, "-F", str(workdir / "slapd.d"), "-l", str(ldif)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        raise ServerStartError("slapd", f"slapadd {database} failed", output[-2000:])


def _write_certificates(workdir: Path, extra_hosts: tuple[str, ...]) -> Path:
    """Write a CA and a server certificate for 127.0.0.1/localhost (and ``extra_hosts``)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecampus-idm test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(IPv4Address("127.0.0.1")),
    ]
    for host in extra_hosts:
        try:
            names.append(x509.IPAddress(IPv4Address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls_dir = workdir / "tls"
    tls_dir.mkdir(exist_ok=True)
    (tls_dir / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tls_dir / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = tls_dir / "server.key"
    write_private(
        key_file,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return tls_dir / "ca.pem"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def _tail(path: Path, lines: int = 20) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    return ""


_CONFIG_TEMPLATE = """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcArgsFile: {dir}/slapd.args
olcLogLevel: none
olcToolThreads: 2
olcTLSCACertificateFile: {dir}/tls/ca.pem
olcTLSCertificateFile: {dir}/tls/server.pem
olcTLSCertificateKeyFile: {dir}/tls/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {modules}
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint
olcModuleLoad: ppolicy
olcModuleLoad: argon2
olcModuleLoad: pw-sha2

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcPasswordHash: {{SSHA512}}
olcSizeLimit: 1000
olcAccess: {{0}}to dn.exact="" by * read
olcAccess: {{1}}to dn.base="cn=Subschema" by * read

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: cn=admin,cn=config
olcRootPW: {rootpw}
olcAccess: {{0}}to * by dn.exact={peer} manage by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcDbDirectory: {dir}/data
olcDbMaxSize: 4294967296
olcDbNoSync: TRUE
olcRootDN: cn=admin,{suffix}
olcRootPW: {rootpw}
olcLimits: dn.exact="cn=admin,{suffix}" size=unlimited time=unlimited
olcDbIndex: objectClass eq
olcDbIndex: uid,mail,cn eq,sub
olcDbIndex: member,memberOf eq
olcDbIndex: ecampusPersonId,ecampusSourceKey,ecampusPersonalMail eq
olcAccess: {{0}}to * by dn.exact={peer} manage by * break
olcAccess: {{1}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{2}}to * by self read by users read by anonymous auth

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOfConfig
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{1}}refint,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {{1}}refint
olcRefintAttribute: member
olcRefintAttribute: memberOf
olcRefintNothing: cn=nobody

dn: olcOverlay={{2}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{2}}ppolicy
olcPPolicyDefault: cn=default,ou=policies,{suffix}
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: TRUE
"""

_BASE_TEMPLATE = """\
dn: {suffix}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: {dc}
o: {dc}

dn: ou=people,{suffix}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{suffix}
objectClass: organizationalUnit
ou: groups

dn: ou=policies,{suffix}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{suffix}
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMustChange: TRUE
pwdAllowUserChange: TRUE
pwdCheckQuality: 1
pwdMinLength: 8
pwdLockout: TRUE
pwdMaxFailure: 10
pwdLockoutDuration: 60
"""
