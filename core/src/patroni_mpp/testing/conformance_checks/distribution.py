"""Checks of how an engine is packaged: its entry point, its core requirement, loading it alone."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..._core_version import CORE_DISTRIBUTION, UNKNOWN_VERSION, core_requirements, core_version
from ..._entry_points import installed_engines, source_of
from ..._sections import ENTRY_POINT_GROUP
from .failure import fail
from .time_limits import DEFAULT_IMPORT_TIME_LIMIT

_TIMEOUT_MARK = "Timeout ("
"""How :func:`faulthandler.dump_traceback_later` starts its report."""

_PROBE = r"""
import faulthandler, json, sys, time
from importlib import metadata
import patroni_mpp
name, limit = sys.argv[1], float(sys.argv[2])
if limit > 0:
    faulthandler.dump_traceback_later(limit, exit=True)
started = time.perf_counter()
loaded = patroni_mpp.load_engine(name)
elapsed = time.perf_counter() - started
faulthandler.cancel_dump_traceback_later()
own = loaded.source.name
others = set()
for ep in metadata.entry_points(group=patroni_mpp.ENTRY_POINT_GROUP):
    dist = ep.dist.metadata["Name"] if ep.dist is not None else ""
    if dist != own and ep.module in sys.modules:
        others.add(f"{ep.name} (module {ep.module} of {dist})")
cls = loaded.engine_class
report = {
    "engine_class": f"{cls.__module__}.{cls.__qualname__}", "others": sorted(others), "elapsed": elapsed
}
print(json.dumps(report))
"""


def installed_entry_point(name: str, distribution: str | None = None) -> metadata.EntryPoint:
    """Find the one installed ``patroni.mpp`` entry point named ``name``, as discovery sees them.

    :param name: the engine (section) name.
    :param distribution: the distribution expected to declare it, if known.
    :returns: the entry point.
    :raises AssertionError: when none or several distributions declare it, when it names an object
        rather than a module, or when it comes from another distribution than ``distribution``.
    """
    candidate = installed_engines().get(name)
    found: dict[str, metadata.EntryPoint] = {}
    for ep in candidate.entry_points if candidate is not None else ():
        found.setdefault(canonicalize_name(source_of(ep).name), ep)
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
    version = core_version()
    if version == UNKNOWN_VERSION:
        return requirement  # core runs from a source tree: nothing to compare with
    try:
        Version(version)
    except InvalidVersion:
        return requirement
    if not requirement.specifier.contains(version, prereleases=True):
        raise fail(f"requirement {requirement} excludes the installed {CORE_DISTRIBUTION} {version}")
    return requirement


def check_loads_in_fresh_interpreter(
    name: str, cwd: Path, timeout: float = 300, time_limit: float | None = DEFAULT_IMPORT_TIME_LIMIT
) -> str:
    """Load the engine through discovery in a new Python process of this environment.

    This catches a plugin that only imports because the test session imported something first, a
    plugin that imports other engines (they must stay independent), and a slow import: loading the
    engine (core already imported) must take at most ``time_limit`` seconds; the process is stopped
    at the limit, and the message shows where the import was then.

    :param name: the engine name.
    :param cwd: working directory of the process (an empty one keeps test modules off ``sys.path``).
    :param timeout: seconds after which the process is considered hung (a guard).
    :param time_limit: seconds loading the engine may take (None: no limit).
    :returns: the dotted name of the engine class.
    :raises AssertionError: when loading fails, is too slow or imports another engine's module.
    """
    limit = time_limit or 0.0
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, name, repr(limit)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise fail(f"loading engine {name!r} in a new interpreter hung for {timeout} s") from exc
    if result.returncode != 0 and limit and _TIMEOUT_MARK in result.stderr:
        where = result.stderr[result.stderr.index(_TIMEOUT_MARK) :].strip()
        raise fail(
            f"loading engine {name!r} in a new interpreter was still running after the limit of "
            f"{limit:g} s (import_time_limit; the kit stopped it there): Patroni and every "
            "patroni-mpp command import the engine at start-up, so its import must not sleep, "
            "connect or compute; do that work when the handler runs. Where it was:\n" + where[-3000:]
        )
    if result.returncode != 0:
        raise fail(f"loading engine {name!r} in a new interpreter failed:\n{result.stderr.strip()[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["others"]:
        raise fail(
            f"loading engine {name!r} also imported other engines: {', '.join(report['others'])}; "
            "an engine must load with only core and itself installed"
        )
    if limit and report["elapsed"] > limit:
        raise fail(
            f"loading engine {name!r} in a new interpreter took {report['elapsed']:.2f} s, over the "
            f"limit of {limit:g} s (import_time_limit)"
        )
    return str(report["engine_class"])
