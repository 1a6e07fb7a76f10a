"""The data model: rows of ``pg_dist_node``, groups of rows, and tasks (desired states of one group).

A :class:`Row` is identified by its address alone (``host``, case-insensitive, and ``port``), mirroring the
``UNIQUE (nodename, nodeport)`` constraint; its role and ``nodeid`` are attributes. The role ``demoted`` is
engine-internal: in the table such a row is a ``primary`` whose ``nodename`` carries :data:`DEMOTED_SUFFIX`.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Iterator

__all__ = [
    "AFTER_PROMOTE",
    "BEFORE_DEMOTE",
    "BEFORE_PROMOTE",
    "COORDINATOR_GROUP_ID",
    "DEFAULT_COOLDOWN_MS",
    "DEMOTED",
    "DEMOTED_SUFFIX",
    "EVENTS",
    "KNOWN_ROLES",
    "PRIMARY",
    "PRIMARY_ROW_ROLES",
    "REMOVE",
    "SECONDARY",
    "Group",
    "Outcome",
    "Row",
    "Task",
]

PRIMARY = "primary"
SECONDARY = "secondary"
DEMOTED = "demoted"
PRIMARY_ROW_ROLES = frozenset({PRIMARY, DEMOTED})
"""Roles of a group's primary row: ``primary``, or ``demoted`` while the group is paused."""

KNOWN_ROLES = frozenset({PRIMARY, SECONDARY, DEMOTED})
"""Roles the engine writes (the table may also hold ``unavailable`` rows)."""

REMOVE = ""
"""Role of a removal order in a transition's output."""

DEMOTED_SUFFIX = "-demoted"
"""Appended to the host of a paused primary row (a new name makes Citus lock the group)."""

BEFORE_DEMOTE = "before_demote"
BEFORE_PROMOTE = "before_promote"
AFTER_PROMOTE = "after_promote"
EVENTS = (BEFORE_DEMOTE, BEFORE_PROMOTE, AFTER_PROMOTE)
"""The event types a worker sends, in the order of a switchover."""

COORDINATOR_GROUP_ID = 0
"""Citus group id of the coordinator."""

DEFAULT_COOLDOWN_MS = 10000
"""``lock_cooldown`` of ``citus_update_node`` when the task gives none (or zero)."""

_Key = tuple[str, int]


class Row:
    """One ``pg_dist_node`` row (or one row the engine wants there).

    :ivar host: the host as written to/read from the table (its case is kept for SQL).
    :ivar port: the port.
    :ivar role: ``primary``, ``secondary``, ``demoted``, what the table says (``unavailable``), or
        :data:`REMOVE` (``""``) for a removal order.
    :ivar nodeid: ``pg_dist_node.nodeid``; None while unknown.
    :ivar key: the identity, ``(host.lower(), port)``.
    """

    __slots__ = ("host", "key", "nodeid", "port", "role")

    def __init__(
        self, host: str, port: int, role: str, nodeid: int | None = None, key: _Key | None = None
    ) -> None:
        """Build a row; ``key`` may be passed when the host is known to be lower-case already."""
        self.host = host
        self.port = port
        self.role = role
        self.nodeid = nodeid
        self.key: _Key = (host.lower(), port) if key is None else key

    @property
    def is_primary(self) -> bool:
        """True for the roles ``primary`` and ``demoted``."""
        return self.role in PRIMARY_ROW_ROLES

    @property
    def nodename(self) -> str:
        """The ``nodename`` to write: the host, with :data:`DEMOTED_SUFFIX` when demoted."""
        return self.host + DEMOTED_SUFFIX if self.role == DEMOTED else self.host

    def copy(self, *, role: str | None = None, nodeid: int | None = None) -> Row:
        """A copy, optionally with another role or nodeid."""
        return Row(
            self.host,
            self.port,
            self.role if role is None else role,
            self.nodeid if nodeid is None else nodeid,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Row({self.host}:{self.port}, {self.role or 'remove'}, nodeid={self.nodeid})"


class Group:
    """The rows of one Citus group, at most one per address, in insertion order.

    :ivar groupid: the Citus group id.
    :ivar rows: address -> row.
    :ivar failover: set while the primary row was changed inside the current transaction (Citus then
        refuses to add or remove nodes until the change is committed and synced).
    """

    __slots__ = ("failover", "groupid", "rows")

    def __init__(self, groupid: int, rows: Iterable[Row] = ()) -> None:
        self.groupid = groupid
        self.rows: dict[_Key, Row] = {}
        self.failover = False
        for row in rows:
            self.add(row)

    def add(self, row: Row) -> None:
        """Add ``row`` unless a row with its address is present (the first one wins)."""
        self.rows.setdefault(row.key, row)

    def discard(self, row: Row) -> None:
        """Remove the row with ``row``'s address, if any."""
        self.rows.pop(row.key, None)

    def get(self, row: Row) -> Row | None:
        """The stored row with ``row``'s address."""
        return self.rows.get(row.key)

    def primary(self) -> Row | None:
        """The first row whose role is ``primary`` or ``demoted``."""
        for row in self.rows.values():
            if row.is_primary:
                return row
        return None

    def is_registered(self) -> bool:
        """True when the group has a primary row known to be in the table (it has a nodeid)."""
        primary = self.primary()
        return primary is not None and primary.nodeid is not None

    def equals(self, other: Group, *, check_nodeid: bool = False) -> bool:
        """Same group id and the same ``(address, role)`` pairs (and nodeids when asked)."""
        if self.groupid != other.groupid or len(self.rows) != len(other.rows):
            return False
        theirs = other.rows
        for key, row in self.rows.items():
            twin = theirs.get(key)
            if twin is None or twin.role != row.role:
                return False
            if check_nodeid and twin.nodeid != row.nodeid:
                return False
        return True

    def copy(self) -> Group:
        """A deep copy (rows copied too)."""
        group = Group(self.groupid, (row.copy() for row in self.rows.values()))
        group.failover = self.failover
        return group

    def __contains__(self, row: object) -> bool:
        return isinstance(row, Row) and row.key in self.rows

    def __iter__(self) -> Iterator[Row]:
        return iter(list(self.rows.values()))

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        flag = ", failover" if self.failover else ""
        return f"Group({self.groupid}, {list(self.rows.values())}{flag})"


class Outcome(enum.Enum):
    """What became of a task; :meth:`Task.wait` callers can read it from :attr:`Task.outcome`."""

    APPLIED = "applied"
    """The change is committed (or needed no SQL)."""
    OPENED = "opened"
    """The change was made inside an open transaction (client traffic to the group is paused)."""
    SKIPPED = "skipped"
    """Nothing to do: already the table's state, or a pause of a group that is not registered."""
    FAILED = "failed"
    """A statement failed; the transaction (if any) was rolled back."""
    SUPERSEDED = "superseded"
    """A newer task for the same group replaced it; the newer task's outcome follows."""
    DISCARDED = "discarded"
    """Dropped without processing (the coordinator was demoted or the handler closed)."""


_event_lock = threading.Lock()


class Task:
    """The desired state of one group, produced by an event or by the periodic reconciliation.

    :ivar group: the desired rows; the transition fills in nodeids and turns it into the resulting state.
    :ivar event: ``before_demote``, ``before_promote`` or ``after_promote`` (reconciliation tasks are
        ``after_promote``).
    :ivar timeout: seconds the transaction of an event may stay open; None for reconciliation tasks.
    :ivar cooldown: ``lock_cooldown`` in milliseconds.
    :ivar deadline: ``time.monotonic()`` after which an open transaction of this task is rolled back.
    :ivar outcome: set when the task was processed or dropped.
    """

    __slots__ = (
        "_done",
        "_followers",
        "cooldown",
        "deadline",
        "event",
        "group",
        "outcome",
        "timeout",
    )

    def __init__(
        self,
        group: Group,
        event: str,
        timeout: float | None = None,
        cooldown: int | None = None,
    ) -> None:
        self.group = group
        self.event = event
        self.timeout = timeout
        self.cooldown = cooldown or DEFAULT_COOLDOWN_MS
        self.deadline = 0.0
        self.outcome: Outcome | None = None
        self._done: threading.Event | None = None
        self._followers: list[Task] = []

    @property
    def groupid(self) -> int:
        """The group this task is about."""
        return self.group.groupid

    @property
    def from_event(self) -> bool:
        """True for tasks made from a REST event (they carry a timeout)."""
        return self.timeout is not None

    def same_state(self, other: Task) -> bool:
        """Same event and the same rows (nodeids ignored): as Patroni compares tasks."""
        return self.event == other.event and self.group.equals(other.group)

    def _event(self) -> threading.Event:
        # Created on demand: reconciliation makes a task per group every HA cycle, nobody waits on them.
        with _event_lock:
            if self._done is None:
                self._done = threading.Event()
            return self._done

    def supersede(self, older: Task) -> None:
        """Record that this task replaced ``older``: waking this one wakes ``older`` too."""
        self._followers.append(older)

    def wakeup(self, outcome: Outcome) -> None:
        """Mark the task done with ``outcome``; wake its waiters and those of tasks it replaced."""
        if self.outcome is None:
            self.outcome = outcome
        followers, self._followers = self._followers, []
        self._event().set()
        for older in followers:
            older.wakeup(Outcome.SUPERSEDED if outcome is not Outcome.DISCARDED else outcome)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task was processed or dropped, at most ``timeout`` seconds.

        :returns: True when it is done, False when the timeout passed first.
        """
        return self._event().wait(timeout)

    @property
    def done(self) -> bool:
        """True once :meth:`wakeup` was called."""
        return self._done is not None and self._done.is_set()

    def __repr__(self) -> str:
        return (
            f"Task({self.event}, group={self.groupid}, timeout={self.timeout}, "
            f"cooldown={self.cooldown}, rows={list(self.group.rows.values())})"
        )
