"""Reading ``pg_dist_node`` into a worker's cache, with a bounded back-off after failures.

A failed read (the database dropped, the extension missing, the server restarting) is retried after
:func:`reload_backoff` seconds, doubling up to :data:`RELOAD_BACKOFF_MAX`; the failures are logged
once when they start (a warning) and once when they end (info), at debug level in between.
"""

from __future__ import annotations

import logging
import time

__all__ = ["RELOAD_BACKOFF_MAX", "RELOAD_BACKOFF_MIN", "ReloadBackoff", "reload_backoff"]

RELOAD_BACKOFF_MIN = 0.1
"""Seconds before the first retry of a failed ``pg_dist_node`` read; doubled after each failure."""

RELOAD_BACKOFF_MAX = 5.0
"""Upper bound of the retry delay of ``pg_dist_node`` reads."""


def reload_backoff(failures: int) -> float:
    """Seconds to wait before reading ``pg_dist_node`` again after ``failures`` failed reads."""
    if failures <= 0:
        return 0.0
    exponent: int = min(failures - 1, 30)
    return min(RELOAD_BACKOFF_MIN * float(2**exponent), RELOAD_BACKOFF_MAX)


class ReloadBackoff:
    """Consecutive failed reads of one worker and when the next read may run.

    :param log: where the lines go (the worker's, naming its database).
    """

    def __init__(self, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self._log = log
        self.failures = 0
        """Consecutive failed reads (0 once a read succeeds)."""
        self.not_before = 0.0
        """``time.monotonic()`` before which no read is tried."""

    def due(self) -> bool:
        """True when a read may run now."""
        return time.monotonic() >= self.not_before

    @property
    def log_errors(self) -> bool:
        """True for the first read of a run of failures: its statement error is logged as an error."""
        return self.failures == 0

    def failed(self, exc: BaseException) -> None:
        """A read failed: back off, and log it (a warning the first time, then at debug level)."""
        self.failures += 1
        self.not_before = time.monotonic() + reload_backoff(self.failures)
        if self.failures == 1:
            self._log.warning(
                "Cannot read pg_dist_node (%s); retrying with back-off (at least every "
                "%.0f s); further failures are logged at debug level",
                exc,
                RELOAD_BACKOFF_MAX,
            )
        else:
            self._log.debug("Reading pg_dist_node failed again (%d failures): %s", self.failures, exc)

    def succeeded(self) -> None:
        """A read went through: when reads were failing, say once that they work again."""
        if self.failures:
            self._log.info("pg_dist_node read again after %d failed attempts", self.failures)
            self.failures = 0
            self.not_before = 0.0
