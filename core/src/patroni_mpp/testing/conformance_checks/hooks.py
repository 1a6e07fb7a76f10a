"""Checks of an engine's hook module and of what its factory hooks answer."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, ClassVar

import pluggy

from ..._abstract import GROUP_RE, AbstractMPP
from ..._contract import (
    ContractViolation,
    check_config_model,
    check_engine_class,
    check_hook_implementations,
    declared_hooks,
)
from ..._contract import plugin_manager as contract_plugin_manager
from ..._loaded_engine import LoadedEngine
from ..._protocols import PostgresqlLike
from .failure import fail

__all__ = [
    "FOREIGN_NAME",
    "check_factories",
    "check_hook_module",
    "declared_hooks",
    "plugin_manager",
]


def plugin_manager(module: ModuleType) -> pluggy.PluginManager:
    """A plugin manager holding the specifications and only ``module``, as discovery builds it.

    :param module: an engine's module of hook implementations.
    :raises AssertionError: when pluggy refuses the module (unknown hook, wrong argument names).
    """
    try:
        return contract_plugin_manager(module)
    except ContractViolation as exc:
        raise fail(f"pluggy refuses {module.__name__}: {exc}") from exc


def check_hook_module(module: ModuleType) -> list[str]:
    """Check that the module implements only declared hooks and marks every hook-like function.

    :param module: an engine's module of hook implementations.
    :returns: the names of the hooks it implements.
    :raises AssertionError: for an implementation of an undeclared hook (optional or not), a
        function named like a hook without ``@hookimpl``, or anything pluggy refuses.
    """
    try:
        implemented = check_hook_implementations(module)
    except ContractViolation as exc:
        raise fail(str(exc)) from None
    plugin_manager(module)
    return implemented


class _ForeignEngine(AbstractMPP):
    """An engine no plugin serves, for checking that hooks answer None for engines not theirs."""

    group_re: ClassVar[re.Pattern[str]] = GROUP_RE

    @staticmethod
    def validate_config(config: Any) -> bool:
        return isinstance(config, dict)

    @property
    def group(self) -> int:
        return 1

    @property
    def coordinator_group_id(self) -> int:
        return 0


FOREIGN_NAME = "conformance_no_such_engine"
"""A section name that no plugin serves."""


def check_factories(loaded: LoadedEngine, postgresql: PostgresqlLike) -> None:
    """Check what each factory hook answers, for its own name and for names and engines not its own.

    :param loaded: the engine as discovery loaded it.
    :param postgresql: a host PostgreSQL object (not used by a correct plugin answering None).
    :raises AssertionError: for a wrong type, an abstract engine class, a missing config model, or
        an answer for a section or engine the plugin does not serve.
    """
    hook = plugin_manager(loaded.module).hook
    try:
        check_engine_class(hook.mpp_engine_class(name=loaded.name), loaded.name)
        model = check_config_model(hook.mpp_config_model(name=loaded.name), loaded.name)
    except ContractViolation as exc:
        raise fail(str(exc)) from None
    if model is None:
        raise fail(
            f"mpp_config_model({loaded.name!r}) returned None: the kit requires a pydantic "
            "model, which gives operators field-level errors and 'patroni-mpp schema' its output"
        )
    for hook_name in ("mpp_engine_class", "mpp_config_model"):
        answer = getattr(hook, hook_name)(name=FOREIGN_NAME)
        if answer is not None:
            raise fail(f"{hook_name}({FOREIGN_NAME!r}) returned {answer!r}; answer None for "
                       "sections the plugin does not serve")  # fmt: skip
    foreign = _ForeignEngine({"group": 1})
    answer = hook.mpp_handler(engine=foreign, postgresql=postgresql)
    if answer is not None:
        raise fail(f"mpp_handler built {answer!r} for an engine of another plugin; answer None")
