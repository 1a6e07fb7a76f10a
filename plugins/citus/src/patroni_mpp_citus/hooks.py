"""Hook implementations of the ``citus`` engine (the ``patroni.mpp`` entry point ``citus``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from patroni_mpp import hookimpl

from ._config import CitusConfig
from ._identity import SECTION, Citus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from patroni_mpp import AbstractMPP, AbstractMPPHandler, PostgresqlLike
    from prometheus_client import Metric
    from pydantic import BaseModel

__all__ = ["SECTION", "mpp_config_model", "mpp_engine_class", "mpp_handler", "mpp_metrics", "mpp_status"]


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


@hookimpl
def mpp_status(handler: AbstractMPPHandler) -> Mapping[str, Any] | None:
    """A Citus handler's :meth:`~patroni_mpp_citus.CitusHandler.status` (from memory, no SQL)."""
    from ._handler import CitusHandler

    return handler.status() if isinstance(handler, CitusHandler) else None


@hookimpl
def mpp_metrics(handler: AbstractMPPHandler) -> list[Metric] | None:
    """A Citus handler's metric families (``patroni_mpp_citus_*``, from memory, no SQL)."""
    from ._handler import CitusHandler

    return handler.metrics.collect() if isinstance(handler, CitusHandler) else None
