"""``patroni-mpp new-engine NAME [--dir DIR]``: write a ready-to-build engine package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._core_version import core_version
from .._scaffold import ScaffoldError, engine_names, render_package

EXIT_OK = 0
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Add the ``new-engine`` subcommand.

    :param subparsers: the ``add_subparsers()`` object of the main parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "new-engine",
        help="write a ready-to-build engine package (pyproject, hooks, conformance tests, README)",
        description=(
            "Write a new MPP engine package: pyproject.toml with the 'patroni.mpp' entry point "
            "and a patroni-mpp version range, a module of hook implementations, an engine whose "
            "handler methods work and do nothing yet, tests running the conformance suite, and a "
            "README. Exit status 2 for an unusable name or target directory."
        ),
    )
    parser.add_argument(
        "name",
        metavar="NAME",
        help="engine name = configuration section and entry point name (e.g. my_engine)",
    )
    parser.add_argument(
        "--dir",
        dest="directory",
        metavar="DIR",
        type=Path,
        default=None,
        help="directory to write the package into; must not exist or be empty (default: ./patroni-mpp-NAME)",
    )
    parser.set_defaults(handler=run)


def _usage_error(message: str) -> int:
    print(f"patroni-mpp new-engine: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    """Write the package.

    :param args: ``name`` and ``directory`` from the command line.
    :returns: 0 on success, 2 for an unusable name or target directory.
    """
    try:
        names = engine_names(args.name, core_version())
    except ScaffoldError as exc:
        return _usage_error(str(exc))
    target: Path = args.directory if args.directory is not None else Path(names.dist)
    if target.exists() and not target.is_dir():
        return _usage_error(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        return _usage_error(f"{target} is not empty; choose another directory with --dir")
    files = render_package(names)
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    print(f"Wrote engine package {names.dist} (section '{names.section}') to {target}:")
    for relative in sorted(files):
        print(f"  {relative}")
    print("Next:")
    print(f"  cd {target}")
    print("  pip install -e '.[test]'")
    print("  pytest")
    return EXIT_OK
