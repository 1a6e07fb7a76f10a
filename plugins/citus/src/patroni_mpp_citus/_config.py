"""The ``citus`` configuration section: its pydantic model and the group parser.

Stricter than Patroni's checks (see the package README, "Deliberate differences"): ``group`` must be a
non-negative integer, given as an ``int`` or a string of decimal digits (environment variables are strings),
and every Citus database a non-empty name PostgreSQL will not truncate. Booleans, floats, ``'1.5'``,
``'0x10'`` and negative numbers are rejected when the section is validated, not later when the group is used.

The Citus databases are named by exactly one of two keys: ``database`` (one name, as Patroni has
it) or ``databases`` (a list of unique names; from the environment, ``PATRONI_CITUS_DATABASES``, a
comma-separated string such as ``citus,app2``, optionally in brackets: ``[citus, app2]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "MAX_GROUP",
    "CitusConfig",
    "config_problems",
    "parse_databases",
    "parse_group",
    "parse_switch",
    "section_databases",
]

MAX_GROUP = 2**31 - 1
"""Largest group id: ``pg_dist_node.groupid`` is an ``int4``."""

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates longer names (NAMEDATALEN - 1)."""

_DIGITS = re.compile(r"\s*[0-9]+\s*")


def parse_group(value: Any) -> int:
    """Convert a configured group id to an ``int``.

    :param value: an ``int`` (not a ``bool``) or a string of decimal digits, surrounding blanks allowed.
    :returns: the group id.
    :raises ValueError: for anything else, or a value outside ``0 .. 2**31-1``; the message names the key.
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


def _name_problem(value: Any, what: str) -> str | None:
    """Why ``value`` is not a usable database name (``what`` names it in the message), or None."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not value:
        return f"{what} must not be empty"
    if "\x00" in value:
        return f"{what} must not contain NUL characters"
    if len(value.encode()) > MAX_IDENTIFIER_BYTES:
        return f"{what} must be at most {MAX_IDENTIFIER_BYTES} bytes long (PostgreSQL would truncate it)"
    return None


def _check_database(value: Any) -> str | None:
    if value is None:
        return None  # not given: ``databases`` must be (checked by the model)
    problem = _name_problem(value, "database")
    if problem is not None:
        raise PydanticCustomError("citus_database", problem.replace("{", "{{").replace("}", "}}"))
    return str(value)


def parse_databases(value: Any) -> list[str]:
    """Convert a configured ``databases`` value to the list of names.

    :param value: a list (or tuple) of names, or a string: names separated by commas, blanks
        around each name ignored, the whole optionally in brackets (``"[citus, app2]"``, the
        environment form).
    :returns: the names, in the order given.
    :raises ValueError: when the value is not a non-empty list of unique, non-empty names of at
        most 63 bytes; the message names the key and the position, never the name itself.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        names: list[Any] = [part.strip() for part in text.split(",")] if text.strip() else []
    elif isinstance(value, list | tuple):
        names = list(value)
    else:
        raise ValueError(
            "databases must be a list of database names or a comma-separated string, "
            f"not {type(value).__name__}"
        )
    if not names:
        raise ValueError("databases must name at least one database")
    problems = [
        p for i, n in enumerate(names, 1) if (p := _name_problem(n, f"databases entry {i}")) is not None
    ]
    if problems:
        raise ValueError("; ".join(problems))
    first: dict[str, int] = {}
    for index, name in enumerate(names, 1):
        if name in first:
            raise ValueError(f"databases entry {index} repeats entry {first[name]}")
        first[name] = index
    return [str(name) for name in names]


def _check_databases(value: Any) -> list[str] | None:
    if value is None:
        return None
    try:
        return parse_databases(value)
    except ValueError as exc:
        raise PydanticCustomError("citus_databases", str(exc).replace("{", "{{").replace("}", "}}")) from None


def section_databases(section: Mapping[str, Any]) -> tuple[str, ...]:
    """The Citus databases a validated section names (``databases``, else ``database``), in order."""
    names = section.get("databases")
    if names:
        return tuple(str(name) for name in names)
    return (str(section["database"]),)


def _given(data: Any, key: str) -> bool:
    return isinstance(data, Mapping) and data.get(key) is not None


def _structure_problem(data: Any) -> InitErrorDetails | None:
    """The section gives both or neither of ``database`` and ``databases``."""
    if not isinstance(data, Mapping):
        return None
    one, several = _given(data, "database"), _given(data, "databases")
    if one and several:
        error = PydanticCustomError(
            "citus_databases",
            "give either database (one name) or databases (a list of names), not both",
        )
        return InitErrorDetails(type=error, loc=("databases",), input=data["databases"])
    if not one and not several:
        error = PydanticCustomError(
            "missing", "Field required: give database (one name) or databases (a list of names)"
        )
        return InitErrorDetails(type=error, loc=("database",), input=dict(data))
    return None


_NAME_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_IDENTIFIER_BYTES}


class CitusConfig(BaseModel):
    """The ``citus`` section of ``patroni.yml``.

    Exactly one of ``database`` and ``databases`` is given. Environment: ``PATRONI_CITUS_GROUP``,
    ``PATRONI_CITUS_DATABASE``, ``PATRONI_CITUS_DATABASES`` (comma-separated),
    ``PATRONI_CITUS_WATCH_PROMOTIONS``. Other keys are ignored, as Patroni ignores them. A dump
    leaves out the one of ``database``/``databases`` that was not given, so that it validates again.
    """

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["database"]}, {"required": ["databases"]}]},
    )

    group: Annotated[int, BeforeValidator(_check_group)] = Field(
        ge=0,
        le=MAX_GROUP,
        description=(
            "Citus group id of this Patroni cluster: 0 for the coordinator, 1, 2, ... for workers. "
            "An integer, or a string of decimal digits."
        ),
    )
    database: Annotated[
        str | None,
        BeforeValidator(_check_database),
        WithJsonSchema(_NAME_SCHEMA),
    ] = Field(
        default=None,
        description=(
            "The one database holding the citus extension, in which pg_dist_node is managed; the "
            "same on every node of the formation. Give this or databases, not both."
        ),
    )
    databases: Annotated[
        list[str] | None,
        BeforeValidator(_check_databases),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "array", "items": _NAME_SCHEMA, "minItems": 1, "uniqueItems": True},
                    {"type": "string", "minLength": 1},
                ]
            }
        ),
    ] = Field(
        default=None,
        description=(
            "Several databases holding the citus extension, each with its own pg_dist_node, all "
            "managed alike; unique names, the same set on every node. A list, or a string of "
            "comma-separated names (the environment form). Give this or database, not both."
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

    @model_validator(mode="wrap")
    @classmethod
    def _one_of_database_and_databases(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        problem = _structure_problem(data)
        try:
            validated = handler(data)
        except ValidationError as exc:
            if problem is None:
                raise
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError(
                        str(err["type"]), str(err["msg"]).replace("{", "{{").replace("}", "}}")
                    ),
                    loc=tuple(err["loc"]),
                    input=err.get("input"),
                )
                for err in exc.errors(include_url=False)
                if tuple(err["loc"]) != problem["loc"]
            ]
            raise ValidationError.from_exception_data(cls.__name__, [*errors, problem]) from None
        if problem is not None:
            raise ValidationError.from_exception_data(cls.__name__, [problem])
        return validated

    @model_serializer(mode="wrap")
    def _without_the_key_not_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        for key in ("database", "databases"):
            if dumped.get(key) is None:
                dumped.pop(key, None)
        return dumped

    @property
    def names(self) -> tuple[str, ...]:
        """The Citus databases, in the order configured."""
        return tuple(self.databases) if self.databases else (str(self.database),)


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
