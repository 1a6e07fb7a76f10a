"""Shared fixtures of core's tests: small engine plugins written on the fly as fake distributions.

Fake distributions (:mod:`patroni_mpp.testing.distributions`) are real ones as far as
:mod:`importlib.metadata` is concerned; ``fake_dists`` hands theirs to discovery through its
``entry_points=`` argument, ``installed_dists`` puts them on ``sys.path``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import patroni_mpp
import pytest
from patroni_mpp.testing.distributions import FakeDists
from patroni_mpp.testing.engines import engine_source
from patroni_mpp.testing.host import LocalPostgresql

_counter = itertools.count()

OBSERVED_HOOKS = """

import datetime
import enum

from prometheus_client import CollectorRegistry, Counter, Histogram

BEHAVIOUR = {"status": "ok", "metrics": "ok"}
REGISTRY = CollectorRegistry()
EVENTS = Counter("patroni_mpp_{section}_events", "Events handled.", ["type", "outcome"], registry=REGISTRY)
PAUSES = Histogram(
    "patroni_mpp_{section}_pause_seconds", "Client pauses.", buckets=(0.1, 1.0), registry=REGISTRY
)
FOREIGN = Counter("other_thing", "Not ours.", registry=REGISTRY)


class Colour(enum.Enum):
    GREEN = "green"


class Opaque:
    def __str__(self):
        return "opaque-object"


@hookimpl
def mpp_status(handler):
    mode = BEHAVIOUR["status"]
    if mode == "raise":
        raise RuntimeError("status failed for " + handler.postgresql.connection_pool.conn_kwargs["password"])
    if mode == "list":
        return ["not", "a", "mapping"]
    if mode == "secrets":
        return {"config": handler.config, "conn": handler.postgresql.connection_pool.conn_kwargs}
    return {
        "group": handler.group,
        "queue": {"1": ["before_demote"], 2: []},
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "colour": Colour.GREEN,
        "tags": {"b"},
        "ratio": float("nan"),
        "other": Opaque(),
    }


@hookimpl
def mpp_metrics(handler):
    mode = BEHAVIOUR["metrics"]
    if mode == "raise":
        raise RuntimeError("metrics failed")
    if mode == "junk":
        return [42]
    return REGISTRY.collect()
"""
"""Observation hooks (``mpp_status``, ``mpp_metrics``) appended to the ``watch`` engine's module."""


@pytest.fixture(autouse=True)
def _fresh_discovery() -> Iterator[None]:
    """Every test starts and ends with empty discovery caches."""
    patroni_mpp.clear_caches()
    yield
    patroni_mpp.clear_caches()


def _fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, installed: bool) -> Iterator[FakeDists]:
    module_dir = tmp_path / "site"
    module_dir.mkdir()
    dist_dir = module_dir if installed else tmp_path / "dists"
    dist_dir.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(module_dir))
    dists = FakeDists(module_dir, dist_dir, f"fake{next(_counter)}_")
    yield dists
    dists.forget()


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDists]:
    """Distributions to hand to discovery through ``entry_points=`` (not installed)."""
    yield from _fake_dists(tmp_path, monkeypatch, installed=False)


@pytest.fixture
def installed_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDists]:
    """Distributions placed on ``sys.path``: discovery finds them like any installed plugin."""
    yield from _fake_dists(tmp_path, monkeypatch, installed=True)


@pytest.fixture
def postgresql() -> LocalPostgresql:
    """The host PostgreSQL object handlers are built with (never connected by these tests)."""
    return LocalPostgresql("node1", "127.0.0.1", 5432)


@pytest.fixture
def watch(installed_dists: FakeDists) -> ModuleType:
    """The ``watch`` test engine (observation hooks), installed; its module's ``BEHAVIOUR`` steers them.

    Shared by the status and the metrics tests: the minimal engine plus :data:`OBSERVED_HOOKS`, whose
    ``BEHAVIOUR`` dict switches the hooks between answering, raising and answering junk.
    """
    source = engine_source("watch") + OBSERVED_HOOKS.replace("{section}", "watch")
    installed_dists.add("watch-engine", {"watch": "watch"}, {"watch": source}, version="2.5")
    return patroni_mpp.load_engine("watch").module
