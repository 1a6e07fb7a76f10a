"""The TimescaleDB engine passes the patroni-mpp conformance suite."""

from __future__ import annotations

import pytest
from patroni_mpp.testing.conformance import Coordinator, EngineConformance, Invalid
from patroni_mpp_timescaledb import TimescaleDBNotInstalledError


class TestTimescaleDBConformance(EngineConformance):
    engine_name = "timescaledb"
    distribution = "patroni-mpp-timescaledb"
    valid_configs = (
        Coordinator({"database": "tsdb"}),
        Coordinator({"database": "postgres", "group": 0}),
        {"database": "metrics", "group": 3},
    )
    invalid_configs = (
        Invalid({}, "database"),
        Invalid({"database": ""}, "database"),
        Invalid({"database": "x" * 64}, "database"),
        Invalid({"database": "tsdb", "group": -1}, "group"),
        Invalid({"database": "tsdb", "group": "one"}, "group"),
        Invalid({"database": "tsdb", "nodes": ["a"]}, "nodes"),
        Invalid("tsdb", ""),
        Invalid({"database": "tsdb", "group": True}, "group"),
    )
    # TimescaleDB creates no slots of its own: the host manages every slot
    slot_samples = (
        ({"type": "logical", "plugin": "pgoutput", "database": "tsdb", "name": "my_slot"}, False),
        ({"type": "physical", "name": "node2"}, False),
    )
    # one group, nothing to coordinate: events are accepted and ignored
    event_samples = (
        ({"type": "before_demote", "group": 1, "leader": "n2", "timeout": 30, "cooldown": 10}, None),
    )

    @pytest.fixture
    def expected_bootstrap_error(self, available_extensions: set[str]) -> type[BaseException] | None:
        """Without the TimescaleDB package on the test server, bootstrap must say so."""
        return None if "timescaledb" in available_extensions else TimescaleDBNotInstalledError
