"""The first tests of the conformance suite: the engine's packaging, its loading and its hooks.

:class:`~patroni_mpp.testing.conformance.EngineConformance` inherits them from :class:`LoadingTests`
(pytest runs a base class's tests first), together with the ``loaded_engine`` fixture: the engine
is loaded once per session, and when it does not load, ``test_loads_in_fresh_interpreter`` shows the
cause and every test that needs the engine skips, pointing at it. Subclass ``EngineConformance``,
never this class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .._discovery import load_engine
from .._loaded_engine import LoadedEngine
from .conformance_checks import (
    check_core_requirement,
    check_factories,
    check_hook_module,
    check_loads_in_fresh_interpreter,
    installed_entry_point,
)
from .host import LocalPostgresql

__all__ = ["LoadingTests"]

_LOAD_REPORTED = pytest.StashKey[dict[str, str]]()
"""Per session: engine name -> node id of the test that failed with the cause of its load failure."""
_LOAD_SKIPS = pytest.StashKey[dict[str, str]]()
"""Per session: engine name -> the reason the tests needing it skip, once loading it failed."""


class LoadingTests:
    """The packaging, loading and hook tests of the suite, and its ``loaded_engine`` fixture.

    It reads the suite's class attributes, which :class:`EngineConformance` defines and documents.
    """

    engine_name: ClassVar[str]
    valid_configs: ClassVar[Sequence[Any]]
    invalid_configs: ClassVar[Sequence[Any]]
    distribution: ClassVar[str | None]
    import_time_limit: ClassVar[float]

    @pytest.fixture
    def loaded_engine(self, request: pytest.FixtureRequest) -> LoadedEngine:
        """The engine as discovery loads it from the installed entry point.

        When it does not load, one test shows the cause and the others skip, pointing at it.
        """
        name, skips = self.engine_name, request.config.stash.setdefault(_LOAD_SKIPS, {})
        if name in skips:
            pytest.skip(skips[name])
        try:
            return load_engine(name)
        except Exception as exc:
            reporter = request.config.stash.setdefault(_LOAD_REPORTED, {}).get(name)
            skips[name] = (
                f"engine {name!r} does not load ({type(exc).__name__}): see {reporter or request.node.nodeid}"
            )
            if reporter is None:
                raise
            pytest.skip(skips[name])

    def test_samples_given(self) -> None:
        """The class gives valid and invalid configuration samples (``engine_name``: see collection)."""
        assert self.valid_configs, "give at least one valid configuration sample (valid_configs)"
        assert self.invalid_configs, "give at least one invalid configuration sample (invalid_configs)"

    def test_entry_point_declared(self) -> None:
        """One installed distribution declares the entry point, naming a module."""
        installed_entry_point(self.engine_name, self.distribution)

    def test_requires_compatible_core(self) -> None:
        """The distribution declares a bounded patroni-mpp range that admits the installed core."""
        check_core_requirement(installed_entry_point(self.engine_name, self.distribution))

    def test_loads_in_fresh_interpreter(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        """Discovery loads the engine in a new interpreter, without importing other engines."""
        try:
            check_loads_in_fresh_interpreter(self.engine_name, tmp_path, time_limit=self.import_time_limit)
        except AssertionError:
            request.config.stash.setdefault(_LOAD_REPORTED, {})[self.engine_name] = request.node.nodeid
            raise

    def test_hooks_implement_only_declared_specs(self, loaded_engine: LoadedEngine) -> None:
        """Every hook implementation matches a declared spec; hook-named functions are marked."""
        implemented = check_hook_module(loaded_engine.module)
        assert "mpp_engine_class" in implemented

    def test_factories_return_right_types(self, loaded_engine: LoadedEngine) -> None:
        """Factory hooks return an engine class and a config model; None for what is not theirs."""
        check_factories(loaded_engine, LocalPostgresql("not-connected", "127.0.0.1", 1))
