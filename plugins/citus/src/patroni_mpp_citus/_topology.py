"""Desired group states from the DCS view: primary from the leader, secondaries from members."""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from typing import Any
from urllib.parse import urlparse

from ._model import BEFORE_DEMOTE, DEMOTED, PRIMARY, SECONDARY, Group, Row, Task

__all__ = ["DEFAULT_PORT", "UrlProblems", "address_of", "build_task", "parse_address", "redact_url"]

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


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in ("Cc", "Cs"):
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _shown(url: str) -> str:
    """``url`` for a log line: password masked, control characters and lone surrogates escaped."""
    return "".join(_escaped(char) for char in redact_url(url))


_HOST_PORT_END = re.compile(r"[/?#]")


def _raw_host_port(url: str) -> str:
    """The ``host:port`` part of ``url`` as written (``urlparse`` silently drops tabs and newlines)."""
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return ""
    return _HOST_PORT_END.split(rest, maxsplit=1)[0].rpartition("@")[2]


def _bad_character(text: str) -> str | None:
    """Why ``text`` cannot be a host name for libpq and the server, or None."""
    for char in text:
        if char == "\x00":
            return "its host contains a NUL character"
        category = unicodedata.category(char)
        if category == "Cc":
            return f"its host contains the control character U+{ord(char):04X}"
        if category == "Cs":
            return f"its host contains the lone surrogate U+{ord(char):04X} (not valid UTF-8)"
    return None


MAX_HOST_BYTES = 255
"""Longest node name Citus keeps whole: its node cache copies names into a buffer of 256 bytes, so a
longer one is truncated there; from about 300 bytes ``citus_add_node`` then fails to find the node it
has just added ("could not find valid entry for node", measured on 13.2.2)."""


@functools.lru_cache(maxsize=8192)
def parse_address(url: str) -> tuple[str, int] | str:
    """The ``(host, port)`` a member's ``conn_url`` points at, or why it has none (not logged).

    The host is lower-cased (IPv6 brackets removed); the port defaults to 5432. A host that is empty,
    holds a NUL, a control character or a lone surrogate, or is longer than :data:`MAX_HOST_BYTES`
    is refused: the driver, the server or Citus would refuse it at every reconciliation (and a
    refused secondary would keep its whole group out of ``pg_dist_node``). Results are cached: the
    reconciliation parses every member's URL on every HA cycle.

    :param url: the ``conn_url``.
    :returns: the address, or a text saying why the URL is unusable (for a log line).
    """
    problem = _bad_character(_raw_host_port(url))
    if problem is not None:
        return problem
    try:
        parsed = urlparse(url)
        host = parsed.hostname
        port = parsed.port
    except ValueError as exc:
        return str(exc)
    if not host:
        return "it has no host"
    problem = _bad_character(host)
    if problem is not None:
        return problem
    size = len(host.encode("utf-8", "surrogatepass"))
    if size > MAX_HOST_BYTES:
        return f"its host is {size} bytes long (Citus keeps at most {MAX_HOST_BYTES})"
    if port == 0:
        return "port 0"
    return host, port or DEFAULT_PORT


def address_of(url: str) -> tuple[str, int] | None:
    """The ``(host, port)`` a member's ``conn_url`` points at; None when it is unusable (not logged).

    :param url: the ``conn_url``.
    """
    address = parse_address(url)
    return None if isinstance(address, str) else address


class UrlProblems:
    """Logs each unusable ``conn_url`` once while it stays in the DCS view, instead of every cycle.

    A URL is logged when it is first met. :meth:`end_cycle` (called after each reconciliation)
    forgets the URLs that were not met since the previous call, so that a URL that comes back is
    logged again, and the memory held stays bounded by the DCS view. Thread-safe: reconciliation and
    events meet here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reported: set[str] = set()
        self._met: set[str] = set()

    def report(self, url: str, problem: str) -> None:
        """Log ``url`` (its password masked) with ``problem`` unless it was logged already.

        :param url: the unusable ``conn_url``.
        :param problem: why it is unusable.
        """
        with self._lock:
            self._met.add(url)
            if url in self._reported:
                return
            self._reported.add(url)
        logger.error("Failed to parse connection url %s: %s", _shown(url), problem)

    def end_cycle(self) -> None:
        """Forget the URLs not met since the previous call (they are logged again if they return)."""
        with self._lock:
            self._reported &= self._met
            self._met = set()


def _row(url: Any, role: str, problems: UrlProblems | None) -> Row | None:
    if not url or not isinstance(url, str):
        return None
    address = parse_address(url)
    if isinstance(address, str):
        if problems is None:
            logger.error("Failed to parse connection url %s: %s", _shown(url), address)
        else:
            problems.report(url, address)
        return None
    # parse_address lower-cases the host already: the row's key is the address itself
    return Row(address[0], address[1], role, None, address)


def build_task(
    event: str,
    groupid: int,
    cluster: Any,
    leader_name: str,
    leader_url: str,
    *,
    timeout: float | None = None,
    cooldown: int | None = None,
    problems: UrlProblems | None = None,
) -> Task | None:
    """The desired state of a group as a task.

    The primary row comes from ``leader_url`` (role ``demoted`` for ``before_demote``). Every other member of
    ``cluster`` that is running, not tagged ``noloadbalance`` and has a usable ``conn_url`` becomes a
    secondary row.

    :param event: the event the task stands for.
    :param groupid: the Citus group.
    :param cluster: the group's DCS cluster (its ``members`` are read).
    :param leader_name: the leader's member name (excluded from the secondaries).
    :param leader_url: the leader's ``conn_url``.
    :param timeout: seconds an event transaction may stay open; None for reconciliation tasks.
    :param cooldown: ``lock_cooldown`` in milliseconds (default 10000).
    :param problems: where unusable URLs are reported (logged once); None logs each of them.
    :returns: the task, or None when the leader's URL is unusable.
    """
    primary = _row(leader_url, DEMOTED if event == BEFORE_DEMOTE else PRIMARY, problems)
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
        row = _row(url, SECONDARY, problems)
        if row is not None and row.key not in rows:
            rows[row.key] = row
    return Task(group, event, timeout, cooldown)
