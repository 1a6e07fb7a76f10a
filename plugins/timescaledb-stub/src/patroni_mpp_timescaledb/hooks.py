"""Hook implementations of the TimescaleDB engine: the module the ``timescaledb`` entry point names.

Each hook answers only for the ``timescaledb`` section (or for its own engine) and None otherwise,
so that this module could sit beside other engines' hooks in one plugin manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from patroni_mpp import hookimpl

from ._config import TimescaleDBConfig
from ._engine import TimescaleDB, TimescaleDBHandler

if TYPE_CHECKING:
    from collections.abc import Mapping

    from patroni_mpp import AbstractMPP, AbstractMPPHandler, PostgresqlLike
    from pydantic import BaseModel

SECTION = "timescaledb"
"""The configuration section (and entry point) name this engine serves."""


@hookimpl
def mpp_config_model(name: str) -> type[BaseModel] | None:
    """The model of the ``timescaledb`` section.

    :param name: the section name being loaded.
    """
    return TimescaleDBConfig if name == SECTION else None


@hookimpl
def mpp_engine_class(name: str) -> type[AbstractMPP] | None:
    """The descriptor class for the ``timescaledb`` section.

    :param name: the section name being loaded.
    """
    return TimescaleDB if name == SECTION else None


@hookimpl
def mpp_handler(engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
    """Build the handler for a TimescaleDB descriptor (None for other engines).

    Written out although the naming convention would find ``TimescaleDBHandler`` too: explicit is
    easier to follow for authors reading this engine as a template.

    :param engine: the descriptor built from the configuration.
    :param postgresql: the host's PostgreSQL object.
    """
    if not isinstance(engine, TimescaleDB):
        return None
    return TimescaleDBHandler(postgresql, engine.config)


@hookimpl
def mpp_status(handler: AbstractMPPHandler) -> Mapping[str, Any] | None:
    """The status ``GET /mpp`` shows for a TimescaleDB node (None for other engines' handlers).

    Optional hook: without it the bridge still reports the engine's name, distribution and version.
    The answer comes from memory; a status never queries the server.

    :param handler: this node's handler.
    """
    return handler.status() if isinstance(handler, TimescaleDBHandler) else None
