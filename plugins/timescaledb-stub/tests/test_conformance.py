"""The TimescaleDB engine passes the patroni-mpp conformance suite."""

from __future__ import annotations

import pytest
from patroni_mpp.testing.conformance import EngineConformance, Invalid
from patroni_mpp_timescaledb import TimescaleDBNotInstalledError


class TestTimescaleDBConformance(EngineConformance):
    engine_name = "timescaledb"
    distribution = "patroni-mpp-timescaledb"
    valid_configs = (
        {"database": "tsdb"},
        {"database": "postgres", "group": 0},
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
    )

    @pytest.fixture
    def expected_bootstrap_error(self, available_extensions: set[str]) -> type[BaseException] | None:
        """Without the TimescaleDB package on the test server, bootstrap must say so."""
        return None if "timescaledb" in available_extensions else TimescaleDBNotInstalledError
