"""Temporary real PostgreSQL servers for tests: ``initdb`` into a temp dir, listening on 127.0.0.1 only.

As root, every server command runs as the ``postgres`` OS user (PostgreSQL refuses root; ``subprocess``
switches the user) in a directory that user owns under ``TMPDIR``, which it must be able to enter
(:func:`check_environment`). Servers are stopped with ``pg_ctl stop``, and if that fails by signalling the
postmaster's own pid, never by process group or name.

Environment:

* ``PATRONI_MPP_PG_BINDIR``: directory of ``postgres``/``initdb``/``pg_ctl`` (default: ``pg_config
  --bindir``, else the newest ``/usr/lib/postgresql/*/bin``); :func:`find_bindir` is the toolkit's one
  finder of the server binaries, used by the Patroni nodes too. Set, it must hold them.
* ``PATRONI_MPP_PG_USER``: OS user the servers run as when we are root (default ``postgres``).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from patroni_mpp.testing import environment
from patroni_mpp.testing.environment import PrerequisiteError, getenv
from patroni_mpp.testing.network import HOST, free_port

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
"""Name of the bootstrap superuser of every test server."""


class PostgresUnavailable(RuntimeError):  # noqa: N818 - reads as a condition, used by the kit
    """No usable PostgreSQL installation was found (tests should skip with this message)."""


PG_BINDIR_ENV = "PATRONI_MPP_PG_BINDIR"
"""Directory of the PostgreSQL server binaries, when set."""

_SERVER_PROGRAMS = ("postgres", "initdb", "pg_ctl")


def _pg_config_bindir() -> str | None:
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    with contextlib.suppress(subprocess.CalledProcessError, OSError):
        return subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return None


def find_bindir() -> Path:
    """Directory of the PostgreSQL server binaries (``postgres``, ``initdb``, ``pg_ctl``).

    ``$PATRONI_MPP_PG_BINDIR``, else ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin``.

    :raises PrerequisiteError: when ``$PATRONI_MPP_PG_BINDIR`` is set but does not hold them.
    :raises PostgresUnavailable: when no such directory holds them.
    """
    explicit = getenv(PG_BINDIR_ENV)
    if explicit:
        missing = [program for program in _SERVER_PROGRAMS if not (Path(explicit) / program).is_file()]
        what = "does not exist" if not Path(explicit).is_dir() else f"holds no {', '.join(missing)}"
        if missing:
            raise PrerequisiteError(f"{PG_BINDIR_ENV}={explicit} {what}: set it to the directory of "
                                    "postgres, initdb and pg_ctl, or unset it to use the installed "
                                    "PostgreSQL")  # fmt: skip
        return Path(explicit)
    candidates: list[str] = []
    from_pg_config = _pg_config_bindir()
    if from_pg_config:
        candidates.append(from_pg_config)
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        path = Path(candidate)
        if all((path / program).is_file() for program in _SERVER_PROGRAMS):
            return path
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (install the Debian package 'postgresql' "
        f"or set {PG_BINDIR_ENV})"
    )


def has_extension(name: str, bindir: Path | None = None) -> bool:
    """True when the PostgreSQL installation of ``bindir`` ships extension ``name`` (its control file)."""
    bin_dir = bindir or find_bindir()
    pg_config = bin_dir / "pg_config"
    sharedirs: list[Path] = []
    if pg_config.is_file():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            sharedirs.append(Path(out.stdout.strip()))
    sharedirs.append(Path("/usr/share/postgresql") / bin_dir.parent.name)
    return any((d / "extension" / f"{name}.control").is_file() for d in sharedirs)


def check_environment(base_dir: str | None = None) -> Path:
    """Check, before a server starts, what it needs here (fast: it starts no process but ``pg_config``).

    :param base_dir: parent of the servers' directories (default: the temp directory, ``TMPDIR``).
    :returns: the directory of the server binaries (:func:`find_bindir`).
    :raises PostgresUnavailable: when PostgreSQL is not installed (tests should skip).
    :raises PrerequisiteError: with the fix: a wrong ``PATRONI_MPP_PG_BINDIR``, no server user, or
        (as root) a ``base_dir`` that user cannot enter.
    """
    bindir = find_bindir()
    fix = "pass a base_dir it can enter" if base_dir else "set TMPDIR to one it can enter (TMPDIR=/tmp)"
    environment.check_enterable(Path(base_dir or tempfile.gettempdir()), fix)
    return bindir


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresServer:
    """One temporary PostgreSQL server.

    Use it as a context manager, or call :meth:`start` and :meth:`stop` (which also removes its files)::

        with PostgresServer(settings={"max_prepared_transactions": 10}) as server:
            with server.connect() as conn:
                ...

    :param settings: extra ``postgresql.conf`` settings.
    :param password: the superuser's password; with one, TCP logins need it (scram-sha-256), without,
        every login is trusted.
    :param base_dir: parent of the server's temp directory (default: the system temp dir).
    """

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        password: str | None = None,
        base_dir: str | None = None,
    ) -> None:
        self.bindir = check_environment(base_dir)
        self.settings = dict(settings or {})
        self.password = password
        self.host = HOST
        self.port = free_port()
        self._base = Path(tempfile.mkdtemp(prefix="patroni-mpp-pg-", dir=base_dir))
        self._base.chmod(0o755)
        environment.give_to_server_user(self._base)
        self.datadir = self._base / "data"
        self.socket_dir = self._base
        self.logfile = self._base / "server.log"
        self._initialised = False
        self._running = False

    # -- life cycle ---------------------------------------------------------------------------

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.bindir / tool), *args], capture_output=True, text=True, check=False,
                                stdin=subprocess.DEVNULL, **environment.server_user_kwargs())  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed with exit code {result.returncode}: {result.stderr.strip()[-2000:]}"
            )
        return result

    def initdb(self) -> None:
        """Create the data directory (superuser ``postgres``) and write the settings."""
        args = ["-D", str(self.datadir), "-U", SUPERUSER, "-E", "UTF8", "--no-sync", "-A", "trust"]
        pwfile: Path | None = None
        if self.password is not None:
            pwfile = self._base / "pwfile"
            pwfile.write_text(self.password + "\n")
            environment.give_to_server_user(pwfile)
            args = [a for a in args if a not in ("-A", "trust")]
            args += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            self._pg("initdb", *args)
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        self._write_settings()
        self._initialised = True

    def _write_settings(self) -> None:
        base = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": 50,
            "shared_buffers": "32MB",
            "wal_level": "replica",
            "max_wal_senders": 5,
            "logging_collector": "off",
        }
        base.update(self.settings)
        lines = [f"{key} = {self._conf_value(value)}" for key, value in base.items()]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# patroni-mpp test settings\n" + "\n".join(lines) + "\n")
        # pg_hba.conf is first-match: our lines go before initdb's defaults
        hba = "host replication all 127.0.0.1/32 trust\n"
        if self.password is None:
            hba += "host all all 127.0.0.1/32 trust\n"
        hba_path = self.datadir / "pg_hba.conf"
        hba_path.write_text(hba + hba_path.read_text())

    @staticmethod
    def _conf_value(value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, int | float):
            return str(value)
        return _sql_literal(str(value))

    def start(self) -> PostgresServer:
        """Initialise (first time only) and start the server; wait until it accepts connections."""
        if not self._initialised:
            self.initdb()
        self._pg("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60", "start")
        self._running = True
        logger.debug("PostgreSQL started on %s:%s (pid %s)", self.host, self.port, self.pid)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``pg_ctl stop``, and if that fails, SIGQUIT then SIGKILL to the postmaster pid."""
        if not self._running:
            return
        pid = self.pid
        result = self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "30", "stop",
                          check=False)  # fmt: skip
        if result.returncode != 0 and pid is not None:
            for sig in (signal.SIGQUIT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if self._wait_gone(pid, 10):
                    break
        self._running = False

    def restart(self) -> None:
        """Stop (fast) and start again on the same port."""
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); the server's children exit on their own."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self._running = False

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, from ``postmaster.pid``; None when it is not running."""
        try:
            first = (self.datadir / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.strip().isdigit() else None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    # -- replication --------------------------------------------------------------------------

    def create_replica(self, settings: Mapping[str, Any] | None = None) -> PostgresServer:
        """Start a streaming replica of this (running) server, made with ``pg_basebackup -R``."""
        replica = PostgresServer({**self.settings, **(settings or {})}, password=self.password)
        replica._pg(
            "pg_basebackup", "-D", str(replica.datadir), "-h", self.host, "-p", str(self.port),
            "-U", SUPERUSER, "-R", "-c", "fast", "-X", "stream", "--no-sync",
        )  # fmt: skip
        replica._write_settings()
        replica._initialised = True
        return replica.start()

    def promote(self) -> None:
        """Promote this replica (``pg_ctl promote -w``)."""
        self._pg("pg_ctl", "-D", str(self.datadir), "-w", "promote")

    # -- client side --------------------------------------------------------------------------

    def conninfo(self, dbname: str = "postgres", **extra: Any) -> dict[str, Any]:
        """Connection parameters for psycopg / libpq (TCP, superuser)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": SUPERUSER,
            "dbname": dbname,
            "connect_timeout": 5,
        }
        if self.password is not None:
            params["password"] = self.password
        params.update(extra)
        return params

    def connect(self, dbname: str = "postgres", **extra: Any) -> Any:
        """An auto-commit psycopg connection (needs the ``testing`` extra)."""
        import psycopg

        return psycopg.connect(autocommit=True, **self.conninfo(dbname, **extra))

    def execute(self, sql: str, *params: Any, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement on a fresh connection and return its rows (``[]`` when it has none)."""
        with self.connect(dbname) as conn, conn.cursor() as cursor:
            cursor.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` here if it exists (see :func:`drop_database`)."""
        drop_database(self.conninfo(), name)

    def log_text(self) -> str:
        """The server log so far (for diagnosing a failing test)."""
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""


def drop_database(params: Mapping[str, Any], name: str, timeout: float = 30.0) -> None:
    """Drop database ``name`` on the server of ``params`` if it exists, its sessions terminated.

    ``DROP DATABASE ... WITH (FORCE)`` terminates the sessions it finds, but a background worker
    (Citus's maintenance daemon, real or emulated) may connect again before the drop: a drop
    refused as "being accessed by other users" (SQLSTATE 55006) is tried again until ``timeout``.

    :param params: connection parameters of a superuser, for a database other than ``name``.
    :param name: the database; quoted as an identifier.
    :raises psycopg.errors.ObjectInUse: when the database stayed in use for ``timeout`` seconds.
    """
    import psycopg
    from psycopg import sql

    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    deadline = time.monotonic() + timeout
    with psycopg.connect(autocommit=True, **params) as conn:
        while True:
            try:
                conn.execute(statement)
                return
            except psycopg.errors.ObjectInUse as exc:
                if time.monotonic() > deadline:
                    raise
                logger.info("Database %s still in use, dropping it again: %s", name, exc.diag.message_detail)
                time.sleep(0.2)


@contextlib.contextmanager
def running_server(
    settings: Mapping[str, Any] | None = None, *, password: str | None = None
) -> Iterator[PostgresServer]:
    """Context manager yielding a started :class:`PostgresServer`, stopped and removed afterwards."""
    server = PostgresServer(settings, password=password)
    try:
        yield server.start()
    finally:
        server.cleanup()
