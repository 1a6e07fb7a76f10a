"""Finding, loading and validating engine plugins through the ``patroni.mpp`` entry-point group.

Two policies: the run path (:func:`get_mpp`) imports only the configured engine (or the ``null``
fallback when none is configured) and raises a clear error when it cannot be used; the listing path
(:func:`iter_engine_reports`) imports everything, logs failures and carries on.

Plugin code never gets to hang discovery: importing a plugin and calling its hooks
(``mpp_engine_class``, ``mpp_config_model``, ``mpp_handler``) run on a helper daemon thread, and
the caller waits at most :func:`plugin_call_timeout` seconds (``$PATRONI_MPP_HOOK_TIMEOUT``,
default 30; ``0`` runs them on the calling thread, unbounded). When the wait expires the caller
gets an :class:`EngineLoadError` naming the plugin, its distribution and version, and the call; the
stuck thread is abandoned (Python cannot stop it; being a daemon it does not keep the process
alive) and a later attempt on the same plugin fails at once instead of starting another one. The
descriptor's own constructor and ``validate_config`` run on the calling thread: they are called
for every ``get_mpp`` and must be cheap.

Error texts never carry secrets: whatever a plugin's exception says is masked with the secrets of
the configuration (values of password-like keys, passwords of URLs) before it reaches an error.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel, ValidationError

from . import hookspecs
from ._abstract import AbstractMPP, AbstractMPPHandler
from ._errors import (
    EngineConfigError,
    EngineConflictError,
    EngineLoadError,
    EngineNotInstalledError,
    EngineSource,
    FieldProblem,
    MPPError,
    MultipleEnginesError,
    redact,
    redact_error,
    secrets_in,
)
from ._protocols import PostgresqlLike
from ._sections import ENTRY_POINT_GROUP, KNOWN_ENGINE_WHEELS, NULL_ENGINE, PATRONI_SECTIONS

logger = logging.getLogger(__name__)

CORE_DISTRIBUTION = "patroni-mpp"


@functools.cache
def core_version() -> str:
    """Version of the installed ``patroni-mpp`` (``0+unknown`` when run from a source tree)."""
    try:
        return metadata.version(CORE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


HOOK_TIMEOUT_ENV = "PATRONI_MPP_HOOK_TIMEOUT"
"""Environment variable: seconds discovery waits for a plugin's import or hook (0: no limit)."""

DEFAULT_HOOK_TIMEOUT = 30.0
"""Seconds discovery waits for a plugin's import or hook when ``$PATRONI_MPP_HOOK_TIMEOUT`` is unset."""


def plugin_call_timeout() -> float | None:
    """Seconds to wait for a plugin's import or hook; None means unbounded, on the calling thread.

    Read from ``$PATRONI_MPP_HOOK_TIMEOUT`` at every call; an unusable value is logged and the
    default (:data:`DEFAULT_HOOK_TIMEOUT`) applies.
    """
    raw = os.environ.get(HOOK_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_HOOK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if value == 0:
        return None
    if not (math.isfinite(value) and value > 0):
        logger.warning(
            "%s=%r is not a number of seconds; using %g", HOOK_TIMEOUT_ENV, raw, DEFAULT_HOOK_TIMEOUT
        )
        return DEFAULT_HOOK_TIMEOUT
    return value


class PluginCallTimeout(Exception):  # noqa: N818 - reads as what happened
    """A plugin's import or hook did not return in time (turned into an ``EngineLoadError``)."""

    def __init__(self, what: str, timeout: float, earlier: bool = False) -> None:
        self.what = what
        self.timeout = timeout
        if earlier:
            message = (
                f"{what} is still running since an earlier attempt timed out "
                f"after {timeout:g} s (the plugin hangs)"
            )
        else:
            message = (
                f"{what} did not return within {timeout:g} s (the plugin hangs?); "
                f"{HOOK_TIMEOUT_ENV} sets this limit"
            )
        super().__init__(message)


_stuck_lock = threading.Lock()
_stuck: dict[tuple[str, ...], tuple[threading.Thread, float]] = {}


def call_plugin(key: tuple[str, ...], what: str, func: Callable[[], Any]) -> Any:
    """Run plugin code with a bounded wait (see the module docstring).

    :param key: identifies the plugin and the call (a stuck call of the same key fails at once).
    :param what: the call in words, for the error (``hook mpp_engine_class``).
    :param func: the plugin code.
    :returns: what ``func`` returned.
    :raises PluginCallTimeout: when the wait expired, or an earlier call of ``key`` is still stuck.
    :raises BaseException: what ``func`` raised (``SystemExit`` included: a plugin cannot end the
        process through discovery).
    """
    timeout = plugin_call_timeout()
    with _stuck_lock:
        stuck = _stuck.get(key)
        if stuck is not None:
            if stuck[0].is_alive():
                raise PluginCallTimeout(what, stuck[1], earlier=True)
            del _stuck[key]
    if timeout is None:
        return func()
    outcome: list[Any] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(func())
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, name=f"patroni-mpp {what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        with _stuck_lock:
            _stuck[key] = (thread, timeout)
        logger.debug("Abandoning the thread of %s after %g s", what, timeout)
        raise PluginCallTimeout(what, timeout)
    if failure:
        raise failure[0]
    return outcome[0]


def _source_of(entry_point: metadata.EntryPoint) -> EngineSource:
    # Reads the distribution's METADATA file: only on paths that need names (errors, listings,
    # the first load of a plugin), never on the warm path of get_mpp.
    dist = entry_point.dist
    name = (dist.metadata["Name"] if dist is not None else None) or "<unknown distribution>"
    version = (dist.version if dist is not None else None) or "unknown"
    return EngineSource(name=name, version=version, value=entry_point.value)


def _dist_key(entry_point: metadata.EntryPoint) -> str:
    """Identify the distribution of an entry point cheaply (its metadata directory, when known)."""
    # PathDistribution keeps its dist-info directory as ``_path``; reading it costs nothing, whereas
    # the distribution's name needs its METADATA file parsed.
    return str(getattr(entry_point.dist, "_path", "") or id(entry_point.dist))


@dataclass(frozen=True)
class EngineCandidate:
    """Every installed entry point claiming one engine name (normally exactly one)."""

    name: str
    entry_points: tuple[metadata.EntryPoint, ...]

    @property
    def sources(self) -> list[EngineSource]:
        """The distributions behind the entry points."""
        return [_source_of(ep) for ep in self.entry_points]

    def single(self) -> metadata.EntryPoint:
        """The one entry point for this name.

        :raises EngineConflictError: when two distributions claim the name.
        """
        if len(self.entry_points) > 1:
            raise EngineConflictError(self.name, self.sources)
        return self.entry_points[0]


def group_entry_points(entry_points: Iterable[metadata.EntryPoint]) -> dict[str, EngineCandidate]:
    """Group entry points by engine name, dropping repeats of one distribution (path listed twice).

    :param entry_points: entry points of the ``patroni.mpp`` group.
    :returns: engine name -> its candidate entry points.
    """
    grouped: dict[str, list[metadata.EntryPoint]] = {}
    for ep in entry_points:
        grouped.setdefault(ep.name, []).append(ep)
    result = {}
    for name, eps in grouped.items():
        if len(eps) == 1:
            result[name] = EngineCandidate(name, (eps[0],))
            continue
        # Rare: only now are the distribution names worth reading from their METADATA files.
        unique: dict[tuple[str, str], metadata.EntryPoint] = {}
        for ep in eps:
            unique.setdefault((canonicalize_name(_source_of(ep).name), ep.value), ep)
        result[name] = EngineCandidate(name, tuple(unique.values()))
    return result


_installed_lock = threading.Lock()
_installed_cache: tuple[tuple[str, ...], dict[str, EngineCandidate]] | None = None


def installed_engines() -> dict[str, EngineCandidate]:
    """Engines declared by installed distributions, cached until ``sys.path`` changes."""
    global _installed_cache  # noqa: PLW0603 - one process-wide cache of the metadata scan
    with _installed_lock:
        key = tuple(sys.path)
        if _installed_cache is None or _installed_cache[0] != key:
            eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
            _installed_cache = (key, group_entry_points(eps))
        return _installed_cache[1]


def clear_caches() -> None:
    """Forget the entry-point scan and the loaded plugins (after installing a distribution)."""
    global _installed_cache  # noqa: PLW0603
    with _installed_lock:
        _installed_cache = None
    with _loaded_lock:
        _loaded.clear()
    core_version.cache_clear()


def core_requirements(dist: metadata.Distribution | None) -> Iterator[Requirement]:
    """Yield the ``patroni-mpp`` requirements a distribution declares outside any extra, in order.

    Unparsable requirement lines are skipped.

    :param dist: the distribution (None: it declares nothing).
    :returns: an iterator of the requirements.
    """
    for line in (dist.requires or []) if dist is not None else []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        yield requirement


def _check_core_requirement(entry_point: metadata.EntryPoint) -> str | None:
    """Return why the plugin's ``patroni-mpp`` requirement excludes this core, if it does."""
    dist = entry_point.dist
    if dist is None:
        return None
    version = core_version()
    if version == "0+unknown":
        return None
    for requirement in core_requirements(dist):
        if not requirement.specifier.contains(version, prereleases=True):
            return f"it requires {requirement}, but patroni-mpp {version} is installed"
    return None


class LoadedEngine:
    """An imported and contract-checked engine plugin, ready to validate sections and build engines.

    :ivar name: the section (entry point) name it serves.
    :ivar source: the distribution it comes from.
    :ivar module: the imported module of hook implementations.
    :ivar engine_class: the descriptor class answered by ``mpp_engine_class``.
    :ivar config_model: the section model answered by ``mpp_config_model`` (None: any mapping).
    """

    def __init__(
        self, name: str, source: EngineSource, module: ModuleType, manager: pluggy.PluginManager
    ) -> None:
        """Ask the plugin for its engine class and config model and check both.

        :param name: the section (entry point) name.
        :param source: the distribution declaring the entry point.
        :param module: the imported plugin module.
        :param manager: the plugin manager holding only this plugin.
        :raises EngineLoadError: when the plugin breaks the hook contract.
        """
        self.name = name
        self.source = source
        self.module = module
        self._manager = manager
        engine_class = self._call_hook("mpp_engine_class", name=name)
        if not (isinstance(engine_class, type) and issubclass(engine_class, AbstractMPP)):
            raise self._error(
                f"hook mpp_engine_class(name={name!r}) returned {engine_class!r}, "
                "not a subclass of patroni_mpp.AbstractMPP"
            )
        if getattr(engine_class, "__abstractmethods__", None):
            missing = ", ".join(sorted(engine_class.__abstractmethods__))
            raise self._error(
                f"engine class {engine_class.__qualname__} leaves abstract members undefined: {missing}"
            )
        if not isinstance(getattr(engine_class, "group_re", None), re.Pattern):
            raise self._error(
                f"engine class {engine_class.__qualname__} does not define group_re "
                "as a compiled regular expression"
            )
        model = self._call_hook("mpp_config_model", name=name)
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise self._error(
                f"hook mpp_config_model(name={name!r}) returned {model!r}, not a pydantic BaseModel subclass"
            )
        self.engine_class: type[AbstractMPP] = engine_class
        self.config_model: type[BaseModel] | None = model

    def _error(self, cause: str) -> EngineLoadError:
        return EngineLoadError(self.name, self.source, core_version(), cause)

    @property
    def hook(self) -> Any:
        """The plugin's hook relay (pluggy's ``HookRelay``, holding this plugin only)."""
        return self._manager.hook

    def _call_hook(self, hook_name: str, **kwargs: Any) -> Any:
        """Call one of this plugin's hooks, bounded; a failure becomes an ``EngineLoadError``."""
        hook = getattr(self._manager.hook, hook_name)
        key = (self.name, self.source.name, self.source.value, hook_name)
        try:
            return call_plugin(key, f"hook {hook_name}", lambda: hook(**kwargs))
        except PluginCallTimeout as exc:
            raise self._error(str(exc)) from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            logger.debug("Hook %s of MPP engine %r raised", hook_name, self.name, exc_info=True)
            raise self._error(f"hook {hook_name} raised {type(exc).__name__}: {exc}") from exc

    @property
    def section_keys(self) -> tuple[str, ...] | None:
        """The keys the section accepts, as named in the configuration; None when any key goes.

        These are also the keys that ``PATRONI_<SECTION>_<KEY>`` environment variables may set.
        """
        if self.config_model is None:
            return None
        return tuple(field.alias or key for key, field in self.config_model.model_fields.items())

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the section, from the config model (any object when there is none).

        :raises EngineLoadError: when the model cannot produce a schema.
        """
        if self.config_model is None:
            return {"title": self.name, "type": "object"}
        try:
            return self.config_model.model_json_schema()
        except Exception as exc:
            raise self._error(
                f"config model {self.config_model.__qualname__} has no JSON Schema: {exc}"
            ) from exc

    def validate(self, value: Any) -> dict[str, Any]:
        """Validate a raw section value with the engine's config model.

        :param value: the section value as read from the configuration (``None`` counts as ``{}``).
        :returns: the validated section as a plain dict.
        :raises EngineConfigError: with one problem per invalid field.
        """
        raw = {} if value is None else value
        if self.config_model is None:
            if not isinstance(raw, Mapping):
                problem = FieldProblem("", f"must be a mapping, not {type(raw).__name__}")
                raise EngineConfigError(self.name, [problem])
            return dict(raw)
        model = self.config_model
        try:
            validated = model.model_validate(raw)
        except ValidationError as exc:
            problems = problems_from_validation(exc)
            secrets = secrets_in(value)
            if secrets:  # a plugin's validator may quote the value in its message
                problems = [FieldProblem(p.location, redact(p.message, secrets)) for p in problems]
            raise EngineConfigError(self.name, problems) from None
        except RecursionError:
            problem = FieldProblem("", "is nested too deeply")
            raise EngineConfigError(self.name, [problem]) from None
        except Exception as exc:
            # A validator of the plugin's model failed in a way pydantic does not report: a bug of
            # the plugin, named as such (its text may quote the section: masked).
            cause = redact(f"{type(exc).__name__}: {exc}", secrets_in(value))
            raise self._error(f"config model {model.__qualname__} failed on the section: {cause}") from None
        try:
            dumped = validated.model_dump()
        except Exception as exc:
            cause = redact(f"{type(exc).__name__}: {exc}", secrets_in(value))
            raise self._error(f"config model {model.__qualname__} cannot dump: {cause}") from None
        if not isinstance(dumped, dict):
            raise self._error(f"config model {model.__qualname__} dumps to a non-dict")
        return dumped

    def create(self, value: Any) -> AbstractMPP:
        """Validate ``value`` and build the engine's descriptor from it.

        :param value: the raw section value.
        :returns: the descriptor, wired to this plugin's handler hook.
        :raises EngineConfigError: when the section is invalid.
        :raises EngineLoadError: when the engine class fails or rejects the validated section.
        """
        config = self.validate(value)
        cls_name = self.engine_class.__qualname__
        try:
            engine = self.engine_class(config)
            accepted = not config or self.engine_class.validate_config(config)
            # the identity the host reads right away must be computable
            engine.is_coordinator()
            engine.is_worker()
        except Exception as exc:
            cause = redact(f"{type(exc).__name__}: {exc}", secrets_in(value) | secrets_in(config))
            error = self._error(f"{cls_name} raised {cause}")
            if cause == f"{type(exc).__name__}: {exc}":
                raise error from exc
            raise error from None
        if not accepted:
            raise self._error(
                f"{cls_name}.validate_config() rejects the section that its config model accepted"
            )
        engine.attach_handler_factory(self._build_handler)
        return engine

    def _build_handler(self, engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
        """The plugin's handler: its ``mpp_handler`` hook, else the naming convention.

        Both run bounded (see :func:`call_plugin`); a failure becomes an ``EngineLoadError``. None
        when neither gives a handler (the caller raises ``HandlerNotFoundError``).
        """

        def build() -> Any:
            handler = self._manager.hook.mpp_handler(engine=engine, postgresql=postgresql)
            if handler is not None:
                return handler
            for cls in engine._handler_classes():
                return cls(postgresql, engine.config)
            return None

        key = (self.name, self.source.name, self.source.value, "mpp_handler")
        try:
            handler = call_plugin(key, "hook mpp_handler", build)
        except PluginCallTimeout as exc:
            raise self._error(str(exc)) from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            secrets = secrets_in(engine.config) | _secrets_of_postgresql(postgresql)
            plain = f"{type(exc).__name__}: {exc}"
            cause = redact(plain, secrets)
            error = self._error(f"building the handler raised {cause}")
            if cause == plain:
                raise error from exc
            raise error from None
        if handler is not None and not isinstance(handler, AbstractMPPHandler):
            raise self._error(
                f"hook mpp_handler returned {type(handler).__name__}, not an AbstractMPPHandler"
            )
        return handler


def _secrets_of_postgresql(postgresql: Any) -> set[str]:
    """Secrets reachable from a host PostgreSQL object (its connection parameters)."""
    try:
        kwargs = postgresql.connection_pool.conn_kwargs
    except Exception:
        return set()
    return secrets_in(kwargs) if isinstance(kwargs, Mapping) else set()


def problems_from_validation(exc: ValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into field problems with dotted locations (never echoing values).

    :param exc: the validation error of a config model.
    :returns: one problem per error, in pydantic's order.
    """
    return [
        FieldProblem(field_location(err["loc"]), err["msg"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def field_location(parts: Iterable[Any]) -> str:
    """A key path as operators read it: ``group``, ``nodes.0.host``.

    A key that is not a plain word (it has a dot, a blank, a control character, or is empty) is
    shown quoted in brackets, ``["a.b"]``, so that the path stays unambiguous and on one line.

    :param parts: the keys and list indices, outermost first.
    """
    text = ""
    for part in parts:
        if isinstance(part, int) or (isinstance(part, str) and _PLAIN_KEY.fullmatch(part)):
            text += f".{part}" if text else str(part)
        else:
            text += "[" + json.dumps(str(part)) + "]"
    return text


_PATRONI_NAME_CAUSE = (
    "its entry point claims a name that is one of Patroni's own configuration sections; "
    "an engine cannot serve it, so the plugin is ignored"
)

_loaded_lock = threading.RLock()
_loaded: dict[tuple[str, str, str], LoadedEngine] = {}


def _import_plugin(name: str, entry_point: metadata.EntryPoint) -> LoadedEngine:
    key = (name, _dist_key(entry_point), entry_point.value)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        source = _source_of(entry_point)
        if name in PATRONI_SECTIONS:
            raise EngineLoadError(name, source, core_version(), _PATRONI_NAME_CAUSE)
        # The requirement is checked before importing: a plugin built for another core may fail
        # in confusing ways at import time, or worse, import fine and misbehave later.
        mismatch = _check_core_requirement(entry_point)
        if mismatch is not None:
            raise EngineLoadError(name, source, core_version(), mismatch)
        try:
            module = call_plugin(
                (name, source.name, entry_point.value, "import"),
                f"import of {entry_point.value}",
                entry_point.load,
            )
        except PluginCallTimeout as exc:
            raise EngineLoadError(name, source, core_version(), str(exc)) from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            logger.debug("Importing MPP engine %r failed", name, exc_info=True)
            raise EngineLoadError(
                name, source, core_version(), f"import failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(module, ModuleType):
            raise EngineLoadError(
                name,
                source,
                core_version(),
                f"entry point {entry_point.value} names {type(module).__name__}, not a module",
            )
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        try:
            manager.register(module, name=f"{source.name}:{name}")
            manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise EngineLoadError(name, source, core_version(), f"hook contract broken: {exc}") from exc
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
    engines = installed_engines() if entry_points is None else group_entry_points(entry_points)
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
    chosen = [ep for ep in candidate.entry_points if canonicalize_name(_source_of(ep).name) == official]
    if len(chosen) != 1:
        candidate.single()  # raises the conflict
    others = ", ".join(str(_source_of(ep)) for ep in candidate.entry_points if ep is not chosen[0])
    logger.warning(
        "MPP engine name %r is also claimed by %s; %s is used",
        NULL_ENGINE,
        others,
        _source_of(chosen[0]),
    )
    return chosen[0]


def _raw_keys(config: Any) -> list[Any]:
    if isinstance(config, Mapping):
        return list(config)
    copy = getattr(config, "copy", None)
    if callable(copy):
        copied = copy()
        if isinstance(copied, Mapping):
            return list(copied)
    raise TypeError(f"configuration must be a mapping, not {type(config).__name__}")


def config_keys(config: Any) -> list[str]:
    """Top-level keys of a configuration: a Mapping, or a host object offering ``copy()`` to a dict.

    :param config: a dict, any Mapping, or Patroni's ``Config`` object.
    :raises TypeError: for anything else.
    """
    return [str(key) for key in _raw_keys(config)]


@dataclass(frozen=True)
class SectionScan:
    """How the top-level keys of a configuration divide up.

    :ivar engines: MPP sections, in configuration order: keys claimed by an installed engine, keys
        naming an engine this project publishes (installed or not), and an explicit ``null``.
    :ivar unknown: keys that neither Patroni nor any engine claims (a key that is not a string, such
        as YAML's bare ``null:``, is shown by its ``repr`` and a note).
    """

    engines: list[str]
    unknown: list[str]


def scan_sections(config: Any, engines: Mapping[str, EngineCandidate]) -> SectionScan:
    """Divide the top-level keys of ``config`` into MPP sections and unknown keys (logs nothing).

    :param config: the whole configuration (see :func:`config_keys`).
    :param engines: the installed engines by name.
    """
    sections: list[str] = []
    unknown: list[str] = []
    for key in _raw_keys(config):
        if not isinstance(key, str):
            unknown.append(f"{key!r} (not a string)")
        elif key in PATRONI_SECTIONS:
            continue  # Patroni's, even when a (broken) plugin claims the name
        elif key in engines or key in KNOWN_ENGINE_WHEELS:
            sections.append(key)
        else:
            unknown.append(key)
    return SectionScan(sections, unknown)


def engine_sections(config: Any, engines: Mapping[str, EngineCandidate]) -> list[str]:
    """The configuration's MPP sections (see :class:`SectionScan`).

    Also logs a warning for each top-level key that neither Patroni nor an installed engine claims.
    """
    scan = scan_sections(config, engines)
    claimed = PATRONI_SECTIONS & engines.keys()  # empty unless a plugin is broken
    for name in sorted(claimed & set(config_keys(config)) if claimed else ()):
        sources = ", ".join(str(source) for source in engines[name].sources)
        logger.warning(
            "MPP engine plugin %s claims %r, a Patroni configuration section; it is ignored",
            sources,
            name,
        )
    for key in scan.unknown:
        logger.warning(
            "Configuration section %r is neither a Patroni setting nor claimed by an installed "
            "MPP engine; it is ignored",
            key,
        )
    return scan.engines


def configured_section(config: Any, entry_points: Iterable[metadata.EntryPoint] | None = None) -> str | None:
    """The one MPP section of ``config``, or None when MPP is not configured.

    :param config: the whole configuration (a Mapping or the host's config object).
    :param entry_points: the entry points to discover from (tests); the installed ones by default.
    :raises MultipleEnginesError: more than one MPP section.
    """
    engines = installed_engines() if entry_points is None else group_entry_points(entry_points)
    sections = engine_sections(config, engines)
    if len(sections) > 1:
        raise MultipleEnginesError(sections)
    return sections[0] if sections else None


def get_mpp(config: Any, *, entry_points: Iterable[metadata.EntryPoint] | None = None) -> AbstractMPP:
    """Build the MPP engine descriptor the configuration asks for.

    Only the configured engine's plugin is imported (or ``null`` when no MPP section is present).
    Unlike Patroni's built-in lookup, an invalid or unusable section is an error, never a quiet
    fall-back to a non-MPP cluster.

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
        return load_engine(section, eps).create(config[section])
    except EngineConfigError:
        raise  # built from key names and messages that were masked already (see validate)
    except MPPError as exc:
        # Plugins' texts may quote what they were given: no secret of the configuration leaves.
        redact_error(exc, _config_secrets(config))
        raise


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
        engines = installed_engines() if eps is None else group_entry_points(eps)
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
    engines = installed_engines() if eps is None else group_entry_points(eps)
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
