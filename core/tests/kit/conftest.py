"""Fixtures of the conformance kit's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from patroni_mpp import AbstractMPPHandler, LoadedEngine
from patroni_mpp.testing.distributions import FakeDists
from patroni_mpp.testing.host import LocalPostgresql

from .kit_engines import VALID, EngineInstaller, handler_of


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineInstaller]:
    """Install engines for this test only (also visible to subprocesses through ``PYTHONPATH``)."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    )
    dists = FakeDists(site, site)
    yield EngineInstaller(dists)
    dists.forget()


@pytest.fixture
def offline() -> LocalPostgresql:
    """A host object never connected to (the kit engines do not use it)."""
    return LocalPostgresql("node1", "127.0.0.1", 1)


@pytest.fixture
def good(engines: EngineInstaller) -> LoadedEngine:
    """The good kit engine, installed and loaded."""
    return engines.load()


@pytest.fixture
def worker_handler(good: LoadedEngine, offline: LocalPostgresql) -> AbstractMPPHandler:
    """The good engine's handler of a worker group (its second valid sample)."""
    return handler_of(good, VALID[1], offline)  # type: ignore[no-any-return]
