"""Engine modules with observation hooks, written as fake distributions by the status and metrics tests."""

from __future__ import annotations

from conftest import engine_source

OBSERVED_HOOKS = """

import datetime
import enum

from prometheus_client import CollectorRegistry, Counter, Histogram

BEHAVIOUR = {"status": "ok", "metrics": "ok"}
REGISTRY = CollectorRegistry()
EVENTS = Counter("patroni_mpp_{section}_events", "Events handled.", ["type", "outcome"], registry=REGISTRY)
PAUSES = Histogram(
    "patroni_mpp_{section}_pause_seconds", "Client pauses.", buckets=(0.1, 1.0), registry=REGISTRY
)
FOREIGN = Counter("other_thing", "Not ours.", registry=REGISTRY)


class Colour(enum.Enum):
    GREEN = "green"


class Opaque:
    def __str__(self):
        return "opaque-object"


@hookimpl
def mpp_status(handler):
    mode = BEHAVIOUR["status"]
    if mode == "raise":
        raise RuntimeError("status failed for " + handler.postgresql.connection_pool.conn_kwargs["password"])
    if mode == "list":
        return ["not", "a", "mapping"]
    if mode == "secrets":
        return {"config": handler.config, "conn": handler.postgresql.connection_pool.conn_kwargs}
    return {
        "group": handler.group,
        "queue": {"1": ["before_demote"], 2: []},
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "colour": Colour.GREEN,
        "tags": {"b"},
        "ratio": float("nan"),
        "other": Opaque(),
    }


@hookimpl
def mpp_metrics(handler):
    mode = BEHAVIOUR["metrics"]
    if mode == "raise":
        raise RuntimeError("metrics failed")
    if mode == "junk":
        return [42]
    return REGISTRY.collect()
"""


def observed_engine_source(section: str) -> str:
    """Source of an engine serving ``section`` with ``mpp_status`` and ``mpp_metrics`` hooks.

    The module's ``BEHAVIOUR`` dict switches the hooks between answering, raising and answering junk.
    """
    return engine_source(section) + OBSERVED_HOOKS.replace("{section}", section)
