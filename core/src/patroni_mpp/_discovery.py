"""Finding and loading engine plugins through the ``patroni.mpp`` entry-point group: the public API.

Two policies: the run path (:func:`get_mpp`) imports only the configured engine (or the ``null``
fallback when none is configured) and raises a clear error when it cannot be used; the listing path
(:func:`iter_engine_reports`) imports everything, logs failures and carries on.

Plugin code never gets to hang discovery: importing a plugin and calling its hooks run bounded (see
:mod:`patroni_mpp._plugin_calls`); a plugin that hangs gives an :class:`EngineLoadError` naming
the plugin, its distribution and version, and the call. Error texts never carry secrets: whatever a
plugin's exception says is masked with the secrets of the configuration (values of password-like
keys, passwords of URLs) before it reaches an error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

from packaging.utils import canonicalize_name

from ._abstract import AbstractMPP
from ._contract import ContractViolation, plugin_manager
from ._core_version import core_mismatch, core_version
from ._entry_points import EngineCandidate, dist_key, forget_installed_engines, installed_engines, source_of
from ._errors import (
    EngineConfigError,
    EngineLoadError,
    EngineNotInstalledError,
    EngineSource,
    FieldProblem,
    MPPError,
    MultipleEnginesError,
    redact_error,
    secrets_in,
)
from ._loaded_engine import LoadedEngine
from ._plugin_calls import call_plugin_or_fail
from ._section_scan import engine_sections
from ._sections import KNOWN_ENGINE_WHEELS, NULL_ENGINE, PATRONI_SECTIONS

logger = logging.getLogger(__name__)


def clear_caches() -> None:
    """Forget the entry-point scan and the loaded plugins (after installing a distribution)."""
    forget_installed_engines()
    with _loaded_lock:
        _loaded.clear()
    core_version.cache_clear()


_PATRONI_NAME_CAUSE = (
    "its entry point claims a name that is one of Patroni's own configuration sections; "
    "an engine cannot serve it, so the plugin is ignored"
)

_loaded_lock = threading.RLock()
_loaded: dict[tuple[str, str, str], LoadedEngine] = {}


def _import_plugin(name: str, entry_point: metadata.EntryPoint) -> LoadedEngine:
    key = (name, dist_key(entry_point), entry_point.value)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        source = source_of(entry_point)
        if name in PATRONI_SECTIONS:
            raise EngineLoadError(name, source, core_version(), _PATRONI_NAME_CAUSE)
        # The requirement is checked before importing: a plugin built for another core may fail
        # in confusing ways at import time, or worse, import fine and misbehave later.
        mismatch = core_mismatch(entry_point.dist)
        if mismatch is not None:
            raise EngineLoadError(name, source, core_version(), mismatch)

        def fail(cause: str) -> EngineLoadError:
            return EngineLoadError(name, source, core_version(), cause)

        module = call_plugin_or_fail(
            (name, source.name, entry_point.value, "import"),
            f"import of {entry_point.value}",
            entry_point.load,
            fail,
            failed="import failed:",
        )
        if not isinstance(module, ModuleType):
            raise fail(f"entry point {entry_point.value} names {type(module).__name__}, not a module")
        try:
            manager = plugin_manager(module, name=f"{source.name}:{name}")
        except ContractViolation as exc:
            raise fail(f"hook contract broken: {exc}") from exc
        loaded = LoadedEngine(name, source, module, manager)
        _loaded[key] = loaded
        logger.debug("Loaded MPP engine %r from %s", name, source)
        return loaded


def load_engine(name: str, entry_points: Iterable[metadata.EntryPoint] | None = None) -> LoadedEngine:
    """Import and check the plugin serving section ``name``.

    :param name: the section (entry point) name.
    :param entry_points: the ``patroni.mpp`` entry points to choose from; the installed ones by
        default.
    :returns: the loaded engine (cached: a second call does not import again).
    :raises EngineNotInstalledError: no entry point has that name.
    :raises EngineConflictError: two distributions claim it.
    :raises EngineLoadError: the plugin cannot be imported or breaks the hook contract.
    """
    engines = installed_engines(entry_points)
    candidate = engines.get(name)
    if candidate is None:
        raise EngineNotInstalledError(name, KNOWN_ENGINE_WHEELS.get(name))
    if name == NULL_ENGINE and len(candidate.entry_points) > 1:
        return _import_plugin(name, _official_null(candidate))
    return _import_plugin(name, candidate.single())


def _official_null(candidate: EngineCandidate) -> metadata.EntryPoint:
    """The ``null`` entry point of ``patroni-mpp-null`` when other distributions claim it too.

    The fallback of every configuration without an MPP section must not depend on which of two
    claimers wins: the project's own wheel does, the others are ignored with a warning.
    :raises EngineConflictError: when ``patroni-mpp-null`` is not among the claimers.
    """
    official = canonicalize_name(KNOWN_ENGINE_WHEELS[NULL_ENGINE])
    chosen = [ep for ep in candidate.entry_points if canonicalize_name(source_of(ep).name) == official]
    if len(chosen) != 1:
        candidate.single()  # raises the conflict
    others = ", ".join(str(source_of(ep)) for ep in candidate.entry_points if ep is not chosen[0])
    logger.warning(
        "MPP engine name %r is also claimed by %s; %s is used",
        NULL_ENGINE,
        others,
        source_of(chosen[0]),
    )
    return chosen[0]


def configured_section(config: Any, entry_points: Iterable[metadata.EntryPoint] | None = None) -> str | None:
    """The one MPP section of ``config``, or None when MPP is not configured.

    :param config: the whole configuration (a Mapping or the host's config object).
    :param entry_points: the entry points to discover from (tests); the installed ones by default.
    :raises MultipleEnginesError: more than one MPP section.
    """
    engines = installed_engines(entry_points)
    sections = engine_sections(config, engines)
    if len(sections) > 1:
        raise MultipleEnginesError(sections)
    return sections[0] if sections else None


def get_mpp(config: Any, *, entry_points: Iterable[metadata.EntryPoint] | None = None) -> AbstractMPP:
    """Build the MPP engine descriptor the configuration asks for.

    Only the configured engine's plugin is imported (or ``null`` when no MPP section is present).
    Unlike Patroni's built-in lookup, an invalid, empty or unusable section is an error, never a
    quiet fall-back to a non-MPP cluster (see :func:`create_engine`).

    :param config: the whole Patroni configuration: a dict, any Mapping, or the host's config
        object.
    :param entry_points: the entry points to discover from (tests); the installed ones by default.
    :returns: the engine descriptor (the Null engine when MPP is not configured).
    :raises MultipleEnginesError: more than one MPP section.
    :raises EngineNotInstalledError: the configured engine is not installed (says which wheel to
        install).
    :raises EngineConflictError: two distributions claim the configured engine.
    :raises EngineLoadError: the plugin fails to import, breaks the hook contract or needs another
        core.
    :raises EngineConfigError: the section is invalid; the message names section and key.
    """
    eps = None if entry_points is None else list(entry_points)
    section = configured_section(config, eps)
    try:
        if section is None:
            return load_engine(NULL_ENGINE, eps).create({})
        return create_engine(load_engine(section, eps), config[section])
    except EngineConfigError:
        raise  # built from key names and messages that were masked already (see validate)
    except MPPError as exc:
        # Plugins' texts may quote what they were given: no secret of the configuration leaves.
        redact_error(exc, _config_secrets(config))
        raise


EMPTY_SECTION = (
    "the section is empty, and an empty section does not turn MPP off: give the engine's keys, or "
    "remove the section to run without MPP"
)
"""The problem added when a configured section is empty (see :func:`create_engine`)."""


def is_empty_section(value: Any) -> bool:
    """True for a section without content: YAML's bare ``citus:`` (None) or an empty mapping.

    :param value: the raw section value (after environment variables were merged in).
    """
    return value is None or (isinstance(value, Mapping) and not value)


def create_engine(loaded: LoadedEngine, value: Any) -> AbstractMPP:
    """Build the descriptor of a configured section; the one policy for an empty section lives here.

    A section that appears in the configuration is configured, whatever its value: an empty one
    (``citus: {}`` or a bare ``citus:``) is validated as ``{}`` by the engine's model like any other
    value, never read as "MPP off". An engine with required keys refuses it with its field-level
    problems, to which :data:`EMPTY_SECTION` is added; a section that validates to an empty config
    (an engine without a model or without keys) is refused too, since the engine would call itself
    disabled (``is_enabled()`` is false for ``{}``). Only ``null`` takes an empty section.

    :param loaded: the configured engine.
    :param value: the raw section value (after environment variables were merged in).
    :returns: the descriptor.
    :raises EngineConfigError: the section is invalid or empty.
    :raises EngineLoadError: the engine fails on the section (see :meth:`LoadedEngine.create`).
    """
    if loaded.name == NULL_ENGINE:
        return loaded.create(value)
    try:
        engine = loaded.create(value)
    except EngineConfigError as exc:
        if is_empty_section(value):
            raise EngineConfigError(loaded.name, [*exc.problems, FieldProblem("", EMPTY_SECTION)]) from None
        raise
    if not engine.config:
        raise EngineConfigError(loaded.name, [FieldProblem("", EMPTY_SECTION)])
    return engine


def _config_secrets(config: Any) -> set[str]:
    try:
        copied = config if isinstance(config, Mapping) else config.copy()
    except Exception:
        return set()
    return secrets_in(copied)


def iter_mpp_classes(
    config: Any = None, *, entry_points: Iterable[metadata.EntryPoint] | None = None
) -> Iterator[tuple[str, type[AbstractMPP]]]:
    """Yield ``(section name, engine class)`` for engines, in name order, as Patroni's loader does.

    With a configuration, only engines that have a section in it are imported; configured engines
    that fail raise (see :func:`get_mpp`). Without one, every installed engine is imported; those
    that fail are logged and skipped. ``null`` is yielded only when no configuration is given (or
    when the configuration has an explicit ``null`` section).

    :param config: the Patroni configuration, or None to list everything.
    :param entry_points: the entry points to discover from (tests); the installed ones by default.
    """
    eps = None if entry_points is None else list(entry_points)
    if config is not None:
        engines = installed_engines(eps)
        for name in sorted(engine_sections(config, engines)):
            yield name, load_engine(name, eps).engine_class
        return
    for report in iter_engine_reports(eps):
        if report.engine is not None:
            yield report.name, report.engine.engine_class


@dataclass(frozen=True)
class EngineReport:
    """What the listing path found about one installed engine name.

    :ivar name: the section (entry point) name.
    :ivar sources: the distributions claiming it.
    :ivar engine: the loaded engine, or None when it failed.
    :ivar error: why it failed, in one line (None when ok).
    """

    name: str
    sources: list[EngineSource]
    engine: LoadedEngine | None
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the engine loaded and passed the contract checks."""
        return self.error is None


def iter_engine_reports(
    entry_points: Iterable[metadata.EntryPoint] | None = None, *, quiet: bool = False
) -> Iterator[EngineReport]:
    """Import every installed engine and report on each, by name; failures are logged, not raised.

    :param entry_points: the entry points to list (tests); the installed ones by default.
    :param quiet: log failures at DEBUG instead of WARNING (for callers that show them themselves).
    """
    eps = None if entry_points is None else list(entry_points)
    engines = installed_engines(eps)
    level = logging.DEBUG if quiet else logging.WARNING
    for name in sorted(engines):
        candidate = engines[name]
        try:
            loaded = _import_plugin(name, candidate.single())
        except Exception as exc:
            logger.log(level, "MPP engine %r is unusable: %s", name, exc)
            logger.debug("Details of the failure of MPP engine %r", name, exc_info=True)
            yield EngineReport(name, candidate.sources, None, " ".join(str(exc).split()))
        else:
            yield EngineReport(name, candidate.sources, loaded, None)
