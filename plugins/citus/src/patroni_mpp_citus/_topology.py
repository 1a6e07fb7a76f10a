"""Desired group states from the DCS view: primary from the leader, secondaries from members."""

from __future__ import annotations

import functools
import logging
import re
from typing import Any
from urllib.parse import urlparse

from ._model import BEFORE_DEMOTE, DEMOTED, PRIMARY, SECONDARY, Group, Row, Task

__all__ = ["DEFAULT_PORT", "address_of", "build_task", "redact_url"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5432
"""Port of a ``conn_url`` that names none."""

_USERINFO = re.compile(r"(?<=://)([^/@]*)@")


def redact_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``******`` (for log lines)."""

    def hide(match: re.Match[str]) -> str:
        user, sep, _password = match.group(1).partition(":")
        return f"{user}:******@" if sep else f"{user}@"

    return _USERINFO.sub(hide, url, count=1)


@functools.lru_cache(maxsize=8192)
def address_of(url: str) -> tuple[str, int] | None:
    """The ``(host, port)`` a member's ``conn_url`` points at; None (logged once) when it has none.

    The host is lower-cased (IPv6 brackets removed); the port defaults to 5432. Results are cached:
    the
    reconciliation parses every member's URL on every HA cycle.

    :param url: the ``conn_url``.
    """
    try:
        parsed = urlparse(url)
        host = parsed.hostname
        port = parsed.port
    except ValueError as exc:
        logger.error("Failed to parse connection url %s: %s", redact_url(url), exc)
        return None
    if not host:
        logger.error("Failed to parse connection url %s: it has no host", redact_url(url))
        return None
    if port == 0:
        logger.error("Failed to parse connection url %s: port 0", redact_url(url))
        return None
    return host, port or DEFAULT_PORT


def _row(url: Any, role: str) -> Row | None:
    if not url or not isinstance(url, str):
        return None
    address = address_of(url)
    # address_of lower-cases the host already: the row's key is the address itself
    return None if address is None else Row(address[0], address[1], role, None, address)


def build_task(
    event: str,
    groupid: int,
    cluster: Any,
    leader_name: str,
    leader_url: str,
    *,
    timeout: float | None = None,
    cooldown: int | None = None,
) -> Task | None:
    """The desired state of a group as a task.

    The primary row comes from ``leader_url`` (role ``demoted`` for ``before_demote``). Every other
    member
    of ``cluster`` that is running, not tagged ``noloadbalance`` and has a usable ``conn_url``
    becomes a
    secondary row.

    :param event: the event the task stands for.
    :param groupid: the Citus group.
    :param cluster: the group's DCS cluster (its ``members`` are read).
    :param leader_name: the leader's member name (excluded from the secondaries).
    :param leader_url: the leader's ``conn_url``.
    :param timeout: seconds an event transaction may stay open; None for reconciliation tasks.
    :param cooldown: ``lock_cooldown`` in milliseconds (default 10000).
    :returns: the task, or None when the leader's URL is unusable.
    """
    primary = _row(leader_url, DEMOTED if event == BEFORE_DEMOTE else PRIMARY)
    if primary is None:
        return None
    group = Group(groupid)
    rows = group.rows
    rows[primary.key] = primary
    for member in cluster.members:
        if member.name == leader_name or member.state != "running":
            continue
        url = member.conn_url
        if not url or member.noloadbalance:
            continue
        row = _row(url, SECONDARY)
        if row is not None and row.key not in rows:
            rows[row.key] = row
    return Task(group, event, timeout, cooldown)
