"""REST API and slot-manager fixes (host contract, section 11, quirks 1 and 2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def checked_mpp_endpoint(check_access: Callable[..., Any], unchecked: Callable[..., Any]) -> Any:
    """``POST /mpp`` (and ``/citus``) behind Patroni's access check.

    Patroni checks access (allow-list, client certificate, basic auth) on ``/citus`` only, and ``/citus`` then
    runs the unchecked ``/mpp`` handler. Both routes get the checked handler; the check runs once per request.

    An engine rejects a malformed event by raising ``ValueError`` from ``handle_event``; the request then
    gets ``400 Bad Request`` with the engine's message, where Patroni would log a traceback and close the
    connection without an answer.

    :param check_access: Patroni's ``patroni.api.check_access`` decorator.
    :param unchecked: Patroni's original ``RestApiHandler.do_POST_mpp``.
    :returns: the checked handler method.
    """

    def do_POST_mpp(self: Any) -> None:  # noqa: N802 - Patroni's routing name
        try:
            unchecked(self)
        except ValueError as exc:
            logger.warning("Rejected an MPP event from %s: %s", self.client_address[0], exc)
            self.write_response(400, f"invalid MPP event: {exc}", content_type="text/plain")

    return check_access(do_POST_mpp)


def wrap_ignore_replication_slot(original: Callable[..., bool]) -> Callable[..., bool]:
    """Build the replacement of ``SlotsHandler.ignore_replication_slot(cluster, name)``.

    Patroni hands the engine the slot's attributes without its name. During the call, the slot manager's
    table of existing slots is swapped for a copy whose entry for ``name`` also carries ``name``; Patroni's
    own table is left untouched (it compares those entries elsewhere).
    """

    def ignore_replication_slot(self: Any, cluster: Any, name: str) -> bool:
        slots = getattr(self, "_replication_slots", None)
        slot = slots.get(name) if isinstance(slots, dict) else None
        if not isinstance(slot, dict) or "name" in slot:
            return original(self, cluster, name)
        named = dict(slots)  # type: ignore[arg-type]
        named[name] = {**slot, "name": name}
        self._replication_slots = named
        try:
            return original(self, cluster, name)
        finally:
            if self._replication_slots is named:
                self._replication_slots = slots

    return ignore_replication_slot
