"""Probes of the configuration section the kit generates itself, whatever samples the author gave.

The author's samples show what the engine is meant to accept and reject; these probes test what
real Patroni configurations contain anyway: a misspelled key, a value of the wrong type, a missing
key. The config model decides; ``validate_config`` must answer the same (discovery calls it on the
model's output, and the host may call it on the raw section).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from ..._errors import EngineConfigError
from ..._loaded_engine import LoadedEngine
from .failure import fail
from .samples import JUNK_SECTIONS

UNKNOWN_KEY = "conformance_unknown_key"
"""The key the kit adds to every valid sample; no engine may know it."""

UnknownKeys = Literal["reject", "ignore"]
"""What an engine does with an unknown key: reject the section (the default) or drop the key."""

PROBE_VALUES: tuple[Any, ...] = (None, "", -1, True, 1.5, [], {"nested": 1}, "conformance-text")
"""Values the kit puts in place of each key of a valid sample."""


Verdict = tuple[dict[str, Any] | None, EngineConfigError | None]
"""The validated section or the model's error."""


def _model_verdict(loaded: LoadedEngine, value: Any) -> Verdict:
    """The validated section, or the model's error (an engine's own crash propagates)."""
    try:
        return loaded.validate(value), None
    except EngineConfigError as exc:
        return None, exc


def _answer(loaded: LoadedEngine, value: Any) -> object:
    cls = loaded.engine_class
    try:
        return cls.validate_config(value)
    except Exception as exc:
        raise fail(
            f"{cls.__qualname__}.validate_config({value!r}) raised {type(exc).__name__}: {exc}; it "
            "receives raw section values of any type and must answer True or False"
        ) from exc


def check_validate_config_agrees(loaded: LoadedEngine, value: Any) -> bool:
    """Check that ``validate_config`` answers as the config model decides for one section value.

    Where the model rejects the raw value, ``validate_config(value)`` must be False. Where it
    accepts it and the section is not empty, ``validate_config`` must be True both for the raw value
    and for the model's output (the one discovery passes it).

    :param loaded: the engine as discovery loaded it.
    :param value: a raw section value.
    :returns: whether the model accepted it.
    :raises AssertionError: naming the value, both answers and why they must agree.
    """
    cls = loaded.engine_class.__qualname__
    config, error = _model_verdict(loaded, value)
    if error is not None:
        if _answer(loaded, value) is True:
            problems = "; ".join(f"{p.location or '<section>'}: {p.message}" for p in error.problems)
            raise fail(
                f"{cls}.validate_config({value!r}) answered True, but the config model rejects it "
                f"({problems}). Patroni's get_mpp() builds the engine of the first section whose "
                "validate_config() accepts it, and the host may ask it directly: it must answer "
                "False for every section the model rejects (validating with the model is the "
                "simplest way)"
            )
        return False
    assert config is not None
    if config:
        for what, given in (("the raw sample", value), ("the model's output", config)):
            if _answer(loaded, given) is not True:
                raise fail(
                    f"{cls}.validate_config({given!r}) ({what}) does not answer True, but the "
                    "config model accepts the section: discovery calls validate_config() on the "
                    "model's output and refuses to start when it says no; the two must agree"
                )
    return True


def generated_probes(value: Any) -> Iterator[tuple[str, Any]]:
    """Variants of a valid sample to try: each key dropped or set to an odd value, junk sections.

    :param value: a valid raw section value.
    :returns: ``(description, section value)`` pairs.
    """
    if isinstance(value, Mapping):
        yield f"with {UNKNOWN_KEY!r} added", {**value, UNKNOWN_KEY: "probe"}
        for key in value:
            yield f"without {key!r}", {k: v for k, v in value.items() if k != key}
            for odd in PROBE_VALUES:
                yield f"with {key!r} set to {odd!r}", {**value, key: odd}
    for junk in JUNK_SECTIONS:
        yield "a junk section", junk


def check_validate_config_agrees_on_probes(loaded: LoadedEngine, value: Any) -> int:
    """Run :func:`check_validate_config_agrees` over the probes generated from a valid sample.

    :param loaded: the engine as discovery loaded it.
    :param value: a valid raw section value.
    :returns: how many probes the model rejected.
    """
    rejected = 0
    for _, probe in generated_probes(value):
        rejected += not check_validate_config_agrees(loaded, probe)
    return rejected


def check_unknown_key(loaded: LoadedEngine, value: Any, policy: UnknownKeys = "reject") -> None:
    """Check what the engine does with a valid sample plus a key no engine knows.

    :param loaded: the engine as discovery loaded it.
    :param value: a valid raw section value (nothing is checked for a non-mapping).
    :param policy: ``"reject"``: the model must reject the section with a problem at the unknown
        key; ``"ignore"``: it may accept it but must drop the key from the validated section.
    :raises AssertionError: when the key is accepted (``"reject"``) or kept (either policy), or
        ``validate_config`` disagrees with the model.
    """
    if not isinstance(value, Mapping):
        return
    probe = {**value, UNKNOWN_KEY: "probe"}
    accepted = check_validate_config_agrees(loaded, probe)
    name = loaded.name
    if not accepted:
        _, error = _model_verdict(loaded, probe)
        assert error is not None
        if UNKNOWN_KEY not in [p.location for p in error.problems]:
            raise fail(
                f"the section {probe!r} is rejected, but no problem names {UNKNOWN_KEY!r}: an "
                f"operator who misspelled a key must read '{name}.<key>: <message>' about that key; "
                f"got {error}"
            )
        return
    config = loaded.validate(probe)
    if UNKNOWN_KEY in config:
        raise fail(
            f"the config model accepted the unknown key {UNKNOWN_KEY!r} and kept it in the "
            f"validated section {config!r} (extra='allow'?): a misspelled key in patroni.yml or in "
            f"a PATRONI_{name.upper()}_<KEY> variable reaches the engine as if it were a setting, and "
            "the setting the operator meant keeps its default. Forbid unknown keys "
            "(model_config = ConfigDict(extra='forbid'))"
        )
    if policy == "reject":
        raise fail(
            f"the config model accepted {probe!r}, ignoring the unknown key {UNKNOWN_KEY!r}: a "
            f"misspelled key in patroni.yml or in a PATRONI_{name.upper()}_<KEY> variable is dropped "
            "without a word, and the setting the operator meant keeps its default. Forbid unknown "
            "keys (model_config = ConfigDict(extra='forbid')); if the engine ignores them on "
            "purpose, as Patroni does for its citus section, set unknown_keys = 'ignore' on the "
            "conformance class"
        )


def _references(prop: Any) -> list[str]:
    """The ``$ref`` targets of a property: itself, or inside ``allOf`` or ``anyOf``.

    pydantic before 2.7 wraps a reference that has a default in ``allOf``; an optional model is an
    ``anyOf``.
    """
    if not isinstance(prop, Mapping):
        return []
    found = [prop["$ref"]] if isinstance(prop.get("$ref"), str) else []
    for combined in ("allOf", "anyOf"):
        for item in prop.get(combined) or []:
            if isinstance(item, Mapping) and isinstance(item.get("$ref"), str):
                found.append(item["$ref"])
    return found


def check_fields_described(loaded: LoadedEngine) -> list[str]:
    """Check that every property of the section's JSON Schema has a description.

    :param loaded: the engine as discovery loaded it.
    :returns: the property names.
    :raises AssertionError: naming every property without one.
    """
    schema = loaded.json_schema()
    properties = schema.get("properties") or {}
    definitions = schema.get("$defs") or {}
    missing = []
    for key, prop in properties.items():
        targets = [prop, *(definitions.get(ref.rsplit("/", 1)[-1]) for ref in _references(prop))]
        if not any(isinstance(t, Mapping) and str(t.get("description") or "").strip() for t in targets):
            missing.append(key)
    if missing:
        raise fail(
            f"section keys without a description: {missing!r}. `patroni-mpp schema {loaded.name}` "
            "shows the section's JSON Schema to operators, who would find these keys unexplained; "
            "give each field Field(description=...)"
        )
    return list(properties)
