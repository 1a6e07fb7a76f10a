"""Hook implementations of the ``citus`` engine (the ``patroni.mpp`` entry point ``citus``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from patroni_mpp import hookimpl

from ._config import CitusConfig
from ._identity import Citus

if TYPE_CHECKING:
    from patroni_mpp import AbstractMPP, AbstractMPPHandler, PostgresqlLike
    from pydantic import BaseModel

__all__ = ["SECTION", "mpp_config_model", "mpp_engine_class", "mpp_handler"]

SECTION = "citus"
"""The configuration section (entry point name) this plugin serves."""


@hookimpl
def mpp_config_model(name: str) -> type[BaseModel] | None:
    """:class:`~patroni_mpp_citus.CitusConfig` for the ``citus`` section."""
    return CitusConfig if name == SECTION else None


@hookimpl
def mpp_engine_class(name: str) -> type[AbstractMPP] | None:
    """The :class:`~patroni_mpp_citus.Citus` descriptor for the ``citus`` section."""
    return Citus if name == SECTION else None


@hookimpl
def mpp_handler(engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
    """A :class:`~patroni_mpp_citus.CitusHandler` for a Citus descriptor."""
    if not isinstance(engine, Citus):
        return None
    from ._handler import CitusHandler

    return CitusHandler(postgresql, engine.config)
