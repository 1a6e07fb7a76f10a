"""The checks of the engine conformance suite, as plain functions.

:class:`patroni_mpp.testing.conformance.EngineConformance` runs them; an engine's own tests may call
them directly too. Each check raises :class:`AssertionError` with a message that names what is
wrong and, where it helps, why the host needs it. Exceptions raised by the engine itself propagate
unchanged unless the contract says the call must not raise (then the check turns them into a
failure naming the input).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pluggy
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel

from .. import hookspecs
from .._abstract import AbstractMPP, AbstractMPPHandler
from .._discovery import CORE_DISTRIBUTION, LoadedEngine, core_requirements
from .._errors import EngineConfigError, EngineLoadError
from .._protocols import ClusterLike, PostgresqlLike
from .._sections import ENTRY_POINT_GROUP

GROUP_STRINGS: tuple[str, ...] = (
    "0", "1", "2", "10", "99", "12345", "007", "00",
    "-1", "+1", "1.0", "1e3", "0x1", "1_000", " 1", "1 ", "1\n", "\n", "", "\u0663", "\uff11",
    "\u00b2", "a", "1a", "a1", "null", "None", "leader", "members", "config", "initialize", "sync",
    "failover", "history", "status", "failsafe", "optime",
)  # fmt: skip
"""Strings a DCS may present where a group id is expected: key path parts, Kubernetes label values.

Includes the canonical ids, strings ``int()`` accepts but that are not canonical (``"007"``,
``" 1"``, ``"1_000"``, non-ASCII digits), strings it rejects (``""``, ``"1.0"``, ``"\u00b2"``), and
the names of Patroni's own keys.
"""

JUNK_SECTIONS: tuple[Any, ...] = (
    None, 0, 1, -1, 1.5, True, "", "x", [], [1], (), {}, {"group": "x"}, {"group": None},
    {"group": -1}, {"database": 5}, {"group": 0, "database": None}, {"unknown": object()},
)  # fmt: skip
"""Raw section values of every kind; ``validate_config`` must answer each with a bool."""

EVENT_TYPES: tuple[str, ...] = ("before_demote", "before_promote", "after_promote", "unknown_event")
"""Event types sent to ``handle_event``: the three the host sends, and one it may send later."""

PRELOAD_SAMPLES: tuple[str | None, ...] = (
    None, "", "pg_stat_statements", "pg_stat_statements,auto_explain",
    " pg_stat_statements , auto_explain ", '"pg_stat_statements",pg_cron',
)  # fmt: skip
"""Values of ``shared_preload_libraries`` handed to ``adjust_postgres_gucs`` (None: key absent)."""

BASE_PARAMETERS: Mapping[str, Any] = {
    "max_connections": 100,
    "max_prepared_transactions": 0,
    "max_locks_per_transaction": 64,
    "max_worker_processes": 8,
    "wal_level": "replica",
    "hot_standby": "on",
    "cluster_name": "conformance",
    "listen_addresses": "127.0.0.1",
    "port": 5432,
}
"""A GUC dict shaped like the one the host computes (defaults, cluster name, addresses)."""

GUC_VALUE_TYPES = (str, int, float, bool)
"""The types a GUC value may have in the dict the host writes to ``postgresql.conf``."""

K8S_LABEL_RE = re.compile(r"^(?:[a-z0-9A-Z](?:[-a-z0-9_.A-Z]{0,61}[a-z0-9A-Z])?)$")
"""The name part of a Kubernetes label key (at most 63 characters)."""

_PROBE = r"""
import json, sys
from importlib import metadata
import patroni_mpp
name = sys.argv[1]
loaded = patroni_mpp.load_engine(name)
own = loaded.source.name
others = set()
for ep in metadata.entry_points(group=patroni_mpp.ENTRY_POINT_GROUP):
    dist = ep.dist.metadata["Name"] if ep.dist is not None else ""
    if dist != own and ep.module in sys.modules:
        others.add(f"{ep.name} (module {ep.module} of {dist})")
cls = loaded.engine_class
report = {"engine_class": f"{cls.__module__}.{cls.__qualname__}", "others": sorted(others)}
print(json.dumps(report))
"""


def fail(message: str) -> AssertionError:
    """Build the :class:`AssertionError` that a check raises.

    Checks write ``raise fail(...)``, which keeps mypy's flow analysis.


    :param message: what is wrong.
    """
    return AssertionError(message)


# -- packaging --------------------------------------------------------------------------------


def installed_entry_point(name: str, distribution: str | None = None) -> metadata.EntryPoint:
    """Find the one installed ``patroni.mpp`` entry point named ``name``.

    :param name: the engine (section) name.
    :param distribution: the distribution expected to declare it, if known.
    :returns: the entry point.
    :raises AssertionError: when none or several distributions declare it, when it names an object
        rather than a module, or when it comes from another distribution than ``distribution``.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            dist = ep.dist.metadata["Name"] if ep.dist is not None else "<unknown distribution>"
            found.setdefault(canonicalize_name(dist), ep)
    if not found:
        raise fail(
            f"no installed distribution declares the entry point {name!r} in the group "
            f"{ENTRY_POINT_GROUP!r}: install the engine (its wheel, or 'pip install -e .') "
            "into the environment that runs the tests, and check [project.entry-points."
            f'"{ENTRY_POINT_GROUP}"] in its pyproject.toml'
        )
    if len(found) > 1:
        raise fail(
            f"several distributions declare the entry point {name!r}: {', '.join(sorted(found))}; "
            "discovery refuses a name claimed twice"
        )
    ((dist_name, ep),) = found.items()
    if distribution is not None and dist_name != canonicalize_name(distribution):
        raise fail(f"entry point {name!r} comes from {dist_name}, expected {distribution}")
    if ep.attr:
        raise fail(
            f"entry point {name!r} = {ep.value!r} names an object; it must name the module that "
            "holds the hook implementations"
        )
    return ep


def core_requirement(entry_point: metadata.EntryPoint) -> Requirement:
    """The ``patroni-mpp`` requirement of the distribution that declares ``entry_point``.

    :param entry_point: an engine's entry point.
    :returns: the requirement (outside any extra).
    :raises AssertionError: when the distribution declares none.
    """
    for requirement in core_requirements(entry_point.dist):
        return requirement
    raise fail(
        f"the distribution declaring entry point {entry_point.name!r} does not depend on "
        f"{CORE_DISTRIBUTION}; declare a range such as '{CORE_DISTRIBUTION}>=0.1,<0.2' in "
        "[project] dependencies, so that discovery can refuse an incompatible core"
    )


def check_core_requirement(entry_point: metadata.EntryPoint) -> Requirement:
    """Check that the engine declares a bounded ``patroni-mpp`` range admitting the installed core.

    :param entry_point: the engine's entry point.
    :returns: the requirement.
    :raises AssertionError: when the range is missing, has no upper bound, or excludes this core.
    """
    requirement = core_requirement(entry_point)
    if not any(spec.operator in ("<", "<=", "==", "===", "~=") for spec in requirement.specifier):
        raise fail(
            f"requirement {requirement} has no upper bound: the hook specifications may change in "
            "the next minor series of 0.x (next major from 1.0); declare '<' the next series"
        )
    try:
        version = metadata.version(CORE_DISTRIBUTION)
        Version(version)
    except (metadata.PackageNotFoundError, InvalidVersion):
        return requirement  # core runs from a source tree: nothing to compare with
    if not requirement.specifier.contains(version, prereleases=True):
        raise fail(f"requirement {requirement} excludes the installed {CORE_DISTRIBUTION} {version}")
    return requirement


def check_loads_in_fresh_interpreter(name: str, cwd: Path, timeout: float = 300) -> str:
    """Load the engine through discovery in a new Python process of this environment.

    This catches a plugin that only imports because the test session imported something first, and a
    plugin that imports other engines (they must stay independent).

    :param name: the engine name.
    :param cwd: working directory of the process (an empty one keeps test modules off ``sys.path``).
    :param timeout: seconds after which the process is considered hung.
    :returns: the dotted name of the engine class.
    :raises AssertionError: when loading fails or imports another engine's module.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, name],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise fail(f"loading engine {name!r} in a new interpreter hung for {timeout} s") from exc
    if result.returncode != 0:
        raise fail(f"loading engine {name!r} in a new interpreter failed:\n{result.stderr.strip()[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["others"]:
        raise fail(
            f"loading engine {name!r} also imported other engines: {', '.join(report['others'])}; "
            "an engine must load with only core and itself installed"
        )
    return str(report["engine_class"])


# -- hooks ------------------------------------------------------------------------------------


def declared_hooks() -> frozenset[str]:
    """Names of the hooks that :mod:`patroni_mpp.hookspecs` declares."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return frozenset(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), marker))


def plugin_manager(module: ModuleType) -> pluggy.PluginManager:
    """A plugin manager holding the specifications and only ``module``, as discovery builds it.

    :param module: an engine's module of hook implementations.
    :raises AssertionError: when pluggy refuses the module (unknown hook, wrong argument names).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(module)
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise fail(f"pluggy refuses {module.__name__}: {exc}") from exc
    return manager


def check_hook_module(module: ModuleType) -> list[str]:
    """Check that the module implements only declared hooks and marks every hook-like function.

    :param module: an engine's module of hook implementations.
    :returns: the names of the hooks it implements.
    :raises AssertionError: for an implementation of an undeclared hook (optional or not), a
        function named like a hook without ``@hookimpl``, or anything pluggy refuses.
    """
    declared = declared_hooks()
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    implemented: list[str] = []
    problems: list[str] = []
    for attr in sorted(dir(module)):
        obj = getattr(module, attr, None)
        options = getattr(obj, marker, None) if callable(obj) else None
        if isinstance(options, dict):
            hook = options.get("specname") or attr
            if hook in declared:
                implemented.append(hook)
            else:
                problems.append(f"{attr} implements {hook!r}, which patroni_mpp.hookspecs does not declare")
        elif attr in declared and callable(obj):
            problems.append(f"{attr} is named like a hook but is not decorated with @hookimpl")
    if problems:
        raise fail(f"hook module {module.__name__}: " + "; ".join(problems))
    plugin_manager(module)
    return implemented


class _ForeignEngine(AbstractMPP):
    """An engine no plugin serves, for checking that hooks answer None for engines not theirs."""

    group_re: ClassVar[re.Pattern[str]] = re.compile(r"^(0|[1-9][0-9]*)$")

    @staticmethod
    def validate_config(config: Any) -> bool:
        return isinstance(config, dict)

    @property
    def group(self) -> int:
        return 1

    @property
    def coordinator_group_id(self) -> int:
        return 0


FOREIGN_NAME = "conformance_no_such_engine"
"""A section name that no plugin serves."""


def check_factories(loaded: LoadedEngine, postgresql: PostgresqlLike) -> None:
    """Check what each factory hook answers, for its own name and for names and engines not its own.

    :param loaded: the engine as discovery loaded it.
    :param postgresql: a host PostgreSQL object (not used by a correct plugin answering None).
    :raises AssertionError: for a wrong type, an abstract engine class, a missing config model, or
        an answer for a section or engine the plugin does not serve.
    """
    hook = plugin_manager(loaded.module).hook
    engine_class = hook.mpp_engine_class(name=loaded.name)
    if not (isinstance(engine_class, type) and issubclass(engine_class, AbstractMPP)):
        raise fail(f"mpp_engine_class({loaded.name!r}) returned {engine_class!r}, not an AbstractMPP")
    if getattr(engine_class, "__abstractmethods__", None):
        raise fail(f"{engine_class.__qualname__} is abstract: {sorted(engine_class.__abstractmethods__)}")
    if not isinstance(getattr(engine_class, "group_re", None), re.Pattern):
        raise fail(f"{engine_class.__qualname__}.group_re must be a compiled regular expression")
    model = hook.mpp_config_model(name=loaded.name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise fail(
            f"mpp_config_model({loaded.name!r}) returned {model!r}: the kit requires a pydantic "
            "model, which gives operators field-level errors and 'patroni-mpp schema' its output"
        )
    for hook_name in ("mpp_engine_class", "mpp_config_model"):
        answer = getattr(hook, hook_name)(name=FOREIGN_NAME)
        if answer is not None:
            raise fail(f"{hook_name}({FOREIGN_NAME!r}) returned {answer!r}; answer None for "
                       "sections the plugin does not serve")  # fmt: skip
    foreign = _ForeignEngine({"group": 1})
    answer = hook.mpp_handler(engine=foreign, postgresql=postgresql)
    if answer is not None:
        raise fail(f"mpp_handler built {answer!r} for an engine of another plugin; answer None")


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    """An invalid configuration sample with the location its error must name.

    :ivar value: the raw section value.
    :ivar location: the dotted key inside the section that an error must name (``""``: the whole
        section, for a problem that belongs to no single key).
    """

    value: Any
    location: str


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


# -- identity ---------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_identity(engine: AbstractMPP) -> None:
    """Check the derived identity of a descriptor (or handler).

    :param engine: an engine built from a valid section.
    :raises AssertionError: for a non-string or abstract ``type``, an invalid Kubernetes label,
        non-bool answers, coordinator and worker answers that contradict each other or the group, or
        an enabled engine whose group ids are not integers that its ``group_re`` recognises.
    """
    kind = engine.type
    if not isinstance(kind, str) or not kind or kind.startswith("Abstract"):
        raise fail(f"type {kind!r} must be the engine's class name (check the base-class order)")
    label = engine.k8s_group_label
    if not isinstance(label, str) or not K8S_LABEL_RE.match(label):
        raise fail(f"k8s_group_label {label!r} is not a valid Kubernetes label name")
    answers = {
        "is_enabled()": engine.is_enabled(),
        "is_coordinator()": engine.is_coordinator(),
        "is_worker()": engine.is_worker(),
    }
    for call, answer in answers.items():
        if not isinstance(answer, bool):
            raise fail(f"{call} returned {answer!r}, not a bool")
    enabled, coordinator, worker = answers.values()
    if not enabled:
        if coordinator or worker:
            raise fail("a disabled engine must be neither coordinator nor worker")
        return
    if coordinator == worker:
        raise fail(f"an enabled engine is exactly one of coordinator and worker, got {answers}")
    if coordinator != (engine.group == engine.coordinator_group_id):
        raise fail(
            f"is_coordinator() is {coordinator} but group {engine.group!r} vs coordinator group "
            f"{engine.coordinator_group_id!r} says otherwise"
        )
    for attr in ("group", "coordinator_group_id"):
        value = getattr(engine, attr)
        if not _is_int(value):
            raise fail(f"{attr} of an enabled engine must be an int (DCS keys are read back with "
                       f"int()), got {value!r}")  # fmt: skip
        if not engine.group_re.match(str(value)):
            raise fail(
                f"group_re {engine.group_re.pattern!r} does not match {str(value)!r} ({attr}): the "
                "coordinator would not see this group in the DCS"
            )


def check_group_re(pattern: re.Pattern[str], strings: Iterable[str] = GROUP_STRINGS) -> list[str]:
    """Check that ``pattern`` matches only strings that ``int()`` accepts.

    :param pattern: an engine's ``group_re``.
    :param strings: candidate key components and label values.
    :returns: the strings it matched.
    :raises AssertionError: naming every matched string that ``int()`` rejects.
    """
    matched: list[str] = []
    bad: list[str] = []
    for text in strings:
        if pattern.match(text):
            matched.append(text)
            try:
                int(text)
            except ValueError:
                bad.append(text)
    if bad:
        raise fail(
            f"group_re {pattern.pattern!r} matches {bad!r}, which int() rejects: every DCS loader "
            "converts a matching key or label with int()"
        )
    return matched


def check_handler_identity(
    engine: AbstractMPP, handler: Any, postgresql: PostgresqlLike
) -> AbstractMPPHandler:
    """Check that the handler is an :class:`AbstractMPPHandler` with its descriptor's identity.

    :param engine: the descriptor.
    :param handler: what building the handler gave.
    :param postgresql: the host object it was built for.
    :returns: the handler.
    """
    if not isinstance(handler, AbstractMPPHandler):
        raise fail(f"the handler {handler!r} is not an AbstractMPPHandler")
    check_identity(handler)
    for attr in ("type", "k8s_group_label", "group", "coordinator_group_id", "config"):
        if getattr(handler, attr) != getattr(engine, attr):
            raise fail(
                f"handler.{attr} is {getattr(handler, attr)!r} but the descriptor's is "
                f"{getattr(engine, attr)!r} (subclass the descriptor first: "
                "class MyHandler(MyEngine, AbstractMPPHandler))"
            )
    for call in ("is_enabled", "is_coordinator", "is_worker"):
        if getattr(handler, call)() != getattr(engine, call)():
            raise fail(f"handler.{call}() differs from the descriptor's")
    if handler.postgresql is not postgresql:
        raise fail("handler.postgresql is not the host object the handler was built for")
    return handler


# -- handler methods --------------------------------------------------------------------------


def sample_events(engine: AbstractMPP) -> list[dict[str, Any]]:
    """Well-formed worker notifications (host-contract §8.2) from a group that is not in the view.

    :param engine: the descriptor (its group is avoided).
    """
    ids = [v for v in (engine.group, engine.coordinator_group_id) if _is_int(v)]
    group = max(ids, default=0) + 1
    return [
        {
            "type": kind,
            "group": group,
            "leader": "conformance-worker",
            "timeout": 30,
            "cooldown": 10,
        }
        for kind in EVENT_TYPES
    ]


def check_handler_calls(handler: AbstractMPPHandler, cluster: ClusterLike) -> None:
    """Call ``sync_meta_data``, ``handle_event``, ``schedule_cache_rebuild`` and ``on_demote``.

    Each must return None. Exceptions raised by the engine propagate, except a ``ValueError``
    rejecting the event type that the host never sends.

    :param handler: the handler.
    :param cluster: the DCS view to hand it.
    """
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("sync_meta_data(cluster)", lambda: handler.sync_meta_data(cluster))
    ]
    for event in sample_events(handler):
        calls.append(
            (f"handle_event(cluster, {event!r})", lambda e=event: handler.handle_event(cluster, e))  # type: ignore[misc]
        )
    calls += [
        ("sync_meta_data(cluster)", lambda: handler.sync_meta_data(cluster)),
        ("schedule_cache_rebuild()", handler.schedule_cache_rebuild),
        ("on_demote()", handler.on_demote),
    ]
    for text, call in calls:
        try:
            answer = call()
        except ValueError:
            # Rejecting an event type the host does not send, with a ValueError, is allowed: the
            # host answers it as a bad request.
            if "unknown_event" not in text:
                raise
            continue
        if answer is not None:
            raise fail(f"{text} returned {answer!r}; it must return None")


class CaseInsensitiveParameters(MutableMapping[str, Any]):
    """A GUC mapping whose keys compare case-insensitively, like the dict the host passes.

    The host's dict is not a :class:`dict` subclass: an engine must use it through the mapping
    interface (``[]``, ``get``, ``setdefault``, ``in``, ``copy``).
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        """:param data: initial entries."""
        self._data: dict[str, tuple[str, Any]] = {}
        if data:
            self.update(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key.lower()][1]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key.lower()] = (key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"

    def copy(self) -> CaseInsensitiveParameters:
        """A shallow copy."""
        return CaseInsensitiveParameters(self)

    def lowered(self) -> dict[str, Any]:
        """The entries with lower-cased keys (for comparisons)."""
        return {key: value for key, (_, value) in self._data.items()}


def preload_entries(value: Any) -> list[str]:
    """The libraries of a ``shared_preload_libraries`` value, without blanks and double quotes.

    :param value: the GUC value (None or empty: no library).
    """
    if value is None:
        return []
    return [part.strip().strip('"') for part in str(value).split(",") if part.strip().strip('"')]


def _parameter_samples() -> Iterator[tuple[str, Any]]:
    for preload in PRELOAD_SAMPLES:
        base = dict(BASE_PARAMETERS)
        if preload is not None:
            base["shared_preload_libraries"] = preload
        yield f"dict with shared_preload_libraries={preload!r}", base
        yield (
            f"case-insensitive mapping with shared_preload_libraries={preload!r}",
            CaseInsensitiveParameters(base),
        )
    mixed = CaseInsensitiveParameters(BASE_PARAMETERS)
    mixed["Shared_Preload_Libraries"] = "pg_stat_statements"
    mixed["Max_Connections"] = 100
    yield "case-insensitive mapping with mixed-case keys", mixed


def _snapshot(parameters: Any) -> dict[str, Any]:
    if isinstance(parameters, CaseInsensitiveParameters):
        return parameters.lowered()
    return dict(parameters)


def check_adjust_postgres_gucs(handler: AbstractMPPHandler) -> None:
    """Check that ``adjust_postgres_gucs`` is idempotent and keeps every preloaded library.

    Runs over plain dicts and case-insensitive mappings with several ``shared_preload_libraries``
    values: adjusting twice must equal adjusting once, no library present before may disappear, and
    every value must stay a GUC value (str, int, float or bool).

    :param handler: the handler.
    """
    for text, parameters in _parameter_samples():
        before = preload_entries(parameters.get("shared_preload_libraries"))
        once = parameters.copy()
        answer = handler.adjust_postgres_gucs(once)
        if answer is not None:
            raise fail(f"adjust_postgres_gucs({text}) returned {answer!r}; it changes the dict in place")
        for key, value in once.items():
            if not isinstance(value, GUC_VALUE_TYPES):
                raise fail(f"adjust_postgres_gucs set {key} to {value!r}, which is not a GUC value")
        twice = once.copy()
        handler.adjust_postgres_gucs(twice)
        if _snapshot(twice) != _snapshot(once):
            raise fail(
                f"adjust_postgres_gucs is not idempotent ({text}): once gave {_snapshot(once)!r}, "
                f"twice gave {_snapshot(twice)!r}; the host computes the parameters again on "
                "every reload"
            )
        after = preload_entries(once.get("shared_preload_libraries"))
        dropped = [library for library in before if library not in after]
        if dropped:
            raise fail(
                f"adjust_postgres_gucs dropped {dropped!r} from shared_preload_libraries ({text}): "
                f"{parameters.get('shared_preload_libraries')!r} became "
                f"{once.get('shared_preload_libraries')!r}"
            )


def sample_slots(databases: Iterable[str]) -> list[dict[str, Any]]:
    """Slot dicts as the host's slot manager may pass them (host-contract §3.4), many keys missing.

    :param databases: database names to put in logical slots (the engine's own among them).
    """
    slots: list[dict[str, Any]] = [
        {},
        {"type": None},
        {"name": "orphan"},
        {"type": "physical"},
        {"type": "physical", "xmin": None, "restart_lsn": "0/3000000", "wal_status": "reserved"},
        {"type": "logical"},
    ]
    for database in dict.fromkeys(databases):
        slots.append({"type": "logical", "database": database})
        slots.append({"type": "logical", "database": database, "plugin": "pgoutput"})
        for plugin in ("pgoutput", "citus", "test_decoding"):
            full = {
                "type": "logical",
                "plugin": plugin,
                "database": database,
                "datoid": 16384,
                "catalog_xmin": 750,
                "confirmed_flush_lsn": "0/3000148",
                "wal_status": "reserved",
            }
            slots.append(full)
            for name in ("citus_shard_move_slot_1_2_3", "citus_shard_split_slot_1_2_3", "my_slot"):
                slots.append({**full, "name": name})
    return slots


def check_ignore_replication_slot(handler: AbstractMPPHandler, databases: Iterable[str]) -> None:
    """Check that ``ignore_replication_slot`` returns a bool for every sample slot and never raises.

    :param handler: the handler.
    :param databases: database names for the logical slot samples.
    """
    for slot in sample_slots(databases):
        try:
            answer: object = handler.ignore_replication_slot(dict(slot))
        except Exception as exc:
            raise fail(
                f"ignore_replication_slot({slot!r}) raised {type(exc).__name__}: {exc}; the host "
                "may pass any subset of the slot keys (the name is often missing)"
            ) from exc
        if not isinstance(answer, bool):
            raise fail(f"ignore_replication_slot({slot!r}) returned {answer!r}, not a bool")


ExpectedError = type[BaseException] | tuple[type[BaseException], ...]
"""An exception class, or a tuple of them, that a call is expected to raise."""


def check_bootstrap(
    handler: AbstractMPPHandler, expected_error: ExpectedError | None
) -> BaseException | None:
    """Run ``bootstrap()`` once, expecting None or the given error (with a message).

    :param handler: a handler built for a freshly initialised server.
    :param expected_error: the error bootstrap must raise on this server, or None for success.
    :returns: the expected error raised, if any.
    """
    if expected_error is None:
        answer = handler.bootstrap()
        if answer is not None:
            raise fail(f"bootstrap() returned {answer!r}; it must return None")
        return None
    try:
        handler.bootstrap()
    except expected_error as exc:
        if not str(exc).strip():
            raise fail(f"bootstrap() raised {type(exc).__name__} without a message") from exc
        return exc
    raise fail(f"bootstrap() was expected to raise {expected_error!r} on this server")


# -- threads ----------------------------------------------------------------------------------


def new_threads(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Threads alive now that were not in ``before``.

    :param before: a snapshot of :func:`threading.enumerate`.
    """
    return [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]


def check_threads_are_daemons(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Check that every thread started since ``before`` is a daemon thread (it must not block exit).

    :param before: a snapshot of :func:`threading.enumerate` taken before the handler was built.
    :returns: the new threads.
    """
    started = new_threads(before)
    blocking = [thread.name for thread in started if not thread.daemon]
    if blocking:
        raise fail(f"the handler started non-daemon threads {blocking!r}; they would keep Patroni "
                   "from exiting")  # fmt: skip
    return started


def check_no_thread_left(before: Collection[threading.Thread], join_timeout: float) -> None:
    """Check that every thread started since ``before`` ends once the handler was stopped.

    Each thread is joined for up to ``join_timeout`` seconds (a guard against hanging, not a
    measurement).

    :param before: a snapshot of :func:`threading.enumerate` taken before the handler was built.
    :param join_timeout: seconds to wait for each thread.
    """
    for thread in new_threads(before):
        thread.join(join_timeout)
    left = [thread.name for thread in new_threads(before)]
    if left:
        raise fail(
            f"threads still running after the handler was stopped: {left!r}; give the suite a "
            "stop_handler() that stops them"
        )
