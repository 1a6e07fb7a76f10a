"""The Citus test server as pytest fixtures use it: started, emptied between tests, checked after.

:func:`citus_test_server` runs a server for a fixture's scope; it skips without PostgreSQL and
fails when real Citus is required but missing; :func:`reset_citus` empties the node metadata for the
next test, and :func:`assert_metadata_settles` fails a test that left metadata Citus cannot sync.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from patroni_mpp.testing.postgres import PostgresUnavailable

from .emulation import wait_metadata_synced
from .formation import PROBE_APP
from .server import CitusTestServer, CitusUnavailableError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def citus_test_server() -> Iterator[CitusTestServer]:
    """A started Citus test server, stopped (by pid) on leaving.

    Skips the test without PostgreSQL, fails it when real Citus is required but missing.
    """
    try:
        server = CitusTestServer.start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    except CitusUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def metadata_synced(citus: CitusTestServer, timeout: float = 15.0) -> bool:
    """Wait until Citus has synced its metadata to every metadata node (real or emulated daemon).

    After an effective ``citus_update_node`` real Citus marks the metadata unsynced until its
    maintenance daemon has synced every metadata node, and refuses ``citus_add_node`` /
    ``citus_remove_node`` meanwhile; a primary row renamed to an address nothing listens on is never
    synced.
    """
    with citus.connect(application_name=PROBE_APP) as conn:
        return wait_metadata_synced(conn, timeout)


def unsynced_nodes(citus: CitusTestServer) -> list[tuple[int, str, int]]:
    """``(groupid, nodename, nodeport)`` of the primary metadata nodes Citus has not synced."""
    with citus.connect(application_name=PROBE_APP) as conn:
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
