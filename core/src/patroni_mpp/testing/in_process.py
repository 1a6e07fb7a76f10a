"""The conformance suite on a hook module imported in the test process, without installing the engine.

While writing an engine, reinstalling its wheel after each edit is slow. Subclass
:class:`HookModuleConformance` instead of
:class:`~patroni_mpp.testing.conformance.EngineConformance` and name the module of hook
implementations; the suite then loads the engine from that module object, as discovery would
from the entry point, and skips the checks that only an installed distribution can answer (the
entry point, the core requirement, loading in a new interpreter and its time limit)::

    import patroni_mpp_my_engine.hooks

    from patroni_mpp.testing.in_process import HookModuleConformance


    class TestMyEngineInProcess(HookModuleConformance):
        engine_name = "my_engine"
        hook_module = patroni_mpp_my_engine.hooks
        valid_configs = ({"database": "postgres"},)
        invalid_configs = ({"database": ""},)
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest

from .._contract import ContractViolation, plugin_manager
from .._core_version import core_version
from .._errors import EngineLoadError, EngineSource
from .._loaded_engine import LoadedEngine
from .conformance import EngineConformance

__all__ = ["INSTALLED_ONLY", "HookModuleConformance", "load_hook_module"]

INSTALLED_ONLY = (
    "checked only against the installed distribution: run the suite on the built wheel "
    "(EngineConformance) before publishing"
)
"""Why the packaging checks skip in-process."""


def load_hook_module(module: ModuleType, name: str) -> LoadedEngine:
    """Load an engine from its module of hook implementations, as discovery loads an entry point.

    The hooks are checked as discovery checks them (pluggy's registration, the engine class, the
    config model); nothing about a distribution is.

    :param module: the imported module of hook implementations.
    :param name: the section name it serves.
    :returns: the loaded engine.
    :raises EngineLoadError: when the module breaks the hook contract.
    """
    source = EngineSource(
        name=f"{module.__name__} (in-process)", version="not installed", value=module.__name__
    )
    try:
        manager = plugin_manager(module, name=f"in-process:{name}")
    except ContractViolation as exc:
        raise EngineLoadError(name, source, core_version(), f"hook contract broken: {exc}") from exc
    return LoadedEngine(name, source, module, manager)


class HookModuleConformance(EngineConformance):
    """:class:`EngineConformance` on :attr:`hook_module`, imported in the test process.

    :cvar hook_module: the engine's module of hook implementations. Required.
    """

    hook_module: ClassVar[ModuleType | None] = None

    @pytest.fixture
    def loaded_engine(self) -> LoadedEngine:
        """The engine loaded from :attr:`hook_module` (no entry point is looked up)."""
        assert self.engine_name, "set engine_name to the section name the hook module serves"
        assert self.hook_module is not None, "set hook_module to the engine's module of hook implementations"
        return load_hook_module(self.hook_module, self.engine_name)

    def test_entry_point_declared(self) -> None:
        """Skipped in-process: the entry point belongs to the installed distribution."""
        pytest.skip(f"the entry point is {INSTALLED_ONLY}")

    def test_requires_compatible_core(self) -> None:
        """Skipped in-process: the core requirement belongs to the installed distribution."""
        pytest.skip(f"the patroni-mpp requirement is {INSTALLED_ONLY}")

    def test_loads_in_fresh_interpreter(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        """Skipped in-process: a new interpreter finds the engine through its entry point only."""
        pytest.skip(f"loading alone in a new interpreter, within import_time_limit, is {INSTALLED_ONLY}")
