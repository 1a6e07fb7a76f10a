"""A test engine whose handler records every call Patroni makes into it.

Built into a wheel by the end-to-end tests and installed next to the Patroni nodes, it proves that the
hooks run inside a real Patroni: each call appends one JSON line to ``<record_dir>/<member>.jsonl``.
``adjust_postgres_gucs`` sets the harmless custom GUC ``e2eprobe.marker``, visible through ``SHOW``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from typing import Any, ClassVar

from patroni_mpp import GROUP_RE, AbstractMPP, AbstractMPPHandler, ClusterLike, PostgresqlLike, hookimpl
from pydantic import BaseModel, ConfigDict, Field

SECTION = "e2eprobe"
GUC = "e2eprobe.marker"


class ProbeConfig(BaseModel):
    """The ``e2eprobe`` section."""

    model_config = ConfigDict(extra="forbid")

    group: int = Field(ge=0, description="group id; 0 is the coordinator")
    record_dir: str = Field(min_length=1, description="directory the calls are recorded in")
    marker: str = Field(default="on", pattern=r"^[a-z0-9_]+$", description="value of e2eprobe.marker")
    keep_slot_prefix: str = Field(default="probe_", description="slots with this prefix are kept")


class E2eprobe(AbstractMPP):
    """Descriptor of the probe engine: group 0 coordinates."""

    group_re: ClassVar[re.Pattern[str]] = GROUP_RE

    @staticmethod
    def validate_config(config: Any) -> bool:
        """A mapping with an int group and a record directory."""
        return (
            isinstance(config, dict)
            and isinstance(config.get("group"), int)
            and isinstance(config.get("record_dir"), str)
        )

    @property
    def group(self) -> int:
        """The configured group."""
        return int(self.config["group"])

    @property
    def coordinator_group_id(self) -> int:
        """Group 0."""
        return 0


class E2eprobeHandler(E2eprobe, AbstractMPPHandler):
    """Records every call (thread-safe, one JSON line each)."""

    def __init__(self, postgresql: PostgresqlLike, config: dict[str, Any]) -> None:
        """Record the creation of the handler."""
        super().__init__(postgresql, config)
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.events: dict[str, int] = {}
        self._record("handler_created", {})

    def _record(self, call: str, details: dict[str, Any]) -> None:
        line = {"call": call, "member": self.postgresql.name, "pid": os.getpid(), "time": time.time()}
        line.update(details)
        path = os.path.join(self.config["record_dir"], f"{self.postgresql.name}.jsonl")
        with self._lock, open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")
            self.calls[call] = self.calls.get(call, 0) + 1
            if call == "handle_event":
                kind = str(details["event"].get("type"))
                self.events[kind] = self.events.get(kind, 0) + 1

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Copies of the calls by method and the events by type counted so far."""
        with self._lock:
            return dict(self.calls), dict(self.events)

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """Record the event and the workers the coordinator sees; reject the type ``invalid``."""
        if event.get("type") == "invalid":
            raise ValueError("type: 'invalid' is not an event type")
        self._record("handle_event", {"event": event, "workers": sorted(cluster.workers)})

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Record the cycle's view: leader and worker groups with their leaders."""
        workers = {
            str(group): (worker.leader.name if worker.leader is not None else None)
            for group, worker in cluster.workers.items()
        }
        self._record("sync_meta_data", {"leader": cluster.leader_name, "workers": workers})

    def on_demote(self) -> None:
        """Record."""
        self._record("on_demote", {})

    def schedule_cache_rebuild(self) -> None:
        """Record."""
        self._record("schedule_cache_rebuild", {})

    def bootstrap(self) -> None:
        """Record (called once, after initdb, on the new cluster's first member)."""
        self._record("bootstrap", {"group": self.group})

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Set the marker GUC."""
        parameters[GUC] = self.config["marker"]
        self._record("adjust_postgres_gucs", {})

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """Keep slots named with the configured prefix; record what the host passed."""
        self._record("ignore_replication_slot", {"slot": dict(slot)})
        return str(slot.get("name", "")).startswith(self.config["keep_slot_prefix"])


@hookimpl
def mpp_config_model(name: str) -> type[BaseModel] | None:
    """The probe's model."""
    return ProbeConfig if name == SECTION else None


@hookimpl
def mpp_engine_class(name: str) -> type[AbstractMPP] | None:
    """The probe's descriptor."""
    return E2eprobe if name == SECTION else None


@hookimpl
def mpp_status(handler: AbstractMPPHandler) -> dict[str, Any] | None:
    """What the probe counted, from memory (with the section, which holds no secret)."""
    if not isinstance(handler, E2eprobeHandler):
        return None
    calls, events = handler.counts()
    return {"marker": handler.config["marker"], "calls": calls, "events": events}


@hookimpl
def mpp_metrics(handler: AbstractMPPHandler) -> list[Any] | None:
    """Counters of the events handled, by type, built at every scrape from the probe's counts."""
    if not isinstance(handler, E2eprobeHandler):
        return None
    from prometheus_client.metrics_core import CounterMetricFamily

    _calls, events = handler.counts()
    family = CounterMetricFamily("patroni_mpp_e2eprobe_events", "MPP events handled.", labels=["type"])
    for kind, count in sorted(events.items()):
        family.add_metric([kind], count)
    return [family]
