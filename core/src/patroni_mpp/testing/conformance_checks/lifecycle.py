"""Checks of the handler in Patroni's start-up order, on a host whose PostgreSQL is not there yet.

Patroni builds the handler before ``postgresql.config`` exists and before PostgreSQL may run, then
calls ``adjust_postgres_gucs`` while building the configuration handler, with
``connection_pool.conn_kwargs`` still ``{}``; later its HA loop calls ``ignore_replication_slot``
for slots. None of these may do I/O. :func:`check_start_up` replays that order on a
:class:`~patroni_mpp.testing.probe_host.ProbePostgresql` (an address nothing listens on, every
statement recorded) and fails naming the method and what it did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from ..._abstract import AbstractMPP, AbstractMPPHandler
from ..._protocols import PostgresqlLike
from ..probe_host import NotBuiltYet, ProbePostgresql
from .failure import fail
from .samples import (
    BASE_PARAMETERS,
    CaseInsensitiveParameters,
    parameter_samples,
    sample_slots,
    slot_databases,
)
from .time_limits import DEFAULT_CALL_TIME_LIMIT, call_within

__all__ = ["check_no_io", "check_start_up"]

CONSTRUCTOR = "the handler constructor"
FIRST_GUCS = "adjust_postgres_gucs(parameters), its first call"

_WHY_NO_IO = {
    CONSTRUCTOR: (
        "Patroni builds the handler before PostgreSQL may run; register named connections there "
        "(connection_pool.get() does not connect) and send statements later, from bootstrap, "
        "sync_meta_data or a thread of your own"
    ),
    "adjust_postgres_gucs": (
        "Patroni calls it on its main thread every time it computes the server parameters, the "
        "first time before PostgreSQL runs; compute them from your section and the dict"
    ),
    "ignore_replication_slot": (
        "Patroni's HA loop calls it for each slot it did not create; answer from the slot dict "
        "and what the handler already knows (postgresql.is_primary() answers from the HA "
        "cycle's state)"
    ),
}


def _not_built_yet(exc: BaseException) -> NotBuiltYet | None:
    """The :class:`NotBuiltYet` behind ``exc`` (discovery wraps what a constructor raised), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NotBuiltYet):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def check_no_io(host: ProbePostgresql, what: str, call: Callable[[], Any]) -> Any:
    """Run ``call`` and check that it sent no statement through ``host``'s connections.

    Statements count when sent from the calling thread or from a thread that ended before the
    call returned (work the method waited for); threads the handler keeps running are its own.

    :param host: the probe host.
    :param what: the method, as the message names it (its key in the reasons: the text before ``(``).
    :param call: the call.
    :returns: what it returned.
    :raises AssertionError: naming the statements, or what the engine raised and why.
    """
    before = len(host.statements)
    caller = threading.current_thread()
    error: BaseException | None = None
    answer: Any = None
    try:
        answer = call()
    except AssertionError:
        raise
    except Exception as exc:
        error = exc
    sent = [s for s in host.statements[before:] if s.thread is caller or not s.thread.is_alive()]
    why = _WHY_NO_IO.get(what, _WHY_NO_IO.get(what.split("(", maxsplit=1)[0], ""))
    if sent:
        listed = "; ".join(f"{s.sql!r} on connection {s.connection!r}" for s in sent[:3])
        raise fail(
            f"{what} sent {len(sent)} statement(s) to PostgreSQL ({listed}); it must do no I/O: {why}"
        ) from error
    not_built = None if error is None else _not_built_yet(error)
    if not_built is not None:
        raise fail(f"{what} read postgresql.config: {not_built}") from error
    if error is not None:
        raise fail(
            f"{what} raised {type(error).__name__}: {error}; here the host is as Patroni's is at "
            f"start-up: {host.describe()}. {why}"
        ) from error
    return answer


def check_start_up(
    engine: AbstractMPP,
    make_handler: Callable[[AbstractMPP, PostgresqlLike], AbstractMPPHandler],
    stop_handler: Callable[[AbstractMPPHandler], None],
    time_limit: float = DEFAULT_CALL_TIME_LIMIT,
) -> None:
    """Build the handler and call its no-I/O methods in Patroni's start-up order, on a probe host.

    1. the constructor, with no ``postgresql.config`` and ``conn_kwargs == {}``;
    2. ``adjust_postgres_gucs`` once, still in that state (within ``time_limit``);
    3. the host resolves its configuration (an address where nothing listens);
    4. ``adjust_postgres_gucs`` over the parameter samples and ``ignore_replication_slot`` over the
       slot samples, each within ``time_limit``.

    None of them may send a statement or raise. The handler is stopped with ``stop_handler``.

    :param engine: the descriptor.
    :param make_handler: builds the handler as the host does.
    :param stop_handler: stops it.
    :param time_limit: seconds each method call may take.
    """
    host = ProbePostgresql()
    handler = check_no_io(host, CONSTRUCTOR, lambda: make_handler(engine, host))

    def limited(what: str, call: Callable[[], Any]) -> Any:
        return check_no_io(host, what, lambda: call_within(what, call, time_limit))

    try:
        first = CaseInsensitiveParameters(BASE_PARAMETERS)
        limited(FIRST_GUCS, partial(handler.adjust_postgres_gucs, first))
        host.resolve()
        for text, parameters in parameter_samples():
            limited(f"adjust_postgres_gucs({text})", partial(handler.adjust_postgres_gucs, parameters))
        ignore = handler.ignore_replication_slot
        for slot in sample_slots(slot_databases(engine, host.database)):
            limited(f"ignore_replication_slot({slot!r})", partial(ignore, dict(slot)))
    finally:
        stop_handler(handler)
