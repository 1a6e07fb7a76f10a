"""A single-member etcd (v3 API) on 127.0.0.1, the DCS of the toolkit's Patroni nodes; stopped by its pid."""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from patroni_mpp.testing.environment import getenv
from patroni_mpp.testing.network import HOST, free_port, http_json
from patroni_mpp.testing.polling import wait_for
from patroni_mpp.testing.processes import LocalClusterError

ETCD_BIN_ENV = "PATRONI_MPP_ETCD_BIN"
"""The etcd server binary, when set."""


def find_etcd() -> Path:
    """The etcd server binary: ``$PATRONI_MPP_ETCD_BIN``, ``etcd`` on PATH or ``/usr/bin/etcd``.

    :raises LocalClusterError: when etcd is not installed.
    """
    for candidate in (getenv(ETCD_BIN_ENV), shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise LocalClusterError(f"etcd is not installed (apt-get install etcd-server, or set {ETCD_BIN_ENV})")


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

        wait_for(healthy, timeout, interval=0.25, what="etcd to become healthy")

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
        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in self._prefix_request("range", prefix).get("kvs", [])
        }

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; returns how many there were."""
        return int(self._prefix_request("deleterange", prefix).get("deleted", 0))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@contextlib.contextmanager
def local_etcd(base_dir: Path) -> Iterator[Etcd]:
    """An etcd running for the duration of the ``with`` block."""
    etcd = Etcd(base_dir)
    try:
        etcd.start()
        yield etcd
    finally:
        etcd.stop()
