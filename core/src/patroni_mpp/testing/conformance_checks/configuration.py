"""Checks of how an engine validates its configuration section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._abstract import AbstractMPP
from ..._errors import EngineConfigError, EngineLoadError
from ..._loaded_engine import LoadedEngine
from .failure import fail
from .samples import JUNK_SECTIONS


@dataclass(frozen=True)
class Invalid:
    """An invalid configuration sample with the location its error must name.

    :ivar value: the raw section value.
    :ivar location: the dotted key inside the section that an error must name (``""``: the whole
        section, for a problem that belongs to no single key).
    """

    value: Any
    location: str


class Coordinator(dict[str, Any]):
    """A valid configuration sample marked as the coordinator's: ``Coordinator({"group": 0, ...})``.

    It is the sample itself (a :class:`dict`), so every check uses it as any other valid sample;
    the kit also checks that the descriptor built from it is the coordinator, and that the
    descriptors of the unmarked samples are not.
    """

    def __repr__(self) -> str:
        return f"Coordinator({dict(self)!r})"


def _as_env_strings(value: Mapping[str, Any]) -> dict[str, Any]:
    """The section with its top-level integers as strings, as environment variables give them."""
    return {
        key: str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        for key, item in value.items()
    }


def check_valid_config(loaded: LoadedEngine, value: Any) -> AbstractMPP:
    """Check that a valid sample validates and builds an engine, also with numbers given as strings.

    :param loaded: the engine as discovery loaded it.
    :param value: a raw section value the engine must accept.
    :returns: the descriptor built from it.
    :raises AssertionError: when it is rejected or the engine class refuses the validated section.
    """
    try:
        config = loaded.validate(value)
    except EngineConfigError as exc:
        raise fail(f"valid sample {value!r} was rejected:\n{exc}") from None
    try:
        engine = loaded.create(value)
    except EngineLoadError as exc:
        raise fail(f"valid sample {value!r} validates but builds no engine: {exc}") from None
    if engine.config != config:
        raise fail(f"the engine's config {engine.config!r} differs from the validated {config!r}")
    if isinstance(value, Mapping):
        as_strings = _as_env_strings(value)
        if as_strings != value:
            try:
                again = loaded.validate(as_strings)
            except EngineConfigError as exc:
                raise fail(
                    f"sample {as_strings!r} (numbers as strings, as "
                    f"PATRONI_{loaded.name.upper()}_* environment variables deliver them) was "
                    f"rejected:\n{exc}"
                ) from None
            if again != config:
                raise fail(f"numbers given as strings validate to {again!r}, not {config!r}")
    return engine


def check_invalid_config(loaded: LoadedEngine, sample: Any) -> EngineConfigError:
    """Check that an invalid sample is rejected with field-level messages.

    :param loaded: the engine as discovery loaded it.
    :param sample: a raw section value, or an :class:`Invalid` naming the location its error must
        name. A mapping without an :class:`Invalid` wrapper must give at least one error naming a
        key.
    :returns: the error.
    :raises AssertionError: when the sample is accepted or the messages name no field.
    """
    value, location = (sample.value, sample.location) if isinstance(sample, Invalid) else (sample, None)
    try:
        accepted = loaded.validate(value)
    except EngineConfigError as exc:
        error = exc
    else:
        raise fail(f"invalid sample {value!r} was accepted as {accepted!r}")
    if not error.problems:
        raise fail(f"invalid sample {value!r} was rejected without any problem listed")
    for problem in error.problems:
        if not problem.message.strip():
            raise fail(f"invalid sample {value!r}: the problem at {problem.location!r} has no message")
    locations = [problem.location for problem in error.problems]
    if location is not None:
        if location not in locations:
            raise fail(f"invalid sample {value!r}: expected a problem at {location!r}, got {error}")
    elif isinstance(value, Mapping) and not any(locations):
        raise fail(
            f"invalid sample {value!r}: no problem names a key (operators need "
            f"'{loaded.name}.<key>: <message>'); got {error}. Wrap the sample in "
            "Invalid(value, location='') if the problem really belongs to the whole section"
        )
    return error


def check_json_schema(loaded: LoadedEngine) -> dict[str, Any]:
    """Check that the config model yields the JSON Schema of an object (``patroni-mpp schema``).

    :param loaded: the engine as discovery loaded it.
    :returns: the schema.
    """
    schema = loaded.json_schema()
    if schema.get("type") != "object":
        raise fail(f"the section's JSON Schema is not an object schema: {schema!r}")
    return schema


def check_validate_config_total(engine_class: type[AbstractMPP]) -> None:
    """Check that ``validate_config`` answers a bool for raw section values of any type.

    :param engine_class: the descriptor class.
    :raises AssertionError: naming every value it raised on or answered with a non-bool.
    """
    problems: list[str] = []
    for value in JUNK_SECTIONS:
        try:
            answer: object = engine_class.validate_config(value)
        except Exception as exc:
            problems.append(f"{value!r}: raised {type(exc).__name__}: {exc}")
            continue
        if not isinstance(answer, bool):
            problems.append(f"{value!r}: returned {answer!r}, not a bool")
    if problems:
        raise fail(
            f"{engine_class.__qualname__}.validate_config receives the raw section value of any "
            "type and must answer True or False:\n  " + "\n  ".join(problems)
        )
