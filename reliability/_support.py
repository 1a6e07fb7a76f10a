"""Helpers of the reliability suite (plain functions and classes; fixtures live in conftest.py)."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from patroni_mpp.testing.polling import wait_for
from patroni_mpp_citus.testing.emulation import wait_metadata_synced
from patroni_mpp_citus.testing.handler_formation import engine_threads
from patroni_mpp_citus.testing.server import CitusTestServer

logger = logging.getLogger(__name__)


def no_engine_threads() -> bool:
    """True when no engine thread is left (waits a little for threads that are ending)."""
    return wait_for(lambda: not engine_threads(), timeout=10)


class LogRecorder(logging.Handler):
    """Keeps every record, and the full text it would print (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Store the record and its rendering."""
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        if record.stack_info:
            text += "\n" + record.stack_info
        with self._lock2:
            self.records.append(record)
            self.texts.append(text)

    def all_text(self) -> str:
        """Every record's text, one after the other."""
        with self._lock2:
            return "\n".join(self.texts)

    def messages(self, logger_prefix: str = "", level: int = logging.DEBUG) -> list[str]:
        """Messages of records from loggers starting with ``logger_prefix`` at ``level`` or above."""
        with self._lock2:
            return [
                r.getMessage()
                for r in self.records
                if r.name.startswith(logger_prefix) and r.levelno >= level
            ]


def exception_text(exc: BaseException) -> str:
    """An exception as a traceback would show it: its chain of causes and contexts included."""
    return "".join(traceback.format_exception(exc))


def metadata_synced(citus: CitusTestServer, timeout: float = 15.0) -> bool:
    """Wait until Citus has synced its metadata to every metadata node (real or emulated daemon).

    After an effective ``citus_update_node`` real Citus marks the metadata unsynced until its
    maintenance daemon has synced every metadata node, and refuses ``citus_add_node`` /
    ``citus_remove_node`` meanwhile; a primary row renamed to an address nothing listens on is never
    synced.
    """
    with citus.connect(application_name="reliability-probe") as conn:
        return wait_metadata_synced(conn, timeout)


def unsynced_nodes(citus: CitusTestServer) -> list[tuple[int, str, int]]:
    """``(groupid, nodename, nodeport)`` of the primary metadata nodes Citus has not synced."""
    with citus.connect(application_name="reliability-probe") as conn:
        rows = conn.execute(
            "SELECT groupid, nodename, nodeport FROM pg_catalog.pg_dist_node "
            "WHERE hasmetadata AND NOT metadatasynced AND isactive AND noderole = 'primary' "
            "ORDER BY nodeid"
        ).fetchall()
    return [(int(g), str(n), int(p)) for g, n, p in rows]


def assert_metadata_settles(citus: CitusTestServer) -> None:
    """Fail when the test left metadata that Citus does not sync.

    Called at the teardown of the tests that register nodes: a primary row left at an address
    nothing listens on would keep Citus refusing every later ``citus_add_node`` /
    ``citus_remove_node`` (SQLSTATE 55000). Real Citus's maintenance daemon syncs; so does the
    emulated one, which models the same rule with its registry of reachable addresses.
    """
    assert metadata_synced(citus), (
        f"the test left metadata that Citus does not sync: unsynced nodes {unsynced_nodes(citus)}"
    )


@contextmanager
def broken_function(citus: CitusTestServer, name: str) -> Iterator[None]:
    """Make ``pg_catalog.<name>`` raise ``injected failure of <name>``; restored when the block ends.

    Works on the emulation (a PL/pgSQL function) and on real Citus (a C function of the extension):
    the function is replaced, with the same signature, by a PL/pgSQL body that raises, and the
    original definition (``pg_get_functiondef``) is executed again afterwards.
    """
    with citus.connect(application_name="reliability-fault") as conn:
        rows = conn.execute(
            "SELECT pg_catalog.pg_get_functiondef(p.oid), pg_catalog.pg_get_function_arguments(p.oid), "
            "pg_catalog.pg_get_function_result(p.oid) FROM pg_catalog.pg_proc p "
            "WHERE p.proname = %s AND p.pronamespace = 'pg_catalog'::regnamespace",
            (name,),
        ).fetchall()
        assert len(rows) == 1, f"expected one pg_catalog.{name}, found {len(rows)}"
        original, arguments, result = (str(value) for value in rows[0])
        if citus.is_real:
            # a function of the extension is not distributed, but never let Citus propagate this
            conn.execute("SET citus.enable_ddl_propagation TO off")
        conn.execute(
            f"CREATE OR REPLACE FUNCTION pg_catalog.{name}({arguments}) RETURNS {result} "
            f"LANGUAGE plpgsql AS $fault$ BEGIN RAISE EXCEPTION 'injected failure of {name}'; END $fault$"
        )
        try:
            yield
        finally:
            conn.execute(original)
            restored = conn.execute(
                "SELECT pg_catalog.pg_get_functiondef(p.oid) FROM pg_catalog.pg_proc p "
                "WHERE p.proname = %s AND p.pronamespace = 'pg_catalog'::regnamespace",
                (name,),
            ).fetchall()
            assert [str(row[0]) for row in restored] == [original], f"{name} was not restored"


def reset_citus(citus: CitusTestServer) -> None:
    """Empty the node metadata for the next test, on real Citus as on the emulation.

    :meth:`CitusTestServer.reset` removes the rows with ``citus_remove_node``, which real Citus
    refuses while a metadata node is out of sync: wait for the sync first. When a test left a primary
    row at an address nothing listens on (the sync never comes), the rows are deleted directly, so
    that one broken test does not break every later one (the test itself fails at its teardown, see
    the ``citus`` fixture).
    """
    if citus.is_real and not metadata_synced(citus):
        logger.warning("metadata never synced (%s): deleting the node rows directly", unsynced_nodes(citus))
        with citus.connect(application_name="citus-test-reset") as conn:
            conn.execute("DELETE FROM pg_catalog.pg_dist_node")
    citus.reset()
