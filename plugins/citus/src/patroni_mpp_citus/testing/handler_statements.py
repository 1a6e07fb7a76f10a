"""The handler's statements, read back from the test server's statement log in a short form."""

from __future__ import annotations

import re
from typing import Any

from .formation import APP
from .statement_log import StatementLogView

_CALL = re.compile(r"pg_catalog\.(citus_\w+)\((.*)\)")
_ARG = re.compile(r"'((?:[^']|'')*)'(?:::[\w.]+)?|(true|false)|(-?\d+)(?:::[\w.]+)?")


def _args(text: str) -> list[Any]:
    values: list[Any] = []
    for match in _ARG.finditer(text):
        quoted, boolean, number = match.groups()
        if quoted is not None:
            values.append(int(quoted) if quoted.lstrip("-").isdigit() else quoted.replace("''", "'"))
        elif boolean is not None:
            values.append(boolean == "true")
        else:
            values.append(int(number))
    return values


def compact(statement: str) -> tuple[Any, ...]:
    """A statement of the handler in a short form.

    ``("BEGIN",)``, ``("COMMIT",)``, ``("ROLLBACK",)``, ``("load",)``, ``("add", host, port, group,
    role)``, ``("update", nodeid, name, port)``, ``("remove", host, port)``, ``("bound", ms)`` (the
    time bound set before a statement of an event transaction), ``("sync check",)`` (is a metadata
    node out of sync?), ``("owner", nodeid)`` (whose row an add returned), or ``(statement,)``.
    """
    text = " ".join(statement.split())
    if text.upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
        return (text.upper(),)
    if text.startswith("SELECT pg_catalog.set_config('statement_timeout',"):
        return ("bound", *_args(text.partition(",")[2])[:1])
    if text.startswith("SELECT groupid, nodename"):
        return ("load",)
    if text.startswith("SELECT nodename || ':' || nodeport"):
        return ("sync check",)
    if text.startswith("SELECT groupid, noderole::text, nodecluster::text"):
        return ("owner", *_args(text.partition("WHERE")[2]))
    match = _CALL.search(text)
    if match is None:
        return (text,)
    name, args = match.group(1), _args(match.group(2))
    if name == "citus_add_node":
        return ("add", *args[:4])
    if name == "citus_update_node":
        return ("update", *args[:3])
    if name == "citus_remove_node":
        return ("remove", *args[:2])
    return (name, *args)


_READS = ("load", "sync check", "owner")


def handler_statements(
    log: StatementLogView, since: int | None = None, *, loads: bool = False, bounds: bool = False
) -> list[tuple[Any, ...]]:
    """The handler's statements (compact form) since the start or ``since``.

    Reads (loads, sync checks, owner reads) and the time bounds of event transactions are left out
    unless asked for.
    """
    result = [compact(s) for s in log.statements(since, application_name=APP)]
    return [s for s in result if (loads or s[0] not in _READS) and (bounds or s[0] != "bound")]
