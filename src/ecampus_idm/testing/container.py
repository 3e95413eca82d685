"""OpenLDAP in a container, through testcontainers (the ``container`` extra).

Used by the ``ldap_server`` fixture when ``ECAMPUS_IDM_LDAP_BACKEND=container`` and a
Docker engine answers. The container runs the *same* configuration as the local backend:
:func:`~ecampus_idm.testing.slapd.write_slapd_config` writes it into a folder that is
mounted at the same path inside the container, and only the image's program, module and
schema locations differ (:class:`~ecampus_idm.testing.slapd.SlapdLayout`).

The image is ``ECAMPUS_IDM_LDAP_IMAGE`` (default: the Bitnami OpenLDAP 2.6 image, whose
layout is below). Another image works if ``ECAMPUS_IDM_LDAP_LAYOUT`` gives its four
paths as ``slapd:slapadd:module_dir:schema_dir``.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.testing.slapd import ServerStartError, SlapdLayout, SlapdServer, write_slapd_config

__all__ = ["DEFAULT_IMAGE", "docker_available", "start_container_slapd"]

DEFAULT_IMAGE = "bitnamilegacy/openldap:2.6"
_BITNAMI = SlapdLayout(
    slapd=Path("/opt/bitnami/openldap/sbin/slapd"),
    slapadd=Path("/opt/bitnami/openldap/sbin/slapadd"),
    module_path=Path("/opt/bitnami/openldap/libexec/openldap"),
    schema_dir=Path("/opt/bitnami/openldap/etc/schema"),
)
_LDAP_PORT, _LDAPS_PORT = 1389, 1636


def docker_available() -> bool:
    """Return whether testcontainers is installed and a Docker engine answers."""
    try:
        from testcontainers.core.docker_client import DockerClient  # noqa: PLC0415

        DockerClient().client.ping()
    except Exception:  # noqa: BLE001 - any failure means "no usable engine"
        return False
    return True


def _layout() -> SlapdLayout:
    spec = os.environ.get("ECAMPUS_IDM_LDAP_LAYOUT")
    if not spec:
        return _BITNAMI
    parts = spec.split(":")
    if len(parts) != 4:  # noqa: PLR2004 - four paths
        raise ServerStartError("slapd container", "ECAMPUS_IDM_LDAP_LAYOUT needs four paths")
    return SlapdLayout(*(Path(p) for p in parts))


def start_container_slapd(
    base_dn: str = "dc=ecampus,dc=test", timeout: float = 60.0
) -> SlapdServer:
    """Start OpenLDAP in a container with our configuration.

    Raises:
        ServerStartError: If the container does not come up.
    """
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.docker_client import DockerClient  # noqa: PLC0415

    image = os.environ.get("ECAMPUS_IDM_LDAP_IMAGE", DEFAULT_IMAGE)
    layout = _layout()
    host = DockerClient().host()
    workdir = Path(tempfile.mkdtemp(prefix="ecampus-slapd-ct-"))
    password = SecretStr(secrets.token_urlsafe(24))
    ca_file = write_slapd_config(
        workdir, base_dn, password, layout, extra_hosts=(host,), run_slapadd=False
    )
    for path in [workdir, *workdir.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    script = " && ".join(
        [
            f"{layout.slapadd} -q -n0 -F {workdir}/slapd.d -l {workdir}/config.ldif",
            f"{layout.slapadd} -q -n1 -F {workdir}/slapd.d -l {workdir}/base.ldif",
            f"exec {layout.slapd} -d 0 -F {workdir}/slapd.d -h "
            + shlex.quote(f"ldap://0.0.0.0:{_LDAP_PORT}/ ldaps://0.0.0.0:{_LDAPS_PORT}/"),
        ]
    )
    container = (
        DockerContainer(image)
        .with_volume_mapping(str(workdir), str(workdir), "rw")
        .with_exposed_ports(_LDAP_PORT, _LDAPS_PORT)
        .with_kwargs(entrypoint=["/bin/sh", "-c", script])
    )
    container.start()
    ldap_port = int(container.get_exposed_port(_LDAP_PORT))
    ldaps_port = int(container.get_exposed_port(_LDAPS_PORT))
    deadline = time.monotonic() + timeout
    while not _accepts(host, ldap_port):
        if time.monotonic() > deadline:
            logs = b"".join(container.get_logs()).decode("utf-8", "replace")
            container.stop()
            raise ServerStartError("slapd container", f"not ready after {timeout} s", logs[-2000:])
        time.sleep(0.2)
    return SlapdServer(
        url=f"ldap://{host}:{ldap_port}",
        ldaps_url=f"ldaps://{host}:{ldaps_port}",
        base_dn=base_dn,
        admin_dn=f"cn=admin,{base_dn}",
        admin_password=password,
        ca_file=ca_file,
        workdir=workdir,
        _stopper=container,
    )


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
