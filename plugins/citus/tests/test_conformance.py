"""The patroni-mpp conformance suite, run against the Citus engine (real or emulated Citus)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from patroni_mpp import AbstractMPPHandler
from patroni_mpp.testing.conformance import Coordinator, EngineConformance, Invalid
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp_citus import CitusEventError, CitusHandler
from patroni_mpp_citus.testing.server import CitusTestServer

SHARD_SLOT = {"type": "logical", "plugin": "pgoutput", "database": "citus"}
"""A logical slot in the Citus database, as a shard move creates it (without its name)."""


class TestCitusConformance(EngineConformance):
    """Contract checks of the ``citus`` engine, on the session's Citus test server."""

    engine_name = "citus"
    distribution = "patroni-mpp-citus"
    valid_configs = (Coordinator({"group": 0, "database": "citus"}), {"group": 1, "database": "citus"})
    invalid_configs = (
        Invalid({"database": "citus"}, "group"),
        Invalid({"group": -1, "database": "citus"}, "group"),
        Invalid({"group": "1.5", "database": "citus"}, "group"),
        Invalid({"group": 0}, "database"),
        Invalid({"group": 0, "database": ""}, "database"),
        Invalid({"group": True, "database": "citus"}, "group"),
    )
    unknown_keys = "ignore"  # as Patroni ignores them in its citus section
    slot_samples = (
        (SHARD_SLOT | {"name": "citus_shard_move_slot_1_2_3"}, True),
        (SHARD_SLOT | {"name": "citus_shard_split_slot_1_2_3", "plugin": "citus"}, True),
        (SHARD_SLOT | {"name": "citus_shard_split_slot_1_2_3"}, False),  # a split decodes with citus
        (SHARD_SLOT | {"name": "citus_shard_move_slot_1_2_3", "database": "postgres"}, False),
        (SHARD_SLOT | {"name": "my_slot"}, False),
        (SHARD_SLOT, False),  # Patroni 4.1.5 passes no name: not kept
        ({"type": "physical", "name": "citus_shard_move_slot_1_2_3"}, False),
    )
    event_samples = (
        # well formed, from a group the DCS view does not know: discarded
        ({"type": "before_demote", "group": 7, "leader": "w7", "timeout": 30, "cooldown": 10}, None),
        ({"type": "after_promote", "group": 7, "leader": "w7", "timeout": 30, "cooldown": 10}, None),
        ({"type": "before_demote", "group": "x", "leader": "w7", "timeout": 30}, CitusEventError),
        ({"type": "no_such_event", "group": 7, "leader": "w7", "timeout": 30}, CitusEventError),
        ({"group": 7, "leader": "w7"}, CitusEventError),
        (["not", "an", "object"], CitusEventError),
    )

    def stop_handler(self, handler: AbstractMPPHandler) -> None:
        """Stop the coordinator's worker thread."""
        assert isinstance(handler, CitusHandler)
        assert handler.close(), "the Citus worker thread did not stop"

    @pytest.fixture
    def mpp_postgresql(self, citus: CitusTestServer) -> Iterator[LocalPostgresql]:
        """The host object of the Citus test server (metadata emptied first)."""
        postgresql = LocalPostgresql("citus-conformance", citus.host, citus.port)
        try:
            yield postgresql
        finally:
            postgresql.close()

    @pytest.fixture
    def mpp_bootstrap_postgresql(self) -> Iterator[LocalPostgresql]:
        """A freshly started Citus test server, as ``bootstrap()`` finds a new cluster."""
        server = CitusTestServer.start()
        postgresql = LocalPostgresql("citus-bootstrap", server.host, server.port)
        try:
            yield postgresql
        finally:
            postgresql.close()
            server.stop()
