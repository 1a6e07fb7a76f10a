"""The ``timescaledb`` configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

COORDINATOR_GROUP_ID = 0
"""The group id of the coordinator; a TimescaleDB cluster is one group, so it is always this one."""

MAX_IDENTIFIER_LENGTH = 63
"""PostgreSQL truncates identifiers longer than this (``NAMEDATALEN - 1`` bytes)."""


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
    group: int = Field(
        default=COORDINATOR_GROUP_ID,
        ge=0,
        description=(
            "Group id of this cluster in the DCS. 0, the default, is the coordinator; TimescaleDB "
            "has no worker groups, so other values only make sense when several independent "
            "clusters share one DCS namespace and scope."
        ),
    )
