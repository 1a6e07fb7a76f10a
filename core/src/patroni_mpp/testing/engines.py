"""The minimal test engine: a descriptor, a handler that does nothing, a config model, a plugin module.

For tests of the host side of the contract (discovery, the bridge, the CLI), where any well-behaved
engine will do. Subclass :class:`AbstractMinimalEngine` for a descriptor and
:class:`AbstractMinimalHandler` for its handler; both names start with ``Abstract`` so that a
subclass keeps its own :attr:`~patroni_mpp.AbstractMPP.type` (the type rule skips such bases)::

    class Shard(AbstractMinimalEngine): ...
    class ShardHandler(Shard, AbstractMinimalHandler): ...

:func:`engine_source` writes the same engine as a plugin module serving one section, for
:mod:`patroni_mpp.testing.distributions` to install.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from .._abstract import GROUP_RE, AbstractMPP, AbstractMPPHandler

if TYPE_CHECKING:
    from .._protocols import ClusterLike


class MinimalConfig(BaseModel):
    """The configuration section of the minimal engine: a group id and a database."""

    model_config = ConfigDict(extra="forbid")
    group: int = Field(ge=0, description="group id of this cluster, 0 = coordinator")
    database: str = Field(description="database holding the engine metadata")


class AbstractMinimalEngine(AbstractMPP):
    """A group-based descriptor: the group comes from the section, the coordinator is group 0.

    A section is valid when it is a dict whose ``group`` is an int; a disabled engine (section
    ``{}``) has the group ``None``.
    """

    group_re: ClassVar[re.Pattern[str]] = GROUP_RE

    @staticmethod
    def validate_config(config: Any) -> bool:
        """True for a dict whose ``group`` is an int."""
        return isinstance(config, dict) and isinstance(config.get("group"), int)

    @property
    def group(self) -> Any:
        """The section's ``group`` (``None`` when the engine is disabled)."""
        return self.config.get("group")

    @property
    def coordinator_group_id(self) -> int:
        """Group 0 is the coordinator."""
        return 0


class AbstractMinimalHandler(AbstractMPPHandler):
    """Every handler method implemented, doing nothing: list it after the descriptor."""

    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """Do nothing."""

    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Do nothing."""

    def on_demote(self) -> None:
        """Do nothing."""

    def schedule_cache_rebuild(self) -> None:
        """Do nothing."""

    def bootstrap(self) -> None:
        """Do nothing."""

    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Leave the parameters as they are."""

    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """Ignore no slot."""
        return False


ENGINE_MODULE = '''\
"""The minimal test engine serving {section!r} (patroni_mpp.testing.engines)."""

from patroni_mpp import hookimpl
from patroni_mpp.testing.engines import AbstractMinimalEngine, AbstractMinimalHandler, MinimalConfig

SECTION = {section!r}


class EngineConfig(MinimalConfig):
    """The section's model."""


class {cls}(AbstractMinimalEngine):
    """The descriptor."""


class {cls}Handler({cls}, AbstractMinimalHandler):
    """The handler, found by convention; it names its section in the GUCs it adjusts."""

    def adjust_postgres_gucs(self, parameters):
        parameters["engine_loaded"] = SECTION


@hookimpl
def mpp_config_model(name):
    return EngineConfig if name == SECTION else None


@hookimpl
def mpp_engine_class(name):
    return {cls} if name == SECTION else None
'''
"""Template of :func:`engine_source` (format with ``section`` and ``cls``)."""


def engine_source(section: str, cls: str | None = None) -> str:
    """Source of a plugin module serving ``section`` with the minimal engine.

    The module defines the descriptor ``cls``, its handler ``<cls>Handler`` (found by convention, it
    sets the GUC ``engine_loaded`` to the section name), the config model ``EngineConfig`` and the
    ``mpp_engine_class`` and ``mpp_config_model`` hooks. Tests vary it by text replacement or by
    appending code.

    :param section: the section (entry point) name.
    :param cls: descriptor class name (default: the capitalised section name).
    """
    return ENGINE_MODULE.format(section=section, cls=cls or section.capitalize())
