"""``patroni-mpp schema ENGINE``: the JSON Schema of an engine's configuration section."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._discovery import load_engine


def add_parser(subparsers: Any) -> None:
    """Add the ``schema`` subcommand.

    :param subparsers: the ``add_subparsers()`` object of the main parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of an engine's configuration section",
        description=(
            "Load the engine serving section ENGINE and print the JSON Schema of that section, "
            "built from the engine's config model. Exit status 1 when the engine cannot be loaded."
        ),
    )
    parser.add_argument("engine", metavar="ENGINE", help="engine (section) name, e.g. citus")
    parser.add_argument("--indent", type=int, default=2, help="indentation of the JSON output (default: 2)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the schema; load errors propagate to the dispatcher, which reports them in one line.

    :param args: parsed arguments (``engine``, ``indent``).
    :returns: 0.
    """
    schema = load_engine(args.engine).json_schema()
    print(json.dumps(schema, indent=args.indent if args.indent > 0 else None))
    return 0
