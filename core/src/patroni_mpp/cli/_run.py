"""Placeholder, replaced by its owner."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Not implemented yet."""
    print("not implemented yet", file=sys.stderr)
    return 2
