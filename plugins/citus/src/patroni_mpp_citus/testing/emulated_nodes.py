"""The node addresses of the emulation: made-up addresses registered reachable (never contacted).

Real Citus connects to a primary it adds; the emulation instead checks its table of reachable
addresses (``citus_emulation.reachable_node``), kept alike in every Citus database of the test
server. Node ``index`` is ``192.0.2.<index>:5432`` (TEST-NET-1, never routed), with an alias
``198.51.100.<index>:5432`` (TEST-NET-2) that goes down and up with it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from patroni_mpp.testing.postgres import PostgresServer

from .emulation import Connection, register_reachable_node, set_node_reachable
from .node_servers import DBNAME

__all__ = ["EmulatedNodes"]

_NODE = "192.0.2.{index}"
_ALIAS = "198.51.100.{index}"
_PORT = 5432


class EmulatedNodes:
    """The addresses registered reachable in the emulation, in every Citus database.

    :param server: the test server holding the emulation.
    :param databases: its Citus databases (the caller's list).
    """

    def __init__(self, server: PostgresServer, databases: list[str]) -> None:
        self.server = server
        self.databases = databases
        self._registered: set[tuple[str, int]] = set()

    def _connect(self, dbname: str) -> Connection:
        params: dict[str, Any] = self.server.conninfo(dbname, application_name="citus-test-setup")
        return psycopg.connect(autocommit=True, **params)

    def address(self, index: int) -> tuple[str, int]:
        """The address of node ``index``, registered reachable."""
        address = (_NODE.format(index=index), _PORT)
        self.register(address, index)
        return address

    def alias(self, index: int) -> tuple[str, int]:
        """Another address of node ``index`` (registered with it), reachable while it is."""
        self.address(index)
        address = (_ALIAS.format(index=index), _PORT)
        self.register(address, index)
        return address

    def register(self, address: tuple[str, int], index: int | None) -> None:
        """Register ``address`` reachable (as node ``index``, or a server of its own: None)."""
        if address in self._registered:
            return
        for database in self.databases:
            with self._connect(database) as conn:
                register_reachable_node(conn, address[0], address[1], index)
        self._registered.add(address)

    def set_reachable(self, index: int, reachable: bool) -> None:
        """Take node ``index`` (its addresses) down or bring it back, in every database.

        :raises ValueError: when node ``index`` was never used.
        """
        for database in self.databases:
            with self._connect(database) as conn:
                if not set_node_reachable(conn, index, reachable) and not reachable:
                    raise ValueError(f"node {index} was never used (call node_address({index}) first)")

    def copy_to(self, name: str) -> None:
        """The addresses registered in ``citus`` are registered (and up or down) in ``name`` too."""
        with self._connect(DBNAME) as source:
            rows = source.execute(
                "SELECT nodename, nodeport, node_index, reachable FROM citus_emulation.reachable_node"
            ).fetchall()
        with self._connect(name) as target:
            for host, port, index, reachable in rows:
                register_reachable_node(target, str(host), int(port), index)
                if not reachable and index is not None:
                    set_node_reachable(target, int(index), False)
