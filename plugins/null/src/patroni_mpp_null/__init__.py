"""The Null MPP engine: MPP disabled. Loaded like any engine, through the ``null`` entry point."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from patroni_mpp import AbstractMPP, AbstractMPPHandler, ClusterLike, PostgresqlLike, hookimpl
from pydantic import BaseModel, ConfigDict

__all__ = ["Null", "NullConfig", "NullHandler"]


class NullConfig(BaseModel):
    """The ``null`` section takes no settings; an empty section (or none at all) disables MPP."""

    model_config = ConfigDict(extra="forbid")


class Null(AbstractMPP):
    """Descriptor of the disabled engine: no group, never coordinator or worker."""

    group_re: ClassVar[re.Pattern[str]] = re.compile("^$")

    @staticmethod
    def validate_config(config: Any) -> bool:
        """Only an empty section (or none) is: the Null engine takes no settings, as its model says."""
        return config is None or (isinstance(config, Mapping) and not config)

    @property
    def group(self) -> None:
        """No group."""
        return None

    @property
    def coordinator_group_id(self) -> None:
        """No coordinator group."""
        return None


class NullHandler(Null, AbstractMPPHandler):
    """Handler of the disabled engine: every method does nothing."""

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """Ignore the event."""

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Nothing to reconcile."""

    def on_demote(self) -> None:
        """Nothing to do."""

    def schedule_cache_rebuild(self) -> None:
        """No cache."""

    def bootstrap(self) -> None:
        """Nothing to prepare."""

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Leave the parameters as they are."""

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """Never keep unknown slots."""
        return False


@hookimpl
def mpp_config_model(name: str) -> type[BaseModel] | None:
    """The ``null`` section's model."""
    return NullConfig if name == "null" else None


@hookimpl
def mpp_engine_class(name: str) -> type[AbstractMPP] | None:
    """The Null descriptor for the ``null`` section."""
    return Null if name == "null" else None


@hookimpl
def mpp_handler(engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
    """The Null handler for a Null engine."""
    return NullHandler(postgresql, engine.config) if isinstance(engine, Null) else None
