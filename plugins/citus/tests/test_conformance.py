"""The patroni-mpp conformance suite, run against the Citus engine (real or emulated Citus)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from patroni_mpp import AbstractMPPHandler
from patroni_mpp.testing.conformance import EngineConformance, Invalid
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp_citus import CitusHandler
from patroni_mpp_citus.testing.server import CitusTestServer


class TestCitusConformance(EngineConformance):
    """Contract checks of the ``citus`` engine, on the session's Citus test server."""

    engine_name = "citus"
    distribution = "patroni-mpp-citus"
    valid_configs = ({"group": 0, "database": "citus"}, {"group": 1, "database": "citus"})
    invalid_configs = (
        Invalid({"database": "citus"}, "group"),
        Invalid({"group": -1, "database": "citus"}, "group"),
        Invalid({"group": "1.5", "database": "citus"}, "group"),
        Invalid({"group": 0}, "database"),
        Invalid({"group": 0, "database": ""}, "database"),
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
