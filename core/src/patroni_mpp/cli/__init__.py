"""The ``patroni-mpp`` command: inspect engines, check configurations, and run Patroni with plugins.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; the parser it adds sets
``handler`` to a function taking the parsed arguments and returning the exit code. ``run`` and
``ctl`` are drop-ins for ``patroni`` and ``patronictl`` and get their arguments untouched.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Sequence

SUBCOMMAND_MODULES = ("_list", "_check", "_schema", "_new_engine")
"""Modules of the argparse subcommands, in the order ``--help`` shows them."""

PASSTHROUGH = {"run": "patroni_mpp.cli._run:main", "ctl": "patroni_mpp.cli._ctl:main"}
"""Drop-in subcommands: their arguments go unparsed to the function named here."""

EXIT_FAILURE = 1
EXIT_USAGE = 2


def _passthrough(target: str) -> Callable[[list[str]], int]:
    module_name, function = target.split(":")
    return getattr(importlib.import_module(module_name), function)  # type: ignore[no-any-return]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every argparse subcommand (``run`` and ``ctl`` only appear in the help)."""
    parser = argparse.ArgumentParser(
        prog="patroni-mpp",
        description="Pluggable MPP engines for Patroni.",
        epilog="Also: 'patroni-mpp run [--fast-switchover] CONFIG.yml' (drop-in for patroni; "
        "--fast-switchover: bounded waits instead of fixed sleeps in planned switchovers) and "
        "'patroni-mpp ctl ARGS...' (drop-in for patronictl).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module_name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``patroni-mpp`` console script.

    :param argv: the arguments without the program name (``sys.argv[1:]`` by default).
    :returns: the exit code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in PASSTHROUGH:
        return _passthrough(PASSTHROUGH[args[0]])(args[1:])
    parser = build_parser()
    namespace = parser.parse_args(args)
    logging.basicConfig(
        level=logging.DEBUG if namespace.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    handler = getattr(namespace, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(namespace))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Operators get one clear line; the traceback is for -v.
        if namespace.verbose:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILURE
