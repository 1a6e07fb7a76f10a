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


STATUS_PATHS = frozenset({"/mpp", "/mpp/"})
"""Paths of ``GET`` answered with the engine status (Patroni answers them with its health check)."""


def _observed(handler: Any) -> Any:
    from ._observe import observe

    return observe(handler.server.patroni)


def wrap_get(original: Callable[..., Any]) -> Callable[..., Any]:
    """Build the replacement of ``RestApiHandler.do_GET``: ``GET /mpp`` serves the engine status.

    Patroni has no ``GET /mpp`` route: the path falls through to its health check. The status is read like
    ``GET /patroni`` (no access check, as every read of Patroni's REST API); it is built from memory and
    masked (see :func:`patroni_mpp.bridge._status.build_status`). ``HEAD /mpp`` and every other path keep
    Patroni's behaviour; ``GET /citus`` too.
    """

    def do_GET(self: Any, write_status_code_only: bool = False) -> None:  # noqa: N802 - Patroni's name
        if write_status_code_only or self.path not in STATUS_PATHS:
            original(self, write_status_code_only)
            return
        from ._status import build_status

        try:
            document = build_status(_observed(self))
        except Exception as exc:  # the endpoint answers even when the engine lookup itself fails
            logger.warning("GET /mpp failed: %s", type(exc).__name__)  # no traceback: it may quote secrets
            self.write_response(503, "MPP engine status unavailable", content_type="text/plain")
            return
        self._write_json_response(200, document)

    return do_GET


def wrap_metrics(original: Callable[..., Any]) -> Callable[..., Any]:
    """Build the replacement of ``RestApiHandler.do_GET_metrics``: Patroni's text plus the engine's metrics.

    Patroni's handler runs as it is, with its response caught instead of written; the engine's families
    (see :func:`patroni_mpp.bridge._metrics.render_metrics`) are appended and the whole is written once. When
    the engine's part cannot be built, Patroni's text is served unchanged.
    """

    def do_GET_metrics(self: Any) -> None:  # noqa: N802 - Patroni's routing name
        caught: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.write_response = lambda *args, **kwargs: caught.append((args, kwargs))
        try:
            original(self)
        finally:
            del self.write_response
        if len(caught) != 1:  # not the one response we expect: hand on what Patroni wrote
            for args, kwargs in caught:
                self.write_response(*args, **kwargs)
            return
        args, kwargs = caught[0]
        status, body, *rest = args
        if status == 200 and isinstance(body, str):
            from ._metrics import render_metrics

            try:
                body = body + ("" if body.endswith("\n") else "\n") + render_metrics(_observed(self))
            except Exception as exc:
                logger.warning("MPP engine metrics unavailable: %s", type(exc).__name__)
        self.write_response(status, body, *rest, **kwargs)

    return do_GET_metrics
