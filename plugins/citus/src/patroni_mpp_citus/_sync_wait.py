"""Waiting for Citus to sync its metadata before nodes are added or removed.

Real Citus refuses ``citus_add_node`` and ``citus_remove_node`` while a metadata node is out of sync
(after an effective ``citus_update_node`` commits, until its maintenance daemon has synced). A task
that needs them writes its updates and is queued again; :class:`SyncWait` keeps the one schedule of
rechecks shared by every deferred task of a worker, so that within a round the queue's order
(coordinator first, then the oldest) decides which goes first. It logs once when the wait starts and
once when it ends.
"""

from __future__ import annotations

import logging
import time

__all__ = ["SYNC_RETRY_MAX", "SYNC_RETRY_MIN", "SyncWait", "sync_retry_delay"]

SYNC_RETRY_MIN = 0.05
"""Seconds before the first retry of a task whose additions or removals wait for metadata sync."""

SYNC_RETRY_MAX = 2.0
"""Upper bound of that retry delay (Citus's maintenance daemon retries a failed sync every 5 s)."""


def sync_retry_delay(attempts: int) -> float:
    """Seconds before retrying a task deferred for the ``attempts``-th time in a row (1, 2, ...)."""
    exponent: int = min(max(attempts, 1) - 1, 30)
    return min(SYNC_RETRY_MIN * float(2**exponent), SYNC_RETRY_MAX)


class SyncWait:
    """The state of one worker's wait for metadata sync (used by the worker thread only).

    :param log: where the lines go (the worker's, naming its database).
    """

    def __init__(self, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self._log = log
        # while Citus has not synced: (node it named, since, checks that found it unsynced, the
        # time every deferred task is retried at)
        self._unsynced: tuple[str, float, int, float] | None = None

    @property
    def node(self) -> str | None:
        """The metadata node whose sync additions and removals wait for, or None."""
        unsynced = self._unsynced
        return None if unsynced is None else unsynced[0]

    def retry_at(self) -> float:
        """When a deferred task is tried again: now, or with the others at the round's recheck."""
        return time.monotonic() if self._unsynced is None else self._unsynced[3]

    def waits(self, node: str, groupid: int) -> None:
        """Additions or removals of ``groupid`` wait until Citus has synced ``node``."""
        now = time.monotonic()
        if self._unsynced is None:
            self._log.info(
                "Citus has not synced its metadata to %s yet: adding and removing nodes of group %s "
                "waits until it has (rechecked with back-off, at least every %.0f s)",
                node,
                groupid,
                SYNC_RETRY_MAX,
            )
            self._unsynced = (node, now, 1, now + sync_retry_delay(1))
            return
        _, since, checks, retry_at = self._unsynced
        if now >= retry_at:  # a new round of checks: the back-off grows once per round
            checks += 1
            retry_at = now + sync_retry_delay(checks)
        self._unsynced = (node, since, checks, retry_at)
        self._log.debug("Metadata of %s not synced yet (%.1f s, %d rounds)", node, now - since, checks)

    def known_unsynced(self) -> str | None:
        """The node Citus had not synced at the last check, until the round's recheck time.

        Within a round every deferred task waits for the same recheck, so that at that time the
        queue's order (coordinator first, then the oldest) decides which goes first.
        """
        unsynced = self._unsynced
        if unsynced is None or time.monotonic() >= unsynced[3]:
            return None
        return unsynced[0]

    def done(self) -> None:
        """Citus answered that its metadata is in sync: the wait, if any, ends (logged once)."""
        if self._unsynced is not None:
            node, since, checks, _ = self._unsynced
            self._unsynced = None
            self._log.info(
                "Citus synced its metadata (to %s) after %.2f s and %d rounds of checks: adding and "
                "removing nodes again",
                node,
                time.monotonic() - since,
                checks,
            )
