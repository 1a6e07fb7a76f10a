"""A local etcd and Patroni nodes on 127.0.0.1, started and stopped by pid.

Shared by the demo (``scripts/demo``), the end-to-end tests (``core/tests_e2e``) and the launcher benchmark
(``bench/e2e_launcher.py``). Standard library only, so it runs under any interpreter that has Patroni.

PostgreSQL refuses to run as root, so when we are root every Patroni node runs as the ``postgres`` OS user
(``Popen(user=...)``: the pid we hold is Patroni's own) in a directory that user owns. Every process started
here is stopped by its pid: Patroni by SIGTERM (it stops its PostgreSQL), then, if PostgreSQL is still up,
``pg_ctl stop`` on the data directory, and the postmaster pid as the last resort. Nothing listens beyond
127.0.0.1; ports are chosen free at start.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
"""The only address anything started here listens on."""

NODE_USER = "postgres"
"""OS user that runs Patroni and PostgreSQL when we are root."""

_T = TypeVar("_T")


class LocalClusterError(RuntimeError):
    """Something started here did not come up, or the machine lacks a required part."""


# --------------------------------------------------------------------------------------------- utilities


def wait_for(probe: Callable[[], _T | None], *, timeout: float, what: str, interval: float = 0.25) -> _T:
    """Call ``probe`` until it returns something other than None/False, or fail after ``timeout`` seconds.

    Exceptions raised by ``probe`` count as "not yet" (the last one is reported on timeout).

    :raises LocalClusterError: on timeout.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = probe()
        except Exception as exc:
            last_error = exc
            value = None
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise LocalClusterError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def find_pg_bin() -> Path:
    """Directory of the PostgreSQL server binaries: ``$PG_BIN`` or the newest ``/usr/lib/postgresql/*/bin``.

    :raises LocalClusterError: when no PostgreSQL server is installed.
    """
    explicit = os.environ.get("PG_BIN")
    candidates = [explicit] if explicit else glob.glob("/usr/lib/postgresql/*/bin")

    def major(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    for path in sorted(candidates, key=major, reverse=True):
        if (Path(path) / "postgres").is_file() and (Path(path) / "initdb").is_file():
            return Path(path)
    raise LocalClusterError("no PostgreSQL server binaries found (apt-get install postgresql, or set PG_BIN)")


def find_etcd() -> Path:
    """The etcd server binary: ``$ETCD_BIN``, ``etcd`` on PATH or ``/usr/bin/etcd``.

    :raises LocalClusterError: when etcd is not installed.
    """
    for candidate in (os.environ.get("ETCD_BIN"), shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise LocalClusterError("etcd is not installed (apt-get install etcd-server, or set ETCD_BIN)")


def pg_has_extension(name: str, pg_bin: Path | None = None) -> bool:
    """True when the PostgreSQL installation ships extension ``name`` (its control file exists)."""
    bin_dir = pg_bin or find_pg_bin()
    pg_config = bin_dir / "pg_config"
    sharedirs: list[Path] = []
    if pg_config.is_file():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            sharedirs.append(Path(out.stdout.strip()))
    sharedirs.append(Path("/usr/share/postgresql") / bin_dir.parent.name)
    return any((d / "extension" / f"{name}.control").is_file() for d in sharedirs)


def running_as_root() -> bool:
    """True when this process is root (nodes then run as :data:`NODE_USER`)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _node_ids() -> tuple[int, int] | None:
    if not running_as_root():
        return None
    import pwd

    entry = pwd.getpwnam(NODE_USER)
    return entry.pw_uid, entry.pw_gid


def make_base_dir(prefix: str = "pmpp-") -> Path:
    """A fresh directory under the temp dir that the node user owns (and can therefore reach)."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("PMPP_TMP", "/tmp")))  # noqa: S108 - must be reachable by postgres
    ids = _node_ids()
    if ids is not None:
        os.chown(base, *ids)
    base.chmod(0o755)
    return base


def check_interpreter(python: str, modules: Sequence[str] = ("patroni", "patroni_mpp")) -> None:
    """Make sure the node user can run ``python`` and import ``modules`` (Patroni and patroni-mpp) with it.

    :raises LocalClusterError: with the reason, typically a venv whose interpreter lives under /root.
    """
    ids = _node_ids()
    kwargs: dict[str, Any] = {}
    if ids is not None:
        kwargs = {"user": ids[0], "group": ids[1], "extra_groups": []}
    try:
        proc = subprocess.run(
            [python, "-c", f"import {', '.join(modules)}"],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            **kwargs,
        )
    except OSError as exc:
        proc_error = str(exc)
    else:
        if proc.returncode == 0:
            return
        proc_error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unknown error"
    who = f"the '{NODE_USER}' user" if ids is not None else "this user"
    raise LocalClusterError(
        f"{who} cannot run {python} with {', '.join(modules)} ({proc_error}); build the venv from "
        "/usr/bin/python3 in a directory that user can read"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def http_json(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    timeout: float = 3.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """One HTTP request to a local REST API; returns ``(status, parsed JSON or text)``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http on 127.0.0.1
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


# --------------------------------------------------------------------------------------------- etcd


class Etcd:
    """A single-member etcd (v3 API) on 127.0.0.1 with its own data dir and free ports."""

    def __init__(self, base_dir: Path, binary: Path | None = None) -> None:
        """Prepare (not start) an etcd under ``base_dir``."""
        self.binary = binary or find_etcd()
        self.dir = base_dir / "etcd"
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL."""
        return f"http://{HOST}:{self.client_port}"

    @property
    def hosts(self) -> str:
        """``host:port`` for Patroni's ``etcd3.hosts``."""
        return f"{HOST}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        """Pid of the etcd process while it runs."""
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 30.0) -> None:
        """Start etcd and wait until it answers its health check."""
        self.dir.mkdir(parents=True, exist_ok=True)
        peer = f"http://{HOST}:{self.peer_port}"
        log = (self.dir / "etcd.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--name", "pmpp",
                "--data-dir", str(self.dir / "data"),
                "--listen-client-urls", self.url,
                "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"pmpp={peer}",
                "--initial-cluster-state", "new",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise LocalClusterError(f"etcd exited with {self.process.returncode}, see {self.dir}")
            status, body = http_json(f"{self.url}/health", timeout=1)
            return status == 200 and isinstance(body, dict) and body.get("health") == "true"

        wait_for(healthy, timeout=timeout, what="etcd to become healthy")

    def stop(self) -> None:
        """Stop etcd by its pid (SIGTERM, then SIGKILL)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def _prefix_request(self, action: str, prefix: str) -> dict[str, Any]:
        """POST ``/v3/kv/<action>`` for every key under ``prefix`` through the v3 JSON gateway."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        status, body = http_json(
            f"{self.url}/v3/kv/{action}", method="POST", body={"key": _b64(prefix), "range_end": _b64(end)}
        )
        if status != 200 or not isinstance(body, dict):
            raise LocalClusterError(f"etcd {action} of {prefix} failed: {status} {body}")
        return body

    def get_prefix(self, prefix: str) -> dict[str, str]:
        """Keys and values under ``prefix``."""
        import base64

        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in self._prefix_request("range", prefix).get("kvs", [])
        }

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; returns how many there were."""
        return int(self._prefix_request("deleterange", prefix).get("deleted", 0))


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


# --------------------------------------------------------------------------------------------- Patroni


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
        self.pg_bin = pg_bin or find_pg_bin()
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
        ids = _node_ids()
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

    def popen_user_kwargs(self) -> dict[str, Any]:
        """``Popen`` arguments that run a child as the node user when we are root."""
        ids = _node_ids()
        if ids is None:
            return {}
        return {"user": ids[0], "group": ids[1], "extra_groups": []}

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
            **self.popen_user_kwargs(),
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
            **self.popen_user_kwargs(),
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
        return pid if _pid_alive(pid) else None

    def _pg_ctl_stop(self, mode: str) -> None:
        subprocess.run(
            [str(self.pg_bin / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30"],
            capture_output=True,
            check=False,
            cwd="/",
            stdin=subprocess.DEVNULL,
            **self.popen_user_kwargs(),
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
            _wait_pid_gone(postmaster, 30)
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
            if not _wait_pid_gone(postmaster, 15):
                os.kill(postmaster, signal.SIGKILL)
                _wait_pid_gone(postmaster, 15)

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


class Formation:
    """Patroni clusters sharing one etcd and one base directory; stops all it started."""

    def __init__(self, base_dir: Path, etcd: Etcd, *, pg_bin: Path | None = None) -> None:
        """Group nodes under ``base_dir`` using ``etcd``."""
        self.base_dir = base_dir
        self.etcd = etcd
        self.pg_bin = pg_bin or find_pg_bin()
        self.nodes: list[PatroniNode] = []

    def add(self, name: str, scope: str, options: NodeOptions | None = None) -> PatroniNode:
        """Prepare a node (not started)."""
        node = PatroniNode(name, scope, self.base_dir, self.etcd, options, pg_bin=self.pg_bin)
        self.nodes.append(node)
        return node

    def by_name(self, name: str) -> PatroniNode:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def stop_all(self) -> None:
        """Stop every node (replicas first, so the leader does not see a storm of failovers).

        Then delete the DCS keys of their clusters, so that a later formation with the same scope in the
        same etcd bootstraps afresh.
        """
        for node in reversed(self.nodes):
            try:
                node.stop()
            except Exception:
                logger.exception("Stopping node %s failed", node.name)
        for namespace, scope in sorted({(node.namespace, node.scope) for node in self.nodes}):
            try:
                self.etcd.delete_prefix(f"{namespace.rstrip('/')}/{scope}/")
            except (LocalClusterError, OSError):
                logger.exception("Deleting the DCS keys of %s failed", scope)


def cluster_view(nodes: Sequence[PatroniNode]) -> dict[str, Any] | None:
    """``GET /cluster`` from the first node that answers."""
    for node in nodes:
        try:
            code, body = node.api("cluster", timeout=2)
        except OSError:
            continue
        if code == 200 and isinstance(body, dict):
            return body
    return None


def leader_of(nodes: Sequence[PatroniNode]) -> PatroniNode | None:
    """The first of ``nodes`` that runs PostgreSQL as primary and holds its cluster's leader lock, or None."""
    for node in nodes:
        status = node.status()
        if not status or status.get("role") not in ("primary", "master"):
            continue
        if status.get("state") != "running":
            continue
        try:
            code, _ = node.api("leader", timeout=2)
        except OSError:
            continue
        if code == 200:
            return node
    return None


def wait_leader(nodes: Sequence[PatroniNode], timeout: float = 180) -> PatroniNode:
    """Wait until one of ``nodes`` runs as leader."""

    def probe() -> PatroniNode | None:
        for node in nodes:
            if node.process is not None and node.process.poll() is not None:
                raise LocalClusterError(f"{node.name} exited:\n{node.log_tail()}")
        return leader_of(nodes)

    return wait_for(probe, timeout=timeout, what="a running leader")


def wait_streaming(nodes: Sequence[PatroniNode], count: int, timeout: float = 180) -> dict[str, Any]:
    """Wait until the cluster shows a leader and ``count`` streaming replicas; returns ``GET /cluster``."""

    def probe() -> dict[str, Any] | None:
        view = cluster_view(nodes)
        if view is None:
            return None
        members = view.get("members", [])
        leaders = [m for m in members if m.get("role") in ("leader", "primary", "master")]
        streaming = [m for m in members if m.get("state") == "streaming"]
        return view if len(leaders) == 1 and len(streaming) >= count else None

    return wait_for(probe, timeout=timeout, what=f"a leader and {count} streaming replicas")


@contextlib.contextmanager
def local_etcd(base_dir: Path) -> Iterator[Etcd]:
    """An etcd running for the duration of the ``with`` block."""
    etcd = Etcd(base_dir)
    try:
        etcd.start()
        yield etcd
    finally:
        etcd.stop()
