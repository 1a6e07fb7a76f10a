"""Shared fixtures of core's tests: small engine plugins written on the fly as real distributions.

A *fake distribution* here is a real one as far as :mod:`importlib.metadata` is concerned: a
``*.dist-info`` directory with ``METADATA`` and ``entry_points.txt`` beside the plugin's module. Put
on ``sys.path`` it is "installed"; read with ``metadata.distributions(path=[...])`` it yields entry
points that tests hand to discovery through its ``entry_points=`` argument without installing
anything.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType

import patroni_mpp
import pytest
from patroni_mpp.testing._packaging import write_dist_info
from patroni_mpp.testing.host import LocalPostgresql

_counter = itertools.count()

ENGINE_MODULE = """
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from patroni_mpp import AbstractMPP, AbstractMPPHandler, hookimpl

SECTION = {section!r}


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: int = Field(ge=0, description="group id of this cluster, 0 = coordinator")
    database: str = Field(description="database holding the engine metadata")


class {cls}(AbstractMPP):
    group_re: ClassVar[re.Pattern[str]] = re.compile(r"^(0|[1-9][0-9]*)$")

    @staticmethod
    def validate_config(config: Any) -> bool:
        return isinstance(config, dict) and isinstance(config.get("group"), int)

    @property
    def group(self) -> Any:
        return self.config["group"]

    @property
    def coordinator_group_id(self) -> int:
        return 0


class {cls}Handler({cls}, AbstractMPPHandler):
    def handle_event(self, cluster, event):
        return None

    def sync_meta_data(self, cluster):
        return None

    def on_demote(self):
        return None

    def schedule_cache_rebuild(self):
        return None

    def bootstrap(self):
        return None

    def adjust_postgres_gucs(self, parameters):
        parameters["engine_loaded"] = SECTION

    def ignore_replication_slot(self, slot):
        return False


@hookimpl
def mpp_config_model(name):
    return EngineConfig if name == SECTION else None


@hookimpl
def mpp_engine_class(name):
    return {cls} if name == SECTION else None
"""
"""A well-behaved engine (descriptor, handler found by convention, config model); format with
``section`` and ``cls``."""


def engine_source(section: str, cls: str | None = None) -> str:
    """Source of a well-behaved engine module serving ``section``.

    :param section: the section (entry point) name.
    :param cls: descriptor class name (default: the capitalised section name).
    """
    return ENGINE_MODULE.format(section=section, cls=cls or section.capitalize())


@dataclass
class FakeDists:
    """Writes fake distributions into ``dist_dir`` and their modules into ``module_dir``.

    :ivar module_dir: a directory on ``sys.path`` for the plugin modules.
    :ivar dist_dir: where ``*.dist-info`` directories go (``module_dir`` when installing for real).
    :ivar prefix: prepended to every module name, unique per test so that modules never collide.
    """

    module_dir: Path
    dist_dir: Path
    prefix: str
    modules: list[str] = field(default_factory=list)

    def module(self, name: str) -> str:
        """The unique module name for ``name``."""
        return f"{self.prefix}{name}"

    def add(
        self,
        dist: str,
        entry_points: dict[str, str],
        modules: dict[str, str],
        *,
        version: str = "1.0",
        requires: tuple[str, ...] = ("patroni-mpp>=0.1,<1",),
    ) -> None:
        """Write one distribution.

        :param dist: distribution name.
        :param entry_points: entry point name -> module key (a key of ``modules``).
        :param modules: module key -> source; written as ``<prefix><key>.py``.
        :param version: distribution version.
        :param requires: ``Requires-Dist`` lines.
        """
        for key, source in modules.items():
            name = self.module(key)
            (self.module_dir / f"{name}.py").write_text(textwrap.dedent(source))
            self.modules.append(name)
        values = {ep: self.module(key) for ep, key in entry_points.items()}
        write_dist_info(self.dist_dir, dist, version, requires, values)

    def engine(self, section: str, *, dist: str | None = None, version: str = "1.0") -> None:
        """Write a well-behaved engine distribution serving ``section``."""
        self.add(
            dist or f"{section}-engine",
            {section: section},
            {section: engine_source(section)},
            version=version,
        )

    def entry_points(self) -> list[metadata.EntryPoint]:
        """The ``patroni.mpp`` entry points of the distributions written so far, plus the installed
        ``null`` one (the fallback every configuration needs)."""
        found = [
            ep
            for dist in metadata.distributions(path=[str(self.dist_dir)])
            for ep in dist.entry_points
            if ep.group == patroni_mpp.ENTRY_POINT_GROUP
        ]
        null = metadata.entry_points(group=patroni_mpp.ENTRY_POINT_GROUP, name=patroni_mpp.NULL_ENGINE)
        return found + list(null)

    def imported(self) -> list[str]:
        """The modules of these distributions that have been imported."""
        return sorted(name for name in self.modules if name in sys.modules)


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
    for name in dists.modules:
        sys.modules.pop(name, None)


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

    Shared by the status and the metrics tests (``observed_engines`` writes its source).
    """
    from observed_engines import observed_engine_source

    installed_dists.add(
        "watch-engine", {"watch": "watch"}, {"watch": observed_engine_source("watch")}, version="2.5"
    )
    return patroni_mpp.load_engine("watch").module
