"""Names of configuration sections: Patroni's own, and the engines this project publishes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

NULL_ENGINE = "null"
"""The engine loaded when no MPP section is configured (MPP disabled)."""

ENTRY_POINT_GROUP = "patroni.mpp"
"""Entry-point group of engine plugins; the entry point's name is the section it serves."""

KNOWN_ENGINE_WHEELS: Mapping[str, str] = MappingProxyType(
    {
        "citus": "patroni-mpp-citus",
        "null": "patroni-mpp-null",
        "timescaledb": "patroni-mpp-timescaledb",
    }
)
"""Sections of the engines this project publishes, and the wheel that provides each.

A configuration naming one of these without the plugin installed is an error that says which wheel
to install, never a plain (non-MPP) cluster.
"""

PATRONI_SECTIONS = frozenset(
    {
        # local configuration
        "name", "scope", "namespace", "log", "ctl", "restapi", "bootstrap", "postgresql",
        "watchdog", "tags", "thread_pool_size", "thread_stack_size",
        # DCS sections
        "consul", "etcd", "etcd3", "exhibitor", "kubernetes", "raft", "zookeeper",
        # dynamic settings, also accepted at the top level of the local configuration
        "ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode",
        "max_timelines_history", "primary_start_timeout", "primary_stop_timeout",
        "master_start_timeout", "master_stop_timeout", "synchronous_mode",
        "synchronous_mode_strict",
        "synchronous_node_count", "check_timeline", "standby_cluster", "slots", "ignore_slots",
        "failsafe_mode", "member_slots_ttl",
    }
)  # fmt: skip
"""Top-level keys that Patroni understands; any other key no engine claims is warned about."""
