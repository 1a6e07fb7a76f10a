"""The ``timescaledb`` configuration section."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

COORDINATOR_GROUP_ID = 0
"""The group id of the coordinator; a TimescaleDB cluster is one group, so it is always this one."""

MAX_IDENTIFIER_LENGTH = 63
"""PostgreSQL truncates identifiers longer than this (``NAMEDATALEN - 1`` bytes)."""


def _not_a_bool(value: Any) -> Any:
    """Refuse a boolean where an integer is meant (pydantic's lax ``int`` reads ``True`` as 1)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


class TimescaleDBConfig(BaseModel):
    """The ``timescaledb:`` section of ``patroni.yml``.

    ``database`` is required; ``group`` exists for parity with group-based engines (Patroni's DCS
    layout, REST API and ``patronictl --group`` all work with a group) and stays 0 in practice.
    """

    model_config = ConfigDict(extra="forbid")

    database: str = Field(
        min_length=1,
        max_length=MAX_IDENTIFIER_LENGTH,
        description=("Database in which bootstrap creates the timescaledb extension; created when missing."),
    )
    group: Annotated[int, BeforeValidator(_not_a_bool)] = Field(
        default=COORDINATOR_GROUP_ID,
        ge=0,
        description=(
            "Group id of this cluster in the DCS. 0, the default, is the coordinator; TimescaleDB "
            "has no worker groups, so other values only make sense when several independent "
            "clusters share one DCS namespace and scope."
        ),
    )
