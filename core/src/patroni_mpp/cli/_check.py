"""Placeholder, replaced by its owner."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Add nothing yet."""
    _ = (subparsers, argparse)
