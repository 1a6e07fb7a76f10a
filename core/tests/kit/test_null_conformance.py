"""The Null engine passes the conformance suite (its module lives here: core owns plugins/null)."""

from __future__ import annotations

from patroni_mpp.testing.conformance import EngineConformance, Invalid


class TestNullConformance(EngineConformance):
    engine_name = "null"
    distribution = "patroni-mpp-null"
    valid_configs = ({}, None)
    invalid_configs = (
        {"group": 0},
        {"database": "postgres"},
        Invalid(["not", "a", "mapping"], ""),
        Invalid("text", ""),
    )
    slot_samples = (({"type": "logical", "plugin": "pgoutput", "database": "postgres"}, False),)
    event_samples = (({"type": "before_demote", "group": 1, "leader": "w1", "timeout": 30}, None),)
