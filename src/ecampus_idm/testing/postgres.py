"""A throwaway PostgreSQL server: Debian's PostgreSQL binaries run from a temporary folder.

:func:`start_postgres` runs ``initdb`` into a new temporary folder (UTF-8, C locale, no
fsync; a superuser ``ecampus`` with a random password, password authentication over
TCP, trust over the Unix socket), then ``pg_ctl start`` on a free loopback port with the
socket in the same folder and ``fsync=off``. It is up in about half a second and gone,
folder included, when stopped.

PostgreSQL refuses to run as root: when the tests run as root (CI machines, containers)
every server command runs as the ``postgres`` system user through ``runuser``, and the
folder is handed to that user.

Each test gets its own database (:meth:`PostgresServer.create_database`), dropped
afterwards; the pytest plugin (:mod:`ecampus_idm.testing.plugin`) does that in its
``postgres_settings`` and ``postgres_store`` fixtures.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

from pydantic import SecretStr

from ecampus_idm.config import StoreSettings
from ecampus_idm.files import write_private
from ecampus_idm.testing.slapd import ServerStartError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "PostgresLayout",
    "PostgresServer",
    "find_postgres",
    "start_postgres",
]

SUPERUSER = "ecampus"
"""The superuser created by ``initdb``."""

_SYSTEM_USER = "postgres"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_PREFERRED_MAJOR = 15
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PostgresLayout:
    """Where a PostgreSQL installation keeps its server programs.

    Attributes:
        bindir: The folder holding ``initdb`` and ``pg_ctl``.
    """

    bindir: Path

    @property
    def initdb(self) -> Path:
        """The ``initdb`` program."""
        return self.bindir / "initdb"

    @property
    def pg_ctl(self) -> Path:
        """The ``pg_ctl`` program."""
        return self.bindir / "pg_ctl"


def find_postgres() -> PostgresLayout | None:
    """Return the local PostgreSQL server layout, or ``None`` when it is not installed.

    Debian keeps the server programs in ``/usr/lib/postgresql/<major>/bin`` (15 is
    preferred, else the newest); elsewhere ``initdb`` and ``pg_ctl`` on ``PATH`` are used.
    """
    candidates: list[tuple[int, Path]] = []
    if _DEBIAN_ROOT.is_dir():
        for entry in _DEBIAN_ROOT.iterdir():
            if entry.name.isdigit():
                candidates.append((int(entry.name), entry / "bin"))
    candidates.sort(key=lambda item: (item[0] == _PREFERRED_MAJOR, item[0]), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append((0, Path(found).parent))
    for _, bindir in candidates:
        layout = PostgresLayout(bindir)
        if os.access(layout.initdb, os.X_OK) and os.access(layout.pg_ctl, os.X_OK):
            return layout
    return None


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL.

    Attributes:
        host: ``127.0.0.1``.
        port: The TCP port.
        user: The superuser's name.
        password: Its password (random per server).
        workdir: The temporary folder (data directory, socket, log).
        layout: Where the server programs are.
    """

    host: str
    port: int
    user: str
    password: SecretStr
    workdir: Path
    layout: PostgresLayout
    _run_as: str | None = field(default=None, repr=False)
    _running: bool = field(default=True, repr=False)
    durable: bool = False
    """Whether a commit waits for its WAL write (``synchronous_commit=on``): what a crash
    (``halt("immediate")``) must not lose. Off by default, for speed."""

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's Unix socket."""
        return self.workdir

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.workdir / "data"

    def url(self, database: str = "postgres") -> str:
        """Return a ``postgresql+psycopg://`` URL to ``database`` without the password."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def settings(self, database: str = "postgres") -> StoreSettings:
        """Return store settings that reach ``database`` as the superuser."""
        return StoreSettings(url=self.url(database), password=self.password)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its name (a random one by default)."""
        name = name or f"test_{secrets.token_hex(6)}"
        self._admin(f'CREATE DATABASE "{_checked(name)}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever still uses it."""
        self._admin(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        import sqlalchemy as sa  # noqa: PLC0415 - the driver loads only when a test needs it
        from sqlalchemy.pool import NullPool  # noqa: PLC0415

        url = sa.engine.make_url(self.url()).set(password=self.password.get_secret_value())
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def is_running(self) -> bool:
        """Whether the server answers on its port."""
        if not self._running:
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def halt(self, mode: str = "fast") -> None:
        """Stop the server but keep its data, to :meth:`start` it again (fault tests).

        Args:
            mode: ``pg_ctl`` shutdown mode: ``fast`` (sessions are terminated, clean
                shutdown) or ``immediate`` (as a crash: recovery on the next start).
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        if not self._running:
            return
        result = _run(
            [str(self.layout.pg_ctl), "stop", "-w", "-D", str(self.data_dir), "-m", mode],
            self._run_as,
            check=False,
        )
        if result.returncode != 0:
            raise ServerStartError("postgresql", f"pg_ctl stop -m {mode} failed", result.stdout)
        self._running = False

    def start(self, ready_timeout: int = 30) -> None:
        """Start a server stopped by :meth:`halt` again, on the same port and data."""
        if self._running:
            return
        _start(
            self.layout, self.workdir, self.port, self._run_as, ready_timeout, durable=self.durable
        )
        self._running = True

    def restart(self, mode: str = "fast") -> None:
        """Stop (``fast`` or ``immediate``, see :meth:`halt`) and start again; data kept."""
        self.halt(mode)
        self.start()

    def stop(self) -> None:
        """Stop the server (immediate shutdown: nothing here is worth keeping) and clean up."""
        if self._running:
            self._running = False
            _run(
                [str(self.layout.pg_ctl), "stop", "-D", str(self.data_dir), "-m", "immediate"],
                self._run_as,
                check=False,
            )
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


def start_postgres(
    *,
    layout: PostgresLayout | None = None,
    attempts: int = 3,
    ready_timeout: int = 30,
    durable: bool = False,
) -> PostgresServer:
    """Start a throwaway PostgreSQL and return it once it accepts connections.

    Args:
        layout: Where the server programs are; the local installation when ``None``.
        attempts: How many times to retry with a new port if one was taken meanwhile.
        ready_timeout: Seconds ``pg_ctl`` waits for the server to accept connections.
        durable: Keep ``synchronous_commit`` on, so that a committed transaction survives
            a crash of the server (fault tests); off by default (faster), as is ``fsync``
            always (it only matters if the machine itself crashes).

    Raises:
        ServerStartError: If PostgreSQL is not installed or does not come up.
    """
    layout = layout or find_postgres()
    if layout is None:
        raise ServerStartError("postgresql", "not installed (apt-get install postgresql)")
    run_as = _SYSTEM_USER if os.geteuid() == 0 else None
    workdir = Path(tempfile.mkdtemp(prefix="ecampus-pg-"))
    try:
        if run_as is not None:
            _hand_over(workdir, run_as)
        password = SecretStr(secrets.token_urlsafe(24))
        _initdb(layout, workdir, password, run_as)
        port = _start_on_a_free_port(
            layout, workdir, run_as, ready_timeout, attempts, durable=durable
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return PostgresServer(
        host="127.0.0.1",
        port=port,
        user=SUPERUSER,
        password=password,
        workdir=workdir,
        layout=layout,
        _run_as=run_as,
        durable=durable,
    )


def _start_on_a_free_port(
    layout: PostgresLayout,
    workdir: Path,
    run_as: str | None,
    timeout: int,
    attempts: int,
    *,
    durable: bool,
) -> int:
    last_error = ServerStartError("postgresql", "no attempt made")
    for _ in range(max(attempts, 1)):
        port = _free_port()
        try:
            _start(layout, workdir, port, run_as, timeout, durable=durable)
        except ServerStartError as exc:
            last_error = exc
            continue
        return port
    raise last_error


def _hand_over(workdir: Path, user: str) -> None:
    try:
        account = pwd.getpwnam(user)
    except KeyError as exc:
        raise ServerStartError(
            "postgresql", f"running as root needs the {user!r} system user"
        ) from exc
    os.chown(workdir, account.pw_uid, account.pw_gid)
    if shutil.which("runuser") is None:
        raise ServerStartError("postgresql", "running as root needs runuser (util-linux)")


def _initdb(layout: PostgresLayout, workdir: Path, password: SecretStr, run_as: str | None) -> None:
    password_file = workdir / "pwfile"
    write_private(password_file, (password.get_secret_value() + "\n").encode("utf-8"))
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(password_file, account.pw_uid, account.pw_gid)
    try:
        result = _run(
            [
                str(layout.initdb),
                "--pgdata",
                str(workdir / "data"),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            run_as,
            check=False,
        )
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ServerStartError("postgresql", "initdb failed", result.stdout[-2000:])


def _start(
    layout: PostgresLayout,
    workdir: Path,
    port: int,
    run_as: str | None,
    timeout: int,
    *,
    durable: bool = False,
) -> None:
    log = workdir / f"postgres-{port}.log"
    commit = "on" if durable else "off"
    options = (
        f"-c fsync=off -c synchronous_commit={commit} -c full_page_writes=off "
        f"-c listen_addresses=127.0.0.1 -k {workdir} -p {port}"
    )
    result = _run(
        [
            str(layout.pg_ctl),
            "start",
            "-w",
            "-t",
            str(timeout),
            "-D",
            str(workdir / "data"),
            "-l",
            str(log),
            "-o",
            options,
        ],
        run_as,
        check=False,
    )
    if result.returncode != 0:
        tail = log.read_text("utf-8", "replace")[-2000:] if log.exists() else result.stdout
        raise ServerStartError("postgresql", f"pg_ctl start failed on port {port}", tail)


def _run(
    command: list[str], run_as: str | None, *, check: bool
) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        command = ["runuser", "-u", run_as, "--", *command]
    return subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=check,
        stdin=subprocess.DEVNULL,
        cwd="/",  # the postgres user may not be allowed into the caller's folder
    )


def _checked(name: str) -> str:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}")
    return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
