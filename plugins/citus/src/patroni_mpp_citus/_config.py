"""The ``citus`` configuration section: its pydantic model and the group parser.

Stricter than Patroni's checks (citus-engine.md 1.2): ``group`` must be a non-negative integer,
given as
an ``int`` or a string of decimal digits (environment variables are strings), and ``database`` a
non-empty name PostgreSQL will not truncate. Booleans, floats, ``'1.5'``, ``'0x10'`` and negative
numbers
are rejected when the section is validated, not later when the group is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

__all__ = ["MAX_GROUP", "CitusConfig", "config_problems", "parse_group", "parse_switch"]

MAX_GROUP = 2**31 - 1
"""Largest group id: ``pg_dist_node.groupid`` is an ``int4``."""

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates longer names (NAMEDATALEN - 1)."""

_DIGITS = re.compile(r"\s*[0-9]+\s*")


def parse_group(value: Any) -> int:
    """Convert a configured group id to an ``int``.

    :param value: an ``int`` (not a ``bool``) or a string of decimal digits, surrounding blanks
        allowed.
    :returns: the group id.
    :raises ValueError: for anything else, or a value outside ``0 .. 2**31-1``; the message names
        the key.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            f"group must be a non-negative integer or a string of decimal digits, not {type(value).__name__}"
        )
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("group must be a non-negative integer or a string of decimal digits")
        number = int(value)
    else:
        number = int(value)
    if not 0 <= number <= MAX_GROUP:
        raise ValueError(f"group must be between 0 and {MAX_GROUP}")
    return number


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def parse_switch(value: Any) -> bool:
    """Convert a configured on/off switch to a ``bool``.

    :param value: a ``bool``, or one of the strings ``true``/``false``, ``yes``/``no``, ``on``/``off``,
        ``1``/``0`` (any case; environment variables are strings). Integers are not switches.
    :raises ValueError: for anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("must be true or false")


def _check_switch(value: Any) -> bool:
    try:
        return parse_switch(value)
    except ValueError as exc:
        raise PydanticCustomError("citus_switch", str(exc)) from None


def _check_group(value: Any) -> int:
    try:
        return parse_group(value)
    except ValueError as exc:
        raise PydanticCustomError("citus_group", str(exc)) from None


def _check_database(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "citus_database",
            "database must be a string, not {kind}",
            {"kind": type(value).__name__},
        )
    if not value:
        raise PydanticCustomError("citus_database", "database must not be empty")
    if "\x00" in value:
        raise PydanticCustomError("citus_database", "database must not contain NUL characters")
    if len(value.encode()) > MAX_IDENTIFIER_BYTES:
        raise PydanticCustomError(
            "citus_database",
            "database must be at most {limit} bytes long (PostgreSQL would truncate it)",
            {"limit": MAX_IDENTIFIER_BYTES},
        )
    return value


class CitusConfig(BaseModel):
    """The ``citus`` section of ``patroni.yml``.

    Environment: ``PATRONI_CITUS_GROUP``, ``PATRONI_CITUS_DATABASE``,
    ``PATRONI_CITUS_WATCH_PROMOTIONS``. Other keys are ignored, as Patroni ignores them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    group: Annotated[int, BeforeValidator(_check_group)] = Field(
        ge=0,
        le=MAX_GROUP,
        description=(
            "Citus group id of this Patroni cluster: 0 for the coordinator, 1, 2, ... for workers. "
            "An integer, or a string of decimal digits."
        ),
    )
    database: Annotated[str, BeforeValidator(_check_database)] = Field(
        min_length=1,
        max_length=MAX_IDENTIFIER_BYTES,
        description=(
            "Database holding the citus extension, in which pg_dist_node is managed; the same on "
            "every node of the formation."
        ),
    )
    watch_promotions: Annotated[bool, BeforeValidator(_check_switch)] = Field(
        default=True,
        description=(
            "After before_promote, the coordinator polls the promoted worker (as its own superuser, "
            "at the address the DCS names) and ends the client pause as soon as it is out of "
            "recovery, instead of waiting for after_promote. false waits for after_promote."
        ),
    )


def config_problems(value: Any) -> list[str]:
    """Why ``value`` is not a valid ``citus`` section, one ``key: message`` line per problem.

    :param value: the raw section value.
    :returns: the problems; empty when the section is valid.
    """
    if not isinstance(value, Mapping):
        return [f"the citus section must be a mapping, not {type(value).__name__}"]
    try:
        CitusConfig.model_validate(value)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(p) for p in err['loc']) or 'citus'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        ]
    return []
