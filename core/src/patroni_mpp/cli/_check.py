"""``patroni-mpp check CONFIG.yml``: which engine a Patroni configuration loads, and its problems.

The file is read as Patroni reads its YAML configuration; ``PATRONI_<SECTION>_<KEY>`` environment
variables then override keys of the engine's section (``PATRONI_CITUS_GROUP`` sets
``citus.group``), and may configure an engine section that the file does not have, as
``PATRONI_CITUS_*`` do for Patroni. A variable of an installed engine's section whose key the
section does not have, and one whose section part is one edit away from an installed engine's
(``PATRONI_CITSU_GROUP``), are warned about, as is a top-level key near an engine's section
(``did you mean 'citus'?``); Patroni's own variables never are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from .._discovery import create_engine, load_engine
from .._entry_points import installed_engines
from .._environment import (
    StrayVariable,
    apply_environment,
    environment_overrides,
    misspelled_section_variables,
    sections_in_environment,
    unknown_key_variables,
)
from .._errors import EngineConfigError, MPPError, MultipleEnginesError
from .._loaded_engine import LoadedEngine
from .._section_scan import scan_sections, unknown_section_warning
from .._sections import KNOWN_ENGINE_WHEELS, NULL_ENGINE, PATRONI_SECTIONS

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Add the ``check`` subcommand.

    :param subparsers: the ``add_subparsers()`` object of the main parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="check the MPP part of a Patroni configuration file",
        description=(
            "Read a Patroni YAML configuration plus the PATRONI_<SECTION>_<KEY> environment "
            "variables that apply to the engine's section, say which MPP engine would load, and "
            "report every problem in its section. Exit status: 0 valid, 1 invalid, 2 usage error "
            "(unreadable file, not YAML, not a mapping)."
        ),
    )
    parser.add_argument("config", metavar="CONFIG.yml", help="the Patroni configuration file")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(handler=run)


@dataclass
class CheckReport:
    """What ``check`` found.

    :ivar section: the MPP section that would be used (None when MPP is not configured).
    :ivar engine: the engine that would load (the ``null`` one when MPP is not configured), or None
        when it cannot be loaded.
    :ivar environment: section key -> the environment variable that set it.
    :ivar warnings: things that do not stop the engine (ignored sections).
    :ivar errors: reasons why no engine can be built (not installed, broken, several sections).
    :ivar problems: ``(location, message)`` for each invalid field (``<section>.<key>``).
    """

    section: str | None = None
    engine: LoadedEngine | None = None
    environment: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when the engine would load with this configuration."""
        return not self.errors and not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        engine = None
        if self.engine is not None:
            engine = {
                "name": self.engine.name,
                "distribution": self.engine.source.name,
                "version": self.engine.source.version,
                "module": self.engine.source.value,
            }
        return {
            "valid": self.valid,
            "section": self.section,
            "engine": engine,
            "environment": self.environment,
            "warnings": self.warnings,
            "errors": self.errors,
            "problems": [{"location": loc, "message": msg} for loc, msg in self.problems],
        }


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _env_sections(
    config: Mapping[str, Any],
    engines: Iterable[str],
    environ: Mapping[str, str],
    entry_points: list[metadata.EntryPoint] | None,
) -> list[str]:
    """Engine sections that only the environment configures (the file has no such key)."""
    installed = set(engines)
    names = sorted((installed | set(KNOWN_ENGINE_WHEELS)) - {NULL_ENGINE} - set(config))
    found = []
    for name in sections_in_environment(names, environ):
        if name not in installed:
            found.append(name)  # a known engine that is not installed: the error says what to install
            continue
        try:
            keys = load_engine(name, entry_points).section_keys
        except MPPError:
            found.append(name)  # configured but unusable: the error comes when it is loaded again
            continue
        if environment_overrides(name, keys, environ):
            found.append(name)
    return found


def _stray_variables(
    engines: Iterable[str], environ: Mapping[str, str], entry_points: list[metadata.EntryPoint] | None
) -> list[StrayVariable]:
    """``PATRONI_*`` variables meant for an installed engine's section that nothing reads."""
    names = sorted(set(engines) - {NULL_ENGINE})
    stray = misspelled_section_variables(names, PATRONI_SECTIONS, environ)
    for name in sections_in_environment(names, environ):
        try:
            keys = load_engine(name, entry_points).section_keys
        except MPPError:
            continue  # reported when the section is loaded, if it is configured
        if keys is not None:
            others = [other for other in names if other != name]
            stray += unknown_key_variables(name, keys, environ, other_sections=others)
    return sorted(stray, key=lambda v: v.variable)


def _stray_warning(stray: StrayVariable) -> str:
    if stray.misspelled_section:
        text = f"environment variable {stray.variable} names no installed MPP engine's section"
        return f"{text}; did you mean {stray.section} ({stray.suggestion})? It is ignored"
    text = f"environment variable {stray.variable} names no key of the {stray.section} section"
    hint = f"; did you mean {stray.suggestion}?" if stray.suggestion else ""
    return f"{text}{hint} It is ignored" if hint else f"{text}; it is ignored"


def check_config(
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> CheckReport:
    """Check the MPP part of a whole Patroni configuration.

    :param config: the parsed configuration file.
    :param environ: the environment (``os.environ`` by default).
    :param entry_points: the entry points to discover from (tests); the installed ones by default.
    :returns: the report; nothing is raised for configuration or engine problems.
    """
    env = os.environ if environ is None else environ
    eps = None if entry_points is None else list(entry_points)
    engines = installed_engines(eps)
    report = CheckReport()
    scan = scan_sections(config, engines)
    report.warnings = [unknown_section_warning(key, engines) for key in scan.unknown]
    report.warnings += [_stray_warning(v) for v in _stray_variables(engines, env, eps)]
    sections = scan.engines + _env_sections(config, engines, env, eps)
    if len(sections) > 1:
        report.errors.append(_one_line(MultipleEnginesError(sections)))
        return report
    report.section = sections[0] if sections else None
    name = report.section or NULL_ENGINE
    try:
        report.engine = load_engine(name, eps)
    except MPPError as exc:
        report.errors.append(_one_line(exc))
        return report
    value = config.get(name)
    if report.section is not None:
        value, report.environment = apply_environment(value, name, report.engine.section_keys, env)
    try:
        create_engine(report.engine, value)
    except EngineConfigError as exc:
        report.problems = [(f"{name}.{p.location}" if p.location else name, p.message) for p in exc.problems]
    except MPPError as exc:
        report.errors.append(_one_line(exc))
    return report


def read_config(path: Path) -> dict[str, Any]:
    """Read a YAML configuration file whose top level is a mapping (an empty file counts as ``{}``).

    :param path: the file.
    :raises ValueError: unreadable, not YAML, or not a mapping; the message names the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        raise ValueError(f"cannot read {path}: {reason}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {_one_line(exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping, not {type(data).__name__}")
    return data


def _print_text(path: Path, report: CheckReport) -> None:
    print(f"configuration: {path}")
    if report.engine is not None:
        source = report.engine.source
        what = "" if report.section else " (MPP is not configured)"
        print(f"engine: {report.engine.name} from {source} (module {source.value}){what}")
    for key, var in report.environment.items():
        print(f"environment: {var} sets {report.section}.{key}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    for location, message in report.problems:
        print(f"error: {location}: {message}", file=sys.stderr)
    if report.valid:
        print("result: valid")
    else:
        count = len(report.errors) + len(report.problems)
        print(f"result: invalid ({count} problem{'s' if count != 1 else ''})")


def run(args: argparse.Namespace) -> int:
    """Check the file named on the command line.

    :param args: parsed arguments (``config``, ``json``).
    :returns: 0 valid, 1 invalid, 2 usage error.
    """
    path = Path(args.config)
    try:
        config = read_config(path)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = check_config(config)
    if args.json:
        print(json.dumps({"configuration": str(path), **report.as_dict()}, indent=2))
    else:
        _print_text(path, report)
    return EXIT_VALID if report.valid else EXIT_INVALID
