"""One Patroni member with its PostgreSQL on 127.0.0.1, started through ``patroni-mpp run`` or plain Patroni.

The node runs as the node user when we are root (see :mod:`.processes`), with free ports, its own
directory and a generated configuration; it is stopped by its pid: Patroni by SIGTERM (it stops its
PostgreSQL), then, if PostgreSQL is still up, ``pg_ctl stop`` on the data directory, and the postmaster
pid as the last resort.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patroni_mpp.testing.etcd import Etcd
from patroni_mpp.testing.network import HOST, free_port, http_json
from patroni_mpp.testing.postgres import find_bindir
from patroni_mpp.testing.processes import node_ids, pid_alive, popen_user_kwargs, wait_pid_gone


@dataclass
class NodeOptions:
    """How a node is started: the command flavour and extra configuration/environment."""

    launcher: bool = True
    """Start through ``patroni-mpp run`` (True) or plain ``patroni`` (False)."""
    python: str = field(default_factory=lambda: sys.executable)
    """Interpreter with Patroni and patroni-mpp installed, runnable by the node user."""
    extra_config: dict[str, Any] = field(default_factory=dict)
    """Deep-merged into the generated configuration (e.g. an engine section)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables (e.g. ``PYTHONPATH``, ``PATRONI_<SECTION>_GROUP``)."""
    ttl: int = 20
    loop_wait: int = 1
    retry_timeout: int = 5


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into ``base`` (in place) and return ``base``."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


class PatroniNode:
    """One Patroni member with its PostgreSQL, in ``<base>/<name>``."""

    def __init__(
        self,
        name: str,
        scope: str,
        base_dir: Path,
        etcd: Etcd,
        options: NodeOptions | None = None,
        *,
        pg_bin: Path | None = None,
        namespace: str = "/service/",
    ) -> None:
        """Prepare a node (ports, directories, configuration); :meth:`start` starts it."""
        self.name = name
        self.scope = scope
        self.options = options or NodeOptions()
        self.dir = base_dir / name
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "patroni.yml"
        self.log_path = self.dir / "patroni.log"
        self.pg_bin = pg_bin or find_bindir()
        self.pg_port = free_port()
        self.api_port = free_port()
        self.namespace = namespace
        self.etcd = etcd
        self.process: subprocess.Popen[bytes] | None = None
        self.superuser_password = secrets.token_hex(12)
        self.config = self._build_config()

    # ------------------------------------------------------------------ configuration
    def _build_config(self) -> dict[str, Any]:
        opts = self.options
        config: dict[str, Any] = {
            "scope": self.scope,
            "namespace": self.namespace,
            "name": self.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"{HOST}:{self.api_port}",
                "connect_address": f"{HOST}:{self.api_port}",
            },
            "etcd3": {"hosts": [self.etcd.hosts]},
            "bootstrap": {
                "dcs": {
                    "ttl": opts.ttl,
                    "loop_wait": opts.loop_wait,
                    "retry_timeout": opts.retry_timeout,
                    "maximum_lag_on_failover": 16 * 1024 * 1024,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "max_connections": 50,
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "64MB",
                            "shared_buffers": "32MB",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}],
            },
            "postgresql": {
                "listen": f"{HOST}:{self.pg_port}",
                "connect_address": f"{HOST}:{self.pg_port}",
                "data_dir": str(self.data_dir),
                "bin_dir": str(self.pg_bin),
                "pgpass": str(self.dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": self.superuser_password},
                    "replication": {"username": "replicator", "password": secrets.token_hex(12)},
                    "rewind": {"username": "rewinder", "password": secrets.token_hex(12)},
                },
                "pg_hba": [
                    "local all all trust",
                    f"host all all {HOST}/32 trust",
                    f"host replication all {HOST}/32 trust",
                ],
                "parameters": {"unix_socket_directories": str(self.dir)},
                "basebackup": [{"checkpoint": "fast"}],
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }
        return merge(config, opts.extra_config)

    def write_config(self) -> None:
        """Write the YAML configuration (JSON is valid YAML) into the node directory."""
        ids = node_ids()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config, indent=2))
        self.config_path.chmod(0o600)
        if ids is not None:
            os.chown(self.dir, *ids)
            os.chown(self.config_path, *ids)

    # ------------------------------------------------------------------ processes
    def command(self, *extra_args: str) -> list[str]:
        """The command line that starts this node (launcher or plain Patroni)."""
        python = self.options.python
        if self.options.launcher:
            return [python, "-m", "patroni_mpp", "run", str(self.config_path), *extra_args]
        return [python, "-m", "patroni", str(self.config_path), *extra_args]

    def environment(self) -> dict[str, str]:
        """The environment of the node process: a clean one plus :attr:`NodeOptions.env`."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.dir),
        }
        env.update(self.options.env)
        return env

    def run_command(self, *extra_args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the node's command to completion (e.g. a launcher that must refuse to start)."""
        self.write_config()
        return subprocess.run(
            self.command(*extra_args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.environment(),
            cwd=str(self.dir),
            stdin=subprocess.DEVNULL,
            check=False,
            **popen_user_kwargs(),
        )

    def start(self) -> None:
        """Start the node in the background (output into :attr:`log_path`)."""
        if self.process is not None and self.process.poll() is None:
            return
        self.write_config()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.environment(),
            cwd=str(self.dir),
            start_new_session=True,
            **popen_user_kwargs(),
        )
        log.close()

    @property
    def pid(self) -> int | None:
        """Pid of the Patroni process while it runs."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    def postmaster_pid(self) -> int | None:
        """Pid of this node's running postmaster (from ``postmaster.pid``), or None."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first.strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def _pg_ctl_stop(self, mode: str) -> None:
        subprocess.run(
            [str(self.pg_bin / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30"],
            capture_output=True,
            check=False,
            cwd="/",
            stdin=subprocess.DEVNULL,
            **popen_user_kwargs(),
        )

    def kill9(self) -> tuple[int | None, int | None]:
        """SIGKILL Patroni and then its postmaster, by pid; returns both pids."""
        patroni_pid = self.pid
        postmaster = self.postmaster_pid()
        if patroni_pid is not None:
            os.kill(patroni_pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(timeout=30)
        if postmaster is not None:
            os.kill(postmaster, signal.SIGKILL)
            wait_pid_gone(postmaster, 30)
        return patroni_pid, postmaster

    def stop(self, timeout: float = 60.0) -> None:
        """Stop Patroni (SIGTERM by pid, it stops PostgreSQL), then make sure PostgreSQL is down."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=30)
            self.process = None
        postmaster = self.postmaster_pid()
        if postmaster is not None:
            self._pg_ctl_stop("fast")
        postmaster = self.postmaster_pid()
        if postmaster is not None:
            os.kill(postmaster, signal.SIGQUIT)
            if not wait_pid_gone(postmaster, 15):
                os.kill(postmaster, signal.SIGKILL)
                wait_pid_gone(postmaster, 15)

    # ------------------------------------------------------------------ observation
    @property
    def api_url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{HOST}:{self.api_port}"

    def api(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        """A request to this node's REST API."""
        return http_json(f"{self.api_url}/{path.lstrip('/')}", **kwargs)

    def status(self) -> dict[str, Any] | None:
        """``GET /patroni`` (None when the API does not answer)."""
        try:
            _code, body = self.api("patroni", timeout=2)
        except OSError:
            return None
        return body if isinstance(body, dict) else None

    def dsn(self, dbname: str = "postgres") -> str:
        """Libpq connection string of this node's PostgreSQL (trust auth on 127.0.0.1)."""
        return f"host={HOST} port={self.pg_port} user=postgres dbname={dbname} connect_timeout=3"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the node's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"
