"""The engine's Prometheus metrics: one registry per handler, every sample labelled by database.

The counters and the histogram are updated by the workers as they work (see
:mod:`patroni_mpp_citus._record`); the gauge of differing rows is computed when the metrics are
read, from what the handler holds in memory. Reading them runs no SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ._record import COMMITTED, ROLLED_BACK_AT_DEADLINE

__all__ = ["PAUSE_BUCKETS", "PREFIX", "CitusMetrics"]

PREFIX = "patroni_mpp_citus_"
"""The prefix of every family name."""

PAUSE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
"""Upper bounds (seconds) of the client pause histogram's buckets (an event's timeout is 30 s by
default)."""


class _DifferingRows(Collector):
    """The gauge ``patroni_mpp_citus_differing_rows``, computed at collection."""

    def __init__(self, count: Callable[[], Mapping[str, int | None]]) -> None:
        self._count = count

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}differing_rows",
            "Rows where pg_dist_node (as last read or written) differs from the last DCS view; "
            "no sample while the table's content is not known.",
            labels=["database"],
        )
        for database, rows in self._count().items():
            if rows is not None:
                family.add_metric([database], rows)
        return [family]


class CitusMetrics:
    """The metric families of one handler, on a registry of its own.

    :param differing_rows: database -> rows differing from the DCS view (None: not known).
    :ivar registry: what the ``mpp_metrics`` hook collects.
    :ivar events: events by ``type`` and ``outcome`` (an :class:`~patroni_mpp_citus.Outcome` value, or
        ``ignored``, ``discarded``, ``unchanged``).
    :ivar transactions: event transactions ended, by ``outcome`` (``committed``,
        ``rolled_back_at_deadline``, ``rolled_back``).
    :ivar client_pause: seconds from the first statement of an event transaction (the ``-demoted``
        update) to its commit or rollback.
    :ivar reconciliation_statements: statements sent for reconciliation tasks.
    :ivar reconciliation_errors: reconciliation tasks that failed.
    """

    def __init__(self, differing_rows: Callable[[], Mapping[str, int | None]]) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.events = Counter(
            f"{PREFIX}events",
            "Events of worker groups handled, by type and outcome.",
            ["database", "type", "outcome"],
            registry=registry,
        )
        self.transactions = Counter(
            f"{PREFIX}transactions",
            "Event transactions ended: committed, or rolled back (at their deadline or earlier).",
            ["database", "outcome"],
            registry=registry,
        )
        self.client_pause = Histogram(
            f"{PREFIX}client_pause_seconds",
            "Client pauses: from the -demoted update to the commit or rollback of its transaction.",
            ["database"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.reconciliation_statements = Counter(
            f"{PREFIX}reconciliation_statements",
            "Statements sent by reconciliation tasks.",
            ["database"],
            registry=registry,
        )
        self.reconciliation_errors = Counter(
            f"{PREFIX}reconciliation_errors",
            "Reconciliation tasks that failed.",
            ["database"],
            registry=registry,
        )
        registry.register(_DifferingRows(differing_rows))

    def start_database(self, database: str) -> None:
        """Make the samples of ``database`` appear at zero before anything happened."""
        for outcome in (COMMITTED, ROLLED_BACK_AT_DEADLINE):
            self.transactions.labels(database, outcome)
        self.client_pause.labels(database)
        self.reconciliation_statements.labels(database)
        self.reconciliation_errors.labels(database)

    def collect(self) -> list[Metric]:
        """Every family, read from memory."""
        return list(self.registry.collect())
