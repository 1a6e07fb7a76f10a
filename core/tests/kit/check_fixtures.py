"""Fixtures of the tests of the conformance checks: the good kit engine, loaded, and its handlers."""

from __future__ import annotations

from typing import Any

import pytest
from patroni_mpp import AbstractMPPHandler, LoadedEngine
from patroni_mpp.testing.host import LocalPostgresql

from .kit_engines import VALID, EngineInstaller


@pytest.fixture
def offline() -> LocalPostgresql:
    """A host object never connected to (the kit engines do not use it)."""
    return LocalPostgresql("node1", "127.0.0.1", 1)


@pytest.fixture
def good(engines: EngineInstaller) -> LoadedEngine:
    return engines.load()


def handler_of(loaded: LoadedEngine, config: Any, postgresql: LocalPostgresql) -> Any:
    return loaded.create(config).get_handler_impl(postgresql)


@pytest.fixture
def worker_handler(good: LoadedEngine, offline: LocalPostgresql) -> AbstractMPPHandler:
    return handler_of(good, VALID[1], offline)  # type: ignore[no-any-return]
