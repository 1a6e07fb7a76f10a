"""Reading a Patroni node's log: when a line first appeared, and Patroni's own problems."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path


def first_log_time(log_path: Path, text: str, *, after: float) -> float | None:
    """``time.time()`` of the first Patroni log line at or after ``after`` that contains ``text``, or None.

    Patroni stamps its lines with the local time to the millisecond (``2026-01-01 00:00:00,123``).
    """
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if len(line) < 24 or line[19] != "," or text not in line:
            continue
        try:
            stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
        except ValueError:
            continue
        if stamp >= after:
            return stamp
    return None


def iter_patroni_problems(log_path: Path) -> Iterable[str]:
    """Patroni's own WARNING/ERROR/CRITICAL lines of a node log (not PostgreSQL's), without timestamps."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        # Patroni: "2026-01-01 00:00:00,123 WARNING: ..."; PostgreSQL: "2026-01-01 00:00:00.123 UTC [...]"
        if len(line) > 24 and line[19] == "," and line[24:].startswith(("WARNING:", "ERROR:", "CRITICAL:")):
            yield line[24:]
