"""The topology transition: ordered ``pg_dist_node`` changes from one group state to another.

:func:`transition` orders the changes so that Citus accepts every statement: an address is written into a row
only once no other row holds it (renaming a primary row to ``<host>-demoted`` frees its address), the primary
row of a group keeps its ``nodeid``, and rows are added or removed only before the first ``citus_update_node``
of a transaction. It deliberately differs from Patroni's algorithm in these ways:

* statements that add or remove rows come before every ``citus_update_node`` of the same transition, and none
  is emitted after an update earlier in the same transaction (``Group.failover``): Citus marks the metadata of
  every node unsynced after *any* ``citus_update_node`` and then refuses additions and removals until the
  transaction is committed and synced;
* a paused (``demoted``) primary of a group that has no primary row yet produces no statement at all
  (Patroni would register the group's secondaries without a primary);
* a secondary row whose table role differs (``unavailable``) is removed and added again as ``secondary``;
* an old primary that stays in the group as a secondary but gets no row is left out of the result, so that the
  next reconciliation registers it (Patroni kept it in the cached state, without a row);
* pairing of vanished and new secondaries follows insertion order, not set order (deterministic);
* when the new primary's address is held by a non-primary row of a group without primary, that row is removed
  before the primary is added (``citus_add_node`` would return the existing row unchanged).
"""

from __future__ import annotations

from ._model import DEMOTED, PRIMARY, REMOVE, SECONDARY, Group, Row

__all__ = ["is_update", "removal", "transition", "with_deferred_additions"]

_Key = tuple[str, int]


def removal(row: Row) -> Row:
    """A removal order for ``row`` (its address as spelt in the table, role :data:`REMOVE`)."""
    return Row(row.host, row.port, REMOVE, row.nodeid)


def is_update(row: Row) -> bool:
    """True when ``row`` is written with ``citus_update_node`` (a nodeid, not a removal)."""
    return row.nodeid is not None and row.role != REMOVE


def transition(new: Group, old: Group) -> list[Row]:
    """Compute the changes from ``old`` (the table's state) to ``new`` (the desired state).

    ``new`` is changed in place into what the table holds once the returned rows are written in order (nodeids
    filled, deferred rows added or dropped, ``failover`` set); the nodeids of rows to be added are filled in
    as they are written. ``old`` is not changed.

    :param new: the desired group; it must have a primary (or demoted) row.
    :param old: the current group (the open transaction's state, the cached table content, or empty).
    :returns: the rows to write, in order: a row whose role is :data:`REMOVE` is removed, a
        row with a nodeid is updated, any other row is added.
    :raises ValueError: when ``new`` has no primary row.
    """
    new_primary = new.primary()
    if new_primary is None:
        raise ValueError(f"desired state of group {new.groupid} has no primary row")
    failover = old.failover
    old_primary = old.primary()
    head: list[Row] = []
    done_new: set[_Key] = {new_primary.key}
    done_old: set[_Key] = set()

    if old_primary is None:
        if new_primary.role == DEMOTED or failover:
            # Nothing to pause in a group that is not registered, and no row may be added after an
            # update in this transaction: leave the group as it is.
            new.rows = {key: row.copy() for key, row in old.rows.items()}
            new.failover = failover
            return []
        holder = old.get(new_primary)
        if holder is not None:
            head.append(removal(holder))
            done_old.add(holder.key)
        new_primary.nodeid = None
        head.append(new_primary)
    elif old_primary.key == new_primary.key:
        done_old.add(old_primary.key)
        new_primary.nodeid = old_primary.nodeid
        if new_primary.role != old_primary.role:
            failover = True
            head.append(new_primary)
    else:
        failover = True
        done_old.add(old_primary.key)
        _switch_primary(new, old, new_primary, old_primary, head=head, done_new=done_new, done_old=done_old)

    removals, additions, updates = _secondaries(new, old, failover, done_new, done_old)
    changes = head + removals + additions + updates
    new.failover = failover or any(is_update(row) for row in changes)
    return changes


def _switch_primary(
    new: Group,
    old: Group,
    new_primary: Row,
    old_primary: Row,
    *,
    head: list[Row],
    done_new: set[_Key],
    done_old: set[_Key],
) -> None:
    """Point the primary row at a new address, freeing every address before it is written."""
    added = [r for r in new.rows.values() if r.key not in old.rows and r is not new_primary]
    secondary = old.get(new_primary)
    if secondary is not None:
        # The new primary had a row of its own: that row is reused (for an added secondary, or to
        # park the old primary) so that its address is free for the primary row.
        done_old.add(secondary.key)
        reused = False
        if old_primary.key not in new.rows and added:
            taker = added.pop(0)
            taker.nodeid = secondary.nodeid
            taker.role = secondary.role  # the row keeps its table role
            head.append(taker)
            done_new.add(taker.key)
            reused = True
        elif old_primary.role == PRIMARY:
            head.append(old_primary.copy(role=DEMOTED))
        if old_primary.key not in new.rows and not reused:
            new.add(Row(old_primary.host, old_primary.port, secondary.role))
        parked = new.rows.get(old_primary.key)
        if parked is not None and parked.key not in done_new:
            parked.nodeid = secondary.nodeid
            parked.role = secondary.role
            head.append(parked)
            done_new.add(parked.key)
        new_primary.nodeid = old_primary.nodeid
        head.append(new_primary)
        return

    new_primary.nodeid = old_primary.nodeid
    head.append(new_primary)
    gone = [r for r in old.rows.values() if r.key not in new.rows and r.key != old_primary.key]
    if gone:
        if old_primary.key not in new.rows and old_primary.role == DEMOTED and len(gone) > len(added):
            new.add(Row(old_primary.host, old_primary.port, SECONDARY))
        parked = new.rows.get(old_primary.key)
        if parked is not None:
            row = gone[0]
            parked.nodeid = row.nodeid
            parked.role = row.role
            head.append(parked)
            done_new.add(parked.key)
            done_old.add(row.key)
        return
    parked = new.rows.get(old_primary.key)
    if parked is not None:
        # No free row to park the old primary in, and none may be added in this transaction: leave it out, so
        # that the next reconciliation (a new transaction) adds it as a secondary.
        new.discard(parked)


def _secondaries(
    new: Group, old: Group, failover: bool, done_new: set[_Key], done_old: set[_Key]
) -> tuple[list[Row], list[Row], list[Row]]:
    """Match the remaining rows: keep, correct, pair (update), remove and add secondaries."""
    removals: list[Row] = []
    additions: list[Row] = []
    updates: list[Row] = []
    added: list[Row] = []
    for row in list(new.rows.values()):
        if row.key in done_new:
            continue
        current = old.rows.get(row.key)
        if current is None or current.key in done_old:
            added.append(row)
            continue
        done_old.add(current.key)
        row.nodeid = current.nodeid
        if current.role != row.role:
            if failover:
                row.role = current.role  # corrected by a later transaction
            else:
                removals.append(removal(current))
                row.nodeid = None
                additions.append(row)
    gone = [r for r in old.rows.values() if r.key not in done_old and r.key not in new.rows]
    pairs = min(len(gone), len(added))
    for row, vanished in zip(added[:pairs], gone[:pairs], strict=True):
        row.nodeid = vanished.nodeid
        row.role = vanished.role
        updates.append(row)
    for vanished in gone[pairs:]:
        if failover:
            new.add(vanished.copy())
        else:
            removals.append(removal(vanished))
    for row in added[pairs:]:
        if failover:
            new.discard(row)
        else:
            row.nodeid = None
            additions.append(row)
    return removals, additions, updates


def with_deferred_additions(written: Group, desired: Group) -> Group | None:
    """``written`` plus the rows of ``desired`` it lacks, or None when it lacks none."""
    missing = [row for row in desired if row.key not in written.rows]
    if not missing:
        return None
    merged = written.copy()
    for row in missing:
        merged.add(Row(row.host, row.port, row.role))
    return merged
