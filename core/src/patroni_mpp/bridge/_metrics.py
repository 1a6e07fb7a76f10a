"""The engine's metrics appended to Patroni's ``GET /metrics``, in the Prometheus text format.

``prometheus_client`` renders the text (``generate_latest`` over a registry of our own, never the
process-wide default one), so escaping, sample suffixes and histogram buckets follow the reference library
rather than hand formatting. Reading metrics runs no SQL: the bridge's own series come from memory, and the
engine's ``mpp_metrics`` hook must answer from memory too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric

from ._observe import ObservationError, Observed

logger = logging.getLogger(__name__)

METRICS_HOOK = "mpp_metrics"
"""The hook asked for the engine's families."""

PREFIX = "patroni_mpp_"
"""Every family name the bridge appends starts with this."""

INFO_METRIC = "patroni_mpp_engine"
"""Info family (rendered ``patroni_mpp_engine_info``): engine, type, distribution and version."""

UP_METRIC = "patroni_mpp_engine_metrics_up"
"""Gauge: 1 when the engine's metrics could be read (or it has none), 0 when its hook failed."""

RESERVED = frozenset({INFO_METRIC, f"{INFO_METRIC}_info", UP_METRIC})
"""Family names an engine may not use."""

HOST_LABELS = ("scope", "name")
"""Labels Patroni puts on its own samples; added to the engine's samples that lack them."""

_warned_lock = threading.Lock()
_warned: set[tuple[str, str]] = set()


def _warn_once(engine: str, family: str, why: str) -> None:
    with _warned_lock:
        if (engine, family) in _warned:
            return
        _warned.add((engine, family))
    logger.warning("Dropped metric family %r of MPP engine %r: %s", family, engine, why)


class EngineCollector:
    """A ``prometheus_client`` collector of one node's engine: the bridge's series and the engine's own."""

    def __init__(self, observed: Observed) -> None:
        """Collect for ``observed``.

        :param observed: the node's engine.
        """
        self._observed = observed

    def _host_labels(self) -> dict[str, str]:
        values = (self._observed.scope, self._observed.member)
        return {k: str(v) for k, v in zip(HOST_LABELS, values, strict=True) if v is not None}

    def collect(self) -> Iterator[Metric]:
        """Yield the info and up families, then the engine's valid families with host labels added."""
        observed = self._observed
        mask = observed.mask
        host = self._host_labels()
        identity = observed.identity()
        info = InfoMetricFamily(INFO_METRIC, "The MPP engine this node runs.", labels=list(host))
        info.add_metric(
            list(host.values()),
            {k: mask(str(identity[k])) for k in ("engine", "type", "distribution", "version")},
        )
        families: list[Metric] = []
        up = 1
        try:
            answer = observed.call(METRICS_HOOK)
            families = list(_families(answer, observed.plugin.name))
        except (ObservationError, TypeError) as exc:
            logger.warning(
                "MPP engine %r could not give its metrics: %s", observed.plugin.name, mask(str(exc))
            )
            up = 0
        gauge = GaugeMetricFamily(
            UP_METRIC,
            "1 when the MPP engine's metrics could be read, 0 when its hook failed.",
            labels=list(host),
        )
        gauge.add_metric(list(host.values()), up)
        yield info
        yield gauge
        for family in families:
            yield _relabelled(family, host, mask)


def _families(answer: Any, engine: str) -> Iterator[Metric]:
    """The engine's families that may be shown (prefix, no clash with the bridge's, no duplicates)."""
    if answer is None:
        return
    if not isinstance(answer, Iterable) or isinstance(answer, str | bytes):
        raise TypeError(f"hook {METRICS_HOOK} answered {type(answer).__name__}, not metric families")
    seen: set[str] = set()
    for family in answer:
        if not isinstance(family, Metric):
            raise TypeError(f"hook {METRICS_HOOK} answered a {type(family).__name__}, not a Metric")
        if not family.name.startswith(PREFIX):
            _warn_once(engine, family.name, f"its name does not start with {PREFIX!r}")
        elif family.name in RESERVED or family.name in seen:
            _warn_once(engine, family.name, "the name is taken")
        else:
            seen.add(family.name)
            yield family


def _relabelled(family: Metric, host: dict[str, str], mask: Any) -> Metric:
    """A copy of ``family`` whose samples carry the host labels, help and label values masked."""
    copy = Metric(family.name, mask(family.documentation), family.type, family.unit)
    for sample in family.samples:
        labels = {**host, **{k: mask(str(v)) for k, v in sample.labels.items()}}
        copy.samples.append(sample._replace(labels=labels))
    return copy


def render_metrics(observed: Observed) -> str:
    """The engine's part of ``GET /metrics``: Prometheus text exposition format (version 0.0.4).

    :param observed: the node's engine.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(observed))
    return generate_latest(registry).decode("utf-8")
