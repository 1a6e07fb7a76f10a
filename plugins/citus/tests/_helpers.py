"""Helpers of the engine's tests (no fixtures of conftest.py are redefined here).

The formation (a coordinator handler on the session's Citus test server plus DCS views of worker
groups) is :mod:`patroni_mpp_citus.testing.handler_formation`, shared with the reliability suite.

* :func:`simulate`: a pure-Python model of ``pg_dist_node`` that applies a transition's changes and
  checks Citus's constraints after every statement;
* :func:`handler_statements`: the handler's statements read back from the server's log, compacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from patroni_mpp_citus import (
    DEMOTED,
    PRIMARY,
    REMOVE,
    Group,
    Row,
)
from patroni_mpp_citus.testing.handler_formation import APP
from patroni_mpp_citus.testing.server import CitusTestServer
from patroni_mpp_citus.testing.statement_log import StatementLogView

# -- pg_dist_node model
# -------------------------------------------------------------------------------


class CitusConstraintError(AssertionError):
    """A statement would fail on Citus (or break the invariant of citus-engine.md 7.2)."""


@dataclass
class TableRow:
    """One simulated ``pg_dist_node`` row."""

    nodeid: int
    groupid: int
    nodename: str
    nodeport: int
    noderole: str


@dataclass
class Table:
    """A simulated ``pg_dist_node``: applies engine changes with Citus's checks.

    :ivar unsynced: an update ran in the current transaction (Citus refuses add/remove until
        commit).
    """

    rows: dict[int, TableRow] = field(default_factory=dict)
    next_id: int = 100
    unsynced: bool = False
    statements: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def of(cls, group: Group) -> Table:
        """The table holding ``group`` (its rows must have nodeids)."""
        table = cls()
        for row in group:
            assert row.nodeid is not None, row
            role = PRIMARY if row.role == DEMOTED else row.role
            table.rows[row.nodeid] = TableRow(row.nodeid, group.groupid, row.nodename, row.port, role)
        table.unsynced = group.failover
        return table

    def _taken(self, name: str, port: int, except_id: int | None = None) -> bool:
        return any(
            r.nodename == name and r.nodeport == port and r.nodeid != except_id for r in self.rows.values()
        )

    def apply(self, change: Row, groupid: int) -> None:
        """Apply one change as Citus would; raise :class:`CitusConstraintError` where it errs."""
        if change.role == REMOVE:
            self.statements.append(("remove", change.host, change.port))
            if self.unsynced:
                raise CitusConstraintError(f"remove {change} while metadata is unsynced")
            found = [r for r in self.rows.values() if (r.nodename, r.nodeport) == (change.host, change.port)]
            if len(found) != 1:
                raise CitusConstraintError(f"remove of a missing node {change}")
            del self.rows[found[0].nodeid]
        elif change.nodeid is not None:
            self.statements.append(("update", change.nodeid, change.nodename, change.port))
            if change.nodeid not in self.rows:
                raise CitusConstraintError(f"update of a missing node {change}")
            if self._taken(change.nodename, change.port, change.nodeid):
                raise CitusConstraintError(f"{change.nodename}:{change.port} is taken ({change})")
            target = self.rows[change.nodeid]
            if (target.nodename, target.nodeport) != (change.nodename, change.port):
                target.nodename, target.nodeport = change.nodename, change.port
                self.unsynced = True
        elif change.role == DEMOTED:
            raise CitusConstraintError(f"a demoted row without nodeid was emitted: {change}")
        else:
            self.statements.append(("add", change.host, change.port, change.role))
            if self._taken(change.host, change.port):
                raise CitusConstraintError(f"add of a registered address {change}")
            if self.unsynced:
                raise CitusConstraintError(f"add {change} while metadata is unsynced")
            if change.role == PRIMARY and any(
                r.groupid == groupid and r.noderole == PRIMARY for r in self.rows.values()
            ):
                raise CitusConstraintError(f"group {groupid} already has a primary")
            change.nodeid = self.next_id
            self.rows[self.next_id] = TableRow(self.next_id, groupid, change.host, change.port, change.role)
            self.next_id += 1

    def content(self) -> set[tuple[int, str, int, str]]:
        """``(nodeid, nodename, nodeport, noderole)`` of every row."""
        return {(r.nodeid, r.nodename, r.nodeport, r.noderole) for r in self.rows.values()}


def group_content(group: Group) -> set[tuple[int | None, str, int, str]]:
    """What ``group`` says the table holds, in :meth:`Table.content` form."""
    return {
        (row.nodeid, row.nodename, row.port, PRIMARY if row.role == DEMOTED else row.role) for row in group
    }


def simulate(old: Group, changes: Iterable[Row], groupid: int) -> Table:
    """Apply ``changes`` to a table holding ``old``; raises on any Citus constraint violation."""
    table = Table.of(old)
    for change in changes:
        table.apply(change, groupid)
    return table


def addr(citus: CitusTestServer, index: int) -> tuple[str, int]:
    """``(host, port)`` of node ``index``."""
    return citus.node_address(index)


def register(conn: psycopg.Connection[Any], host: str, port: int, groupid: int, role: str = "primary") -> int:
    """``citus_add_node`` as a test's own setup step."""
    row = conn.execute(
        "SELECT pg_catalog.citus_add_node(%s, %s, %s, %s::pg_catalog.noderole, 'default')",
        (host, port, groupid, role),
    ).fetchone()
    assert row is not None
    return int(row[0])


# -- the handler's statements
# ---------------------------------------------------------------------------

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


def records(caplog: Any, level: str, prefix: str) -> list[Any]:
    """Log records of ``level`` whose message starts with ``prefix``."""
    return [r for r in caplog.records if r.levelname == level and r.getMessage().startswith(prefix)]


def as_dict(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict copy."""
    return dict(mapping)
