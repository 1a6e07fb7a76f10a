"""Client statements of the tests, each on its own connection in a background thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .emulation import Connection
from .node_servers import DBNAME

if TYPE_CHECKING:
    from .server import CitusTestServer

__all__ = ["ClientOperation", "ClientOps"]


class ClientOperation:
    """A client statement running on its own connection in a background thread.

    The connection is opened by :meth:`start` in the calling thread, so :attr:`pid` is known before
    the statement runs. Errors are kept in :attr:`error`, never raised in the thread. Always
    :meth:`close` it (or use it as a context manager): a still-waiting statement is cancelled.

    :param server: the server to connect to.
    :param action: what to run with the connection; its return value goes to :attr:`result`.
    :param dbname: the database to connect to.
    """

    def __init__(
        self, server: CitusTestServer, action: Callable[[Connection], object], dbname: str = DBNAME
    ) -> None:
        self.server = server
        self._action = action
        self._dbname = dbname
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self.pid = 0
        self.result: object = None
        self.error: BaseException | None = None

    def start(self) -> ClientOperation:
        """Connect and start the thread."""
        self._conn = self.server.connect(dbname=self._dbname, application_name="citus-test-client")
        self.pid = self._conn.info.backend_pid
        self._thread = threading.Thread(target=self._run, name=f"citus-client-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._conn is not None
        try:
            self.result = self._action(self._conn)
        except BaseException as exc:  # kept for the test to inspect
            self.error = exc

    @property
    def done(self) -> bool:
        """True once the statement finished (successfully or not)."""
        return self._thread is not None and not self._thread.is_alive()

    def waiting(self) -> bool:
        """True while the statement waits for a lock."""
        return not self.done and self.server.backend_waits_for_lock(self.pid)

    def wait_until_waiting(self, timeout: float = 30.0) -> bool:
        """Poll until the statement waits for a lock (True), or finished / ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while not self.done:
            if self.server.backend_waits_for_lock(self.pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return False

    def join(self, timeout: float = 30.0) -> bool:
        """Wait up to ``timeout`` s for the statement to finish; True when it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def close(self) -> None:
        """Cancel the statement if it still runs, wait for the thread, close the connection."""
        if self._thread is not None and self._thread.is_alive():
            with self.server.connect(application_name="citus-test-probe") as conn:
                conn.execute("SELECT pg_cancel_backend(%s::int)", (self.pid,))
            self._thread.join(30)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def __enter__(self) -> ClientOperation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ClientOps:
    """Starts background client operations and closes them all at the end of the test.

    :param server: the Citus test server.
    """

    def __init__(self, server: CitusTestServer) -> None:
        self.server = server
        self.started: list[ClientOperation] = []

    def write(self, groupid: int, payload: str | None = None) -> ClientOperation:
        """Start a client write to group ``groupid``."""
        op = self.server.start_client_write(groupid, payload)
        self.started.append(op)
        return op

    def read(self, groupid: int) -> ClientOperation:
        """Start a client read of group ``groupid``."""
        op = self.server.start_client_read(groupid)
        self.started.append(op)
        return op

    def close(self) -> None:
        """Cancel and close every started operation."""
        for op in self.started:
            op.close()
