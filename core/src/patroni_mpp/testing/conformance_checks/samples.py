"""The sample data of the conformance checks: what the host may hand an engine."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from ..._abstract import AbstractMPP

GROUP_STRINGS: tuple[str, ...] = (
    "0", "1", "2", "10", "99", "12345", "007", "00",
    "-1", "+1", "1.0", "1e3", "0x1", "1_000", " 1", "1 ", "1\n", "\n", "", "\u0663", "\uff11",
    "\u00b2", "a", "1a", "a1", "null", "None", "leader", "members", "config", "initialize", "sync",
    "failover", "history", "status", "failsafe", "optime",
)  # fmt: skip
"""Strings a DCS may present where a group id is expected: key path parts, Kubernetes label values.

Includes the canonical ids, strings ``int()`` accepts but that are not canonical (``"007"``,
``" 1"``, ``"1_000"``, non-ASCII digits), strings it rejects (``""``, ``"1.0"``, ``"\u00b2"``), and
the names of Patroni's own keys.
"""

JUNK_SECTIONS: tuple[Any, ...] = (
    None, 0, 1, -1, 1.5, True, "", "x", [], [1], (), {}, {"group": "x"}, {"group": None},
    {"group": -1}, {"database": 5}, {"group": 0, "database": None}, {"unknown": object()},
)  # fmt: skip
"""Raw section values of every kind; ``validate_config`` must answer each with a bool."""

EVENT_TYPES: tuple[str, ...] = ("before_demote", "before_promote", "after_promote", "unknown_event")
"""Event types sent to ``handle_event``: the three the host sends, and one it may send later."""

PRELOAD_SAMPLES: tuple[str | None, ...] = (
    None, "", "pg_stat_statements", "pg_stat_statements,auto_explain",
    " pg_stat_statements , auto_explain ", '"pg_stat_statements",pg_cron',
)  # fmt: skip
"""Values of ``shared_preload_libraries`` handed to ``adjust_postgres_gucs`` (None: key absent)."""

BASE_PARAMETERS: Mapping[str, Any] = {
    "max_connections": 100,
    "max_prepared_transactions": 0,
    "max_locks_per_transaction": 64,
    "max_worker_processes": 8,
    "wal_level": "replica",
    "hot_standby": "on",
    "cluster_name": "conformance",
    "listen_addresses": "127.0.0.1",
    "port": 5432,
}
"""A GUC dict shaped like the one the host computes (defaults, cluster name, addresses)."""


def sample_events(engine: AbstractMPP) -> list[dict[str, Any]]:
    """Well-formed worker notifications from a group that is not in the view.

    :param engine: the descriptor (its group is avoided).
    """
    candidates = (engine.group, engine.coordinator_group_id)
    ids = [v for v in candidates if isinstance(v, int) and not isinstance(v, bool)]
    group = max(ids, default=0) + 1
    return [
        {
            "type": kind,
            "group": group,
            "leader": "conformance-worker",
            "timeout": 30,
            "cooldown": 10,
        }
        for kind in EVENT_TYPES
    ]


WRONG_EVENT_VALUES: Mapping[str, tuple[Any, ...]] = {
    "type": (None, 5, ["after_promote"], "", "no_such_event"),
    "group": (None, "x", "1", 1.5, True, -1, [1], {"id": 1}),
    "leader": (None, 5, "", ["worker"], {"name": "worker"}),
    "timeout": (None, "30", -1, [], {}),
    "cooldown": (None, "10", [], {}),
}
"""Values of the wrong type (or out of range) for each key of an event, as JSON can carry them."""


def malformed_events(engine: AbstractMPP) -> list[tuple[str, Any]]:
    """Request bodies a worker (or anyone reaching the REST API) may send, each with what is wrong.

    Built from a well-formed ``after_promote`` (an event no engine waits on): JSON values that are
    not objects, the empty object, each key missing, each key with wrong values, an unknown type
    alone, and an unknown extra key (which a newer sender may add).

    :param engine: the descriptor (its group is avoided).
    """
    base = next(event for event in sample_events(engine) if event["type"] == "after_promote")
    events: list[tuple[str, Any]] = [
        (f"a JSON {type(value).__name__}, not an object", value)
        for value in (None, "after_promote", 5, True, [], [base])
    ]
    events.append(("an empty object", {}))
    events += [(f"no {key!r}", {k: v for k, v in base.items() if k != key}) for key in base]
    events += [
        (f"{key!r} is {value!r}", {**base, key: value})
        for key, values in WRONG_EVENT_VALUES.items()
        for value in values
    ]
    events.append(("an unknown type and nothing else", {"type": "no_such_event"}))
    events.append(("an unknown extra key", {**base, "sender_version": {"major": 9}}))
    return events


class CaseInsensitiveParameters(MutableMapping[str, Any]):
    """A GUC mapping whose keys compare case-insensitively, like the dict the host passes.

    The host's dict is not a :class:`dict` subclass: an engine must use it through the mapping
    interface (``[]``, ``get``, ``setdefault``, ``in``, ``copy``).
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        """:param data: initial entries."""
        self._data: dict[str, tuple[str, Any]] = {}
        if data:
            self.update(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key.lower()][1]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key.lower()] = (key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"

    def copy(self) -> CaseInsensitiveParameters:
        """A shallow copy."""
        return CaseInsensitiveParameters(self)

    def lowered(self) -> dict[str, Any]:
        """The entries with lower-cased keys (for comparisons)."""
        return {key: value for key, (_, value) in self._data.items()}


def parameter_samples() -> Iterator[tuple[str, Any]]:
    """GUC dicts and case-insensitive mappings for ``adjust_postgres_gucs``, each with a description."""
    for preload in PRELOAD_SAMPLES:
        base = dict(BASE_PARAMETERS)
        if preload is not None:
            base["shared_preload_libraries"] = preload
        yield f"dict with shared_preload_libraries={preload!r}", base
        yield (
            f"case-insensitive mapping with shared_preload_libraries={preload!r}",
            CaseInsensitiveParameters(base),
        )
    mixed = CaseInsensitiveParameters(BASE_PARAMETERS)
    mixed["Shared_Preload_Libraries"] = "pg_stat_statements"
    mixed["Max_Connections"] = 100
    yield "case-insensitive mapping with mixed-case keys", mixed


def slot_databases(engine: AbstractMPP, maintenance_database: str) -> list[str]:
    """The databases to put in logical slot samples: the engine's own ``database``, then the host's.

    :param engine: the descriptor (its config's ``database``, when it is a string, comes first).
    :param maintenance_database: the host PostgreSQL object's database.
    """
    database = engine.config.get("database")
    return [database, maintenance_database] if isinstance(database, str) else [maintenance_database]


def sample_slots(databases: Iterable[str]) -> list[dict[str, Any]]:
    """Slot dicts as the host's slot manager may pass them, many keys missing.

    :param databases: database names to put in logical slots (the engine's own among them).
    """
    slots: list[dict[str, Any]] = [
        {},
        {"type": None},
        {"name": "orphan"},
        {"type": "physical"},
        {"type": "physical", "xmin": None, "restart_lsn": "0/3000000", "wal_status": "reserved"},
        {"type": "logical"},
    ]
    for database in dict.fromkeys(databases):
        slots.append({"type": "logical", "database": database})
        slots.append({"type": "logical", "database": database, "plugin": "pgoutput"})
        for plugin in ("pgoutput", "citus", "test_decoding"):
            full = {
                "type": "logical",
                "plugin": plugin,
                "database": database,
                "datoid": 16384,
                "catalog_xmin": 750,
                "confirmed_flush_lsn": "0/3000148",
                "wal_status": "reserved",
            }
            slots.append(full)
            for name in ("citus_shard_move_slot_1_2_3", "citus_shard_split_slot_1_2_3", "my_slot"):
                slots.append({**full, "name": name})
    return slots
