"""Time bounds of the metadata statements (no server: a scripted connection and a scripted clock).

Inside an event transaction every statement but ``BEGIN``/``COMMIT``/``ROLLBACK`` is preceded by a
``set_config('statement_timeout', <ms left>, true)``; a statement due after the deadline is not run,
the transaction is rolled back instead; a statement cancelled at the deadline is a
:class:`MetadataDeadlineError`, not a logged error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from patroni_mpp_citus import MetadataDeadlineError, MetadataQueryError
from patroni_mpp_citus import _store as store_module
from patroni_mpp_citus._store import (
    BOUND_STATEMENT,
    CONNECTION_OPTIONS,
    LOCK_TIMEOUT_MS,
    UPDATE_NODE,
    MetadataStore,
)


class Clock:
    """Stands in for the ``time`` module of the store: ``monotonic()`` returns :attr:`now`."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        """The scripted time."""
        return self.now


class Connection:
    """Records statements; ``on`` maps a statement to an action run instead of answering ``[]``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.on: dict[str, Callable[[], None]] = {}
        self.closed = 0

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self.calls.append((sql, params))
        action = self.on.get(sql)
        if action is not None:
            action()
        return []

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(store_module, "time", made)
    return made


def statements(conn: Connection) -> list[str]:
    return [sql for sql, _ in conn.calls]


def test_statements_inside_a_transaction_get_the_time_left(clock: Clock) -> None:
    conn = Connection()
    store = MetadataStore(conn)
    with store.until(clock.now + 2.5):
        store.begin()
        store.query(UPDATE_NODE, 1, "h-demoted", 5432, 10000)
        clock.now += 2.0
        store.query(UPDATE_NODE, 2, "h", 5432, 10000)
        store.commit()
    assert statements(conn) == ["BEGIN", BOUND_STATEMENT, UPDATE_NODE, BOUND_STATEMENT, UPDATE_NODE, "COMMIT"]
    assert conn.calls[1][1] == ("2500",)
    assert conn.calls[3][1] == ("500",)
    assert store.statements == 6
    # outside the block, nothing is bounded
    assert store.deadline is None
    store.query(UPDATE_NODE, 1, "h", 5432, 10000)
    assert statements(conn)[-1] == UPDATE_NODE
    assert conn.closed == 0


def test_a_bound_is_never_zero(clock: Clock) -> None:
    """``statement_timeout = 0`` would mean no limit at all."""
    conn = Connection()
    store = MetadataStore(conn)
    with store.until(clock.now + 0.0001):
        store.query(UPDATE_NODE, 1, "h", 5432, 10000)
    assert conn.calls[0] == (BOUND_STATEMENT, ("1",))


@pytest.mark.parametrize("due", ["update", "commit"])
def test_statement_due_after_the_deadline_rolls_back_instead(
    clock: Clock, caplog: pytest.LogCaptureFixture, due: str
) -> None:
    conn = Connection()
    store = MetadataStore(conn)
    with store.until(clock.now + 1.0):
        store.begin()
        clock.now += 1.0  # the deadline itself counts as passed
        with pytest.raises(MetadataDeadlineError):
            if due == "update":
                store.query(UPDATE_NODE, 1, "h", 5432, 10000)
            else:
                store.commit()
    assert statements(conn) == ["BEGIN", "ROLLBACK"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_statement_cancelled_at_the_deadline(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    conn = Connection()
    store = MetadataStore(conn)

    def blocked_until_cancelled() -> None:
        clock.now += 5.0
        raise RuntimeError("canceling statement due to statement timeout")

    conn.on[UPDATE_NODE] = blocked_until_cancelled
    with store.until(clock.now + 1.0), pytest.raises(MetadataDeadlineError) as info:
        store.query(UPDATE_NODE, 1, "h", 5432, 10000)
    assert isinstance(info.value, MetadataQueryError)
    assert "statement timeout" in str(info.value)
    assert conn.closed == 1, "the connection is closed: the server rolls the transaction back"
    # reported by the worker as a rollback at the deadline, not as an error of the query
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_failure_before_the_deadline_stays_an_error(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    conn = Connection()
    store = MetadataStore(conn)

    def fails() -> None:
        raise RuntimeError("injected failure")

    conn.on[UPDATE_NODE] = fails
    with store.until(clock.now + 1.0), pytest.raises(MetadataQueryError) as info:
        store.query(UPDATE_NODE, 1, "h", 5432, 10000)
    assert not isinstance(info.value, MetadataDeadlineError)
    assert conn.closed == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].startswith("Exception when executing query")


def test_rollback_is_never_refused(clock: Clock) -> None:
    conn = Connection()
    store = MetadataStore(conn)
    with store.until(clock.now - 10):
        store.rollback()
    assert statements(conn) == ["ROLLBACK"]


def test_connection_bounds_lock_waits_outside_event_transactions() -> None:
    assert f"-c lock_timeout={LOCK_TIMEOUT_MS}" in CONNECTION_OPTIONS
    assert "-c statement_timeout=0" in CONNECTION_OPTIONS
    assert LOCK_TIMEOUT_MS > 10000  # longer than citus_update_node's default lock_cooldown
    # no connection to a worker outlives its transaction: a restarted node is reached afresh
    assert "-c citus.max_cached_conns_per_worker=0" in CONNECTION_OPTIONS
