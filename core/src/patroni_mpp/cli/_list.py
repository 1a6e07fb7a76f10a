"""``patroni-mpp list``: every installed engine, where it comes from, and whether it loads."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._discovery import EngineReport, iter_engine_reports

HEADERS = ("NAME", "DISTRIBUTION", "VERSION", "MODULE", "STATUS")


def add_parser(subparsers: Any) -> None:
    """Add the ``list`` subcommand.

    :param subparsers: the ``add_subparsers()`` object of the main parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "list",
        help="list installed MPP engines and whether each one loads",
        description=(
            "Import every engine installed in the 'patroni.mpp' entry-point group and show its "
            "name (the configuration section it serves), distribution, version, module and "
            "status: 'ok', or why it cannot be used. Exit status 1 when any engine is unusable."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.set_defaults(handler=run)


def rows(reports: list[EngineReport]) -> list[dict[str, str | None]]:
    """One row per (engine name, distribution); a name claimed twice gives two rows with the error.

    :param reports: the listing path's reports.
    :returns: dicts with ``name``, ``distribution``, ``version``, ``module``, ``status``, ``error``.
    """
    result: list[dict[str, str | None]] = []
    for report in reports:
        for source in report.sources:
            result.append(
                {
                    "name": report.name,
                    "distribution": source.name,
                    "version": source.version,
                    "module": source.value,
                    "status": "ok" if report.ok else "error",
                    "error": report.error,
                }
            )
    return result


def format_table(table: list[dict[str, str | None]]) -> str:
    """Render rows as an aligned text table (the status column holds the error line, if any).

    :param table: rows from :func:`rows`.
    """
    cells = [list(HEADERS)] + [
        [
            str(row["name"]),
            str(row["distribution"]),
            str(row["version"]),
            str(row["module"]),
            "ok" if row["status"] == "ok" else f"error: {row['error']}",
        ]
        for row in table
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]
        ).rstrip()
        for line in cells
    )


def run(args: argparse.Namespace) -> int:
    """List the engines.

    :param args: parsed arguments (``json``).
    :returns: 0 when every engine loads, 1 otherwise.
    """
    reports = list(iter_engine_reports(quiet=True))
    table = rows(reports)
    if args.json:
        print(json.dumps(table, indent=2))
    elif table:
        print(format_table(table))
    else:
        print("no MPP engine is installed (not even 'null': reinstall patroni-mpp)", file=sys.stderr)
    return 0 if table and all(report.ok for report in reports) else 1
