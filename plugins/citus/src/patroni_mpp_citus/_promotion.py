"""Watching a worker being promoted, so that its group's pause ends as soon as it can take writes.

After ``before_promote`` the coordinator holds the group paused inside an open transaction. Patroni
sends ``after_promote`` only after its next member-key write (about a second after the promotion);
the watch polls ``pg_is_in_recovery()`` on the promoted node and asks the worker to commit as soon as
it answers false, bounded by the transaction's deadline.

Trust: the watch connects to the address the DCS names for the promoted member, as the coordinator's
local superuser (its credentials from Patroni's configuration), to the Citus database. Whoever can
write the DCS can point it at a server of theirs. That server never gets the password: the watch asks
libpq to refuse cleartext and md5 authentication (``require_auth=!password,!md5``; SCRAM proves the
password without revealing it). A libpq older than 16 knows no ``require_auth``: there the watch
connects without the password (it then works only where the superuser needs none, such as ``trust`` or
certificates). TLS settings of the local superuser (``sslmode``, ``sslrootcert``, ...) are kept, so
``sslmode=verify-full`` authenticates the server as well. ``citus.watch_promotions: false`` switches
the watch off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ._model import Task

__all__ = ["POLL_INTERVAL", "REQUIRE_AUTH", "PromotionWatch", "libpq_version", "watch_params"]

logger = logging.getLogger(__name__)

PROMOTION_THREAD_PREFIX = "citus-promotion-watch"
"""Name prefix of the short-lived threads watching a node being promoted (the group id follows)."""

POLL_INTERVAL = 0.05
"""Seconds between two ``pg_is_in_recovery()`` probes."""

APPLICATION_NAME = "Patroni citus promotion watch"

REQUIRE_AUTH = "!password,!md5"
"""libpq ``require_auth`` of the watch when it has a password: never to a cleartext or md5 request."""

REQUIRE_AUTH_LIBPQ = 160000
"""The first libpq version (16) that knows ``require_auth``."""

_SECRETS = ("password", "passfile")
_KEPT_KEYS = (
    "user", *_SECRETS, "sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert",
    "sslcrl", "sslcrldir", "sslnegotiation", "gssencmode", "channel_binding", "krbsrvname",
)  # fmt: skip


def libpq_version() -> int:
    """The version of the libpq psycopg uses (for example 180006), 0 when it cannot be told."""
    try:
        import psycopg

        return int(psycopg.pq.version())
    except Exception:
        return 0


def watch_params(
    local: dict[str, Any], host: str, port: int, dbname: str, libpq: int | None = None
) -> dict[str, Any]:
    """Connection parameters for the promoted node: the local superuser's credentials, its address.

    :param local: the host's local superuser connection parameters.
    :param host: the promoted node's host.
    :param port: its port.
    :param dbname: a database that exists on every node (the citus database).
    :param libpq: the libpq version (default: :func:`libpq_version`).
    :returns: the parameters; with a password they carry :data:`REQUIRE_AUTH`, and without a libpq
        that honours it they carry no password at all.
    """
    params = {key: local[key] for key in _KEPT_KEYS if local.get(key) is not None}
    if any(key in params for key in _SECRETS):
        if (libpq_version() if libpq is None else libpq) >= REQUIRE_AUTH_LIBPQ:
            params["require_auth"] = REQUIRE_AUTH
        else:
            for key in _SECRETS:
                params.pop(key, None)
    params.update(
        host=host,
        port=port,
        dbname=dbname,
        connect_timeout=2,
        application_name=APPLICATION_NAME,
        options="-c statement_timeout=2000",
    )
    return params


class PromotionWatch:
    """One short-lived daemon thread polling the node a ``before_promote`` task promotes.

    :param task: the in-flight ``before_promote`` task.
    :param params: connection parameters of the promoted node (see :func:`watch_params`).
    :param still_waiting: tells whether ``task`` still holds the open transaction.
    :param promoted: called once when the node is out of recovery.
    :param interval: seconds between probes.
    """

    def __init__(
        self,
        task: Task,
        params: dict[str, Any],
        still_waiting: Callable[[Task], bool],
        promoted: Callable[[Task], None],
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.task = task
        self._params = params
        self._still_waiting = still_waiting
        self._promoted = promoted
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"{PROMOTION_THREAD_PREFIX}-{task.groupid}", daemon=True
        )

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop polling and wait for the thread; True when it ended."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        import psycopg

        conn: Any = None
        failures = 0
        address = f"{self._params['host']}:{self._params['port']}"
        try:
            while not self._stop.is_set() and time.monotonic() < self.task.deadline:
                if not self._still_waiting(self.task):
                    return
                try:
                    if conn is None:
                        conn = psycopg.connect(autocommit=True, **self._params)
                    row = conn.execute("SELECT pg_catalog.pg_is_in_recovery()").fetchone()
                except psycopg.Error as exc:
                    failures += 1
                    if failures == 1:
                        logger.debug("Cannot probe %s for its promotion yet: %s", address, exc)
                    if conn is not None:
                        conn.close()
                        conn = None
                else:
                    if row is not None and row[0] is False:
                        logger.info(
                            "%s (group %s) is out of recovery: ending the pause without waiting "
                            "for after_promote",
                            address,
                            self.task.groupid,
                        )
                        self._promoted(self.task)
                        return
                self._stop.wait(self._interval)
        except Exception:
            logger.exception("Promotion watch of %s failed", address)
        finally:
            if conn is not None:
                conn.close()
