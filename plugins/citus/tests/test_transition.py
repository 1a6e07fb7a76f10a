"""The topology transition, checked by simulating ``pg_dist_node``.

Every case applies the emitted statements, in order, to a model of the table that starts as ``old`` and
fails on whatever Citus would refuse: a duplicate ``(nodename, nodeport)``, a second primary, an add or
remove after an update in the same transaction. The resulting table must equal ``new``, nodeids included.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from patroni_mpp_citus._model import DEMOTED, PRIMARY, REMOVE, SECONDARY, Group, Row
from patroni_mpp_citus._transition import transition

# -- a model of pg_dist_node


class CitusConstraintError(AssertionError):
    """A statement would fail on Citus, or break a rule the transition keeps (primary rows keep nodeids)."""


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


# -- the cases


ROLES = {"P": PRIMARY, "S": SECONDARY, "D": DEMOTED, "U": "unavailable"}
_ITEM = re.compile(r"(?P<host>\d+)(?P<role>[PSDU])(?::(?P<port>\d+))?(?:\[(?P<id>\d+)\])?")


def parse(spec: str, *, failover: bool = False, groupid: int = 0) -> Group:
    """``"1P[1], 2S[2]"`` -> a group (host ``"1"`` primary with nodeid 1, ...)."""
    group = Group(groupid)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        match = _ITEM.fullmatch(item)
        assert match, item
        nodeid = int(match["id"]) if match["id"] else None
        group.add(Row(match["host"], int(match["port"] or 5432), ROLES[match["role"]], nodeid))
    group.failover = failover
    return group


def add(host: str, role: str) -> tuple[Any, ...]:
    return ("add", host, 5432, ROLES[role])


def update(nodeid: int, name: str, port: int = 5432) -> tuple[Any, ...]:
    return ("update", nodeid, name, port)


def remove(host: str) -> tuple[Any, ...]:
    return ("remove", host, 5432)


def run(old_spec: str, new_spec: str, *, failover: bool = False) -> tuple[Table, Group, Group]:
    old = parse(old_spec, failover=failover)
    new = parse(new_spec)
    before = group_content(old) if len(old) else set()
    changes = transition(new, old)
    table = simulate(old, changes, 0)
    assert table.content() == group_content(new), (table.content(), new)
    assert all(row.nodeid is not None for row in new), new
    assert (group_content(old) if len(old) else set()) == before, "old was changed"
    return table, new, old


SWITCH = [update(1, "1-demoted"), update(2, "1"), update(1, "2")]
"""Pause 1, park 1 in 2's row, point the primary row at 2."""

# fmt: off
REFERENCE_CASES = [
    # (old, new, emitted statements, resulting new)
    ("", "1P, 2S", [add("1", "P"), add("2", "S")], "1P[100], 2S[101]"),
    ("1P[1], 2S[2]", "1S, 2P", SWITCH, "2P[1], 1S[2]"),
    ("1P[1], 2S[2]", "2P", SWITCH, "2P[1], 1S[2]"),
    ("1P[1], 2S[2]", "2P, 3S", [update(2, "3"), update(1, "2")], "2P[1], 3S[2]"),
    ("1D[1], 2S[2]", "2P, 3S", [update(2, "3"), update(1, "2")], "2P[1], 3S[2]"),
    ("1P[1], 2S[2]", "1P, 3S", [update(2, "3")], "1P[1], 3S[2]"),
    ("1P[1], 2S[2], 3S[3]", "1P, 3S", [remove("2")], "1P[1], 3S[3]"),
    ("1P[1], 2S[2], 3S[3]", "1S, 2P", SWITCH,
     "2P[1], 1S[2], 3S[3]"),
    ("1P[1], 2S[2]", "1S, 2P, 3S", SWITCH, "2P[1], 1S[2]"),
    ("1P[1], 2S[2]", "2S, 3P", [update(1, "3")], "3P[1], 2S[2]"),
    ("1P[1], 2S[2]", "3P", [update(1, "3")], "3P[1], 2S[2]"),
    ("1P[1], 2S[2]", "1S, 3P", [update(1, "3"), update(2, "1")], "3P[1], 1S[2]"),
    ("1P[1], 2S[2]", "1D", [update(1, "1-demoted")], "1D[1], 2S[2]"),
    ("1D[1], 2S[2]", "2P", [update(2, "1"), update(1, "2")], "2P[1], 1S[2]"),
    ("1D[1], 2S[2]", "3P", [update(1, "3"), update(2, "1")], "3P[1], 1S[2]"),
    ("1D[1], 2S[2]", "4S, 3P", [update(1, "3"), update(2, "4")], "3P[1], 4S[2]"),
]
# fmt: on


@pytest.mark.parametrize(
    ("old_spec", "new_spec", "statements", "result"),
    REFERENCE_CASES,
    ids=[f"case{n}" for n in range(1, len(REFERENCE_CASES) + 1)],
)
def test_reference_case(old_spec: str, new_spec: str, statements: list[Any], result: str) -> None:
    table, new, _old = run(old_spec, new_spec)
    assert table.statements == statements
    assert new.equals(parse(result), check_nodeid=True), new


# fmt: off
EXTRA_CASES = [
    # (old, failover, new, statements, resulting new)
    ("1P[1]", False, "1P, 2S", [add("2", "S")], "1P[1], 2S[100]"),
    ("1P[1]", True, "1P, 2S", [], "1P[1]"),
    ("1P[1], 2S[2]", False, "1P", [remove("2")], "1P[1]"),
    ("1P[1], 2S[2]", True, "1P", [], "1P[1], 2S[2]"),
    ("1P[1], 2S[2]", False, "1P, 2S:5433", [update(2, "2", 5433)], "1P[1], 2S:5433[2]"),
    # additions come before updates: Citus refuses an add after an update in one transaction
    ("1P[1], 2S[2]", False, "1P, 3S, 4S", [add("4", "S"), update(2, "3")], "1P[1], 3S[2], 4S[100]"),
    ("1P[1], 2S[2], 3S[3]", False, "2P, 3S", SWITCH,
     "2P[1], 1S[2], 3S[3]"),
    # before_demote of a group that is not registered: nothing at all (reference: adds 2 alone)
    ("", False, "1D, 2S", [], ""),
    # the old primary without a free row is left out, so that the next transaction adds it
    ("1P[1]", False, "1S, 3P", [update(1, "3")], "3P[1]"),
    # a secondary whose table role is wrong is re-registered (reference: never corrected)
    ("1P[1], 2U[2]", False, "1P, 2S", [remove("2"), add("2", "S")], "1P[1], 2S[100]"),
    ("1P[1], 2U[2]", True, "1P, 2S", [], "1P[1], 2U[2]"),
    # a group without primary row whose secondary row holds the new primary's address
    ("2S[2]", False, "2P, 3S", [remove("2"), add("2", "P"), add("3", "S")], "2P[100], 3S[101]"),
    # pause requested for another address than the registered primary's
    ("1P[1], 2S[2]", False, "2D", [update(1, "1-demoted"), update(2, "1"), update(1, "2-demoted")],
     "2D[1], 1S[2]"),
    # a reused row keeps its table role, corrected by the next transaction
    ("1P[1], 2U[2]", False, "1P, 3S", [update(2, "3")], "1P[1], 3U[2]"),
]
# fmt: on


@pytest.mark.parametrize(("old_spec", "failover", "new_spec", "statements", "result"), EXTRA_CASES)
def test_extra_case(old_spec: str, failover: bool, new_spec: str, statements: list[Any], result: str) -> None:
    table, new, _old = run(old_spec, new_spec, failover=failover)
    assert table.statements == statements
    assert new.equals(parse(result), check_nodeid=True), new


def test_primary_change_sets_failover_and_commit_clears_nothing_else() -> None:
    _table, new, _old = run("1P[1], 2S[2]", "1S, 2P")
    assert new.failover is True
    _table, new, _old = run("1P[1], 2S[2]", "1P, 3S")
    assert new.failover is True, "any update marks the transaction: no add/remove may follow"
    _table, new, _old = run("1P[1], 2S[2], 3S[3]", "1P, 3S")
    assert new.failover is False


def test_hostnames_compare_whatever_their_case() -> None:
    old = Group(1, [Row("Node1.Example", 5432, PRIMARY, 1), Row("NODE2", 5432, SECONDARY, 2)])
    new = Group(1, [Row("node1.example", 5432, PRIMARY), Row("node2", 5432, SECONDARY)])
    assert new.equals(old)
    assert transition(new, old) == []
    assert [row.nodeid for row in new] == [1, 2]


def test_removal_uses_the_table_spelling() -> None:
    old = Group(1, [Row("node1", 5432, PRIMARY, 1), Row("Node2", 5432, SECONDARY, 2)])
    new = Group(1, [Row("node1", 5432, PRIMARY)])
    (change,) = transition(new, old)
    assert (change.host, change.role) == ("Node2", "")


def test_new_without_primary_is_refused() -> None:
    with pytest.raises(ValueError, match="no primary row"):
        transition(Group(3, [Row("1", 5432, SECONDARY)]), Group(3))


def test_collision_is_detected_by_the_model() -> None:
    """The model must be able to fail: writing an address that is taken is caught."""
    table = Table.of(parse("1P[1], 2S[2]"))
    with pytest.raises(CitusConstraintError, match="taken"):
        table.apply(Row("2", 5432, PRIMARY, 1), 0)
    table = Table.of(parse("1P[1], 2S[2]"))
    table.apply(Row("3", 5432, SECONDARY, 2), 0)
    with pytest.raises(CitusConstraintError, match="unsynced"):
        table.apply(Row("4", 5432, SECONDARY), 0)


def _random_group(rng: random.Random, hosts: list[str], *, desired: bool) -> Group:
    group = Group(0)
    picked = rng.sample(hosts, rng.randint(1, len(hosts)))
    nodeid = 1
    for index, host in enumerate(picked):
        if index == 0 and (desired or rng.random() < 0.85):
            role = DEMOTED if rng.random() < 0.25 else PRIMARY
        else:
            role = SECONDARY if desired or rng.random() < 0.8 else "unavailable"
        group.add(Row(host, 5432, role, None if desired else nodeid))
        nodeid += 1
    return group


def test_random_transitions_respect_citus_and_converge() -> None:
    """Random old/new pairs: never a refused statement; repeated reconciliation converges."""
    rng = random.Random(20251125)
    hosts = [str(n) for n in range(1, 6)]
    for _ in range(3000):
        old = _random_group(rng, hosts, desired=False)
        old.failover = rng.random() < 0.3
        desired = _random_group(rng, hosts, desired=True)
        new = desired.copy()
        changes = transition(new, old)
        table = simulate(old, changes, 0)
        assert table.content() == group_content(new), (old, desired, changes)
        old_primary, new_primary = old.primary(), new.primary()
        if old_primary is not None:
            assert new_primary is not None and new_primary.nodeid == old_primary.nodeid, "primary row kept"
        primary = desired.primary()
        assert primary is not None
        if primary.role == DEMOTED:
            continue
        # later reconciliations, each in its own (committed) transaction, reach the desired state
        state = new
        state.failover = False
        for _round in range(3):
            if state.equals(desired):
                break
            target = desired.copy()
            step = transition(target, state)
            simulate(state, step, 0)
            state = target
            state.failover = False
        assert state.equals(desired), (old, desired, state)
