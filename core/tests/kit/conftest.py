"""Fixtures of the conformance kit's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from patroni_mpp.testing.distributions import FakeDists

from .kit_engines import EngineInstaller


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
