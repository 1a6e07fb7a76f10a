"""The demo engine: a plugin wheel that shows Patroni calling into an engine found through entry points.

Section ``demo`` (``group``, ``status_dir``, ``marker``). Its handler counts every call Patroni makes and
keeps the counts in ``<status_dir>/<member>.json``; ``adjust_postgres_gucs`` sets the custom GUC
``patroni_mpp_demo.marker`` so that ``SHOW patroni_mpp_demo.marker`` proves the hook ran on every member.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections import Counter
from typing import Any, ClassVar

from patroni_mpp import GROUP_RE, AbstractMPP, AbstractMPPHandler, ClusterLike, PostgresqlLike, hookimpl
from pydantic import BaseModel, ConfigDict, Field

SECTION = "demo"
GUC = "patroni_mpp_demo.marker"


class DemoConfig(BaseModel):
    """The ``demo`` section."""

    model_config = ConfigDict(extra="forbid")

    group: int = Field(default=0, ge=0, description="group id; 0 is the coordinator")
    status_dir: str = Field(min_length=1, description="directory of the per-member call counts")
    marker: str = Field(default="on", pattern=r"^[a-z0-9_]+$", description="value of the marker GUC")


class Demo(AbstractMPP):
    """Descriptor of the demo engine."""

    group_re: ClassVar[re.Pattern[str]] = GROUP_RE

    @staticmethod
    def validate_config(config: Any) -> bool:
        """A mapping with an int group and a status directory."""
        return isinstance(config, dict) and isinstance(config.get("group"), int) and "status_dir" in config

    @property
    def group(self) -> int:
        """The configured group."""
        return int(self.config["group"])

    @property
    def coordinator_group_id(self) -> int:
        """Group 0."""
        return 0


class DemoHandler(Demo, AbstractMPPHandler):
    """Counts calls; writes the counts atomically after each one."""

    def __init__(self, postgresql: PostgresqlLike, config: dict[str, Any]) -> None:
        """Start counting."""
        super().__init__(postgresql, config)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last_view: dict[str, Any] = {}
        self._count("handler_created")

    def _count(self, call: str, **view: Any) -> None:
        with self._lock:
            self._counts[call] += 1
            self._last_view.update(view)
            state = {"member": self.postgresql.name, "group": self.group, "pid": os.getpid(),
                     "calls": dict(self._counts), **self._last_view}  # fmt: skip
            directory = self.config["status_dir"]
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".status-")
            with os.fdopen(fd, "w") as out:
                json.dump(state, out)
            os.chmod(tmp, 0o644)
            os.replace(tmp, os.path.join(directory, f"{self.postgresql.name}.json"))

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """Count the event."""
        self._count("handle_event", last_event=event.get("type"))

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Count, and remember the members this leader sees."""
        self._count("sync_meta_data", members=sorted(m.name for m in cluster.members))

    def on_demote(self) -> None:
        """Count."""
        self._count("on_demote")

    def schedule_cache_rebuild(self) -> None:
        """Count."""
        self._count("schedule_cache_rebuild")

    def bootstrap(self) -> None:
        """Count (once per cluster, after initdb)."""
        self._count("bootstrap")

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Set the marker GUC."""
        parameters[GUC] = self.config["marker"]
        self._count("adjust_postgres_gucs")

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """Keep no unknown slot."""
        self._count("ignore_replication_slot")
        return False


@hookimpl
def mpp_config_model(name: str) -> type[BaseModel] | None:
    """The demo section's model."""
    return DemoConfig if name == SECTION else None


@hookimpl
def mpp_engine_class(name: str) -> type[AbstractMPP] | None:
    """The demo descriptor."""
    return Demo if name == SECTION else None


@hookimpl
def mpp_handler(engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
    """The demo handler for a demo descriptor."""
    return DemoHandler(postgresql, engine.config) if isinstance(engine, Demo) else None
