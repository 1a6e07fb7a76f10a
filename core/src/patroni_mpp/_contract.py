"""The hook contract, checked in one place: discovery and the conformance kit both call these.

A plugin module is held to the specifications of :mod:`patroni_mpp.hookspecs` by a plugin manager
holding those specifications and that module only; what its factory hooks answer is checked by
:func:`check_engine_class` and :func:`check_config_model`. Every check raises
:class:`ContractViolation` with a text naming what is wrong; discovery turns it into an
``EngineLoadError``, the kit into a test failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from . import hookspecs
from ._abstract import AbstractMPP


class ContractViolation(Exception):  # noqa: N818 - reads as what happened
    """A plugin module or what one of its hooks answered breaks the hook contract."""


def hook_specifications() -> list[tuple[str, Callable[..., Any]]]:
    """The hook specifications of :mod:`patroni_mpp.hookspecs` (name, function), in written order."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return [(name, obj) for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, marker)]


def declared_hooks() -> frozenset[str]:
    """Names of the hooks that :mod:`patroni_mpp.hookspecs` declares."""
    return frozenset(name for name, _ in hook_specifications())


def plugin_manager(module: ModuleType, name: str | None = None) -> pluggy.PluginManager:
    """A plugin manager holding the hook specifications and only ``module``.

    pluggy verifies every implementation as the module is registered (an argument its
    specification does not have, a ``firstresult`` hook turned into a wrapper, ...) and
    ``check_pending`` refuses implementations of hooks that no specification declares, unless they
    are marked ``optionalhook``.

    :param module: an engine's module of hook implementations.
    :param name: the name to register it under (pluggy's default when None).
    :raises ContractViolation: with pluggy's reason, when it refuses the module.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(module, name=name)
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ContractViolation(str(exc)) from exc
    return manager


def check_hook_implementations(module: ModuleType) -> list[str]:
    """Check, beyond what pluggy checks, that the module's hook-like functions are all declared hooks.

    :param module: an engine's module of hook implementations.
    :returns: the names of the hooks it implements.
    :raises ContractViolation: for an implementation of an undeclared hook (optional or not), or a
        function named like a hook without ``@hookimpl``.
    """
    declared = declared_hooks()
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    implemented: list[str] = []
    problems: list[str] = []
    for attr in sorted(dir(module)):
        obj = getattr(module, attr, None)
        options = getattr(obj, marker, None) if callable(obj) else None
        if isinstance(options, dict):
            hook = options.get("specname") or attr
            if hook in declared:
                implemented.append(hook)
            else:
                problems.append(f"{attr} implements {hook!r}, which patroni_mpp.hookspecs does not declare")
        elif attr in declared and callable(obj):
            problems.append(f"{attr} is named like a hook but is not decorated with @hookimpl")
    if problems:
        raise ContractViolation(f"hook module {module.__name__}: " + "; ".join(problems))
    return implemented


def check_engine_class(engine_class: object, name: str) -> type[AbstractMPP]:
    """Check what ``mpp_engine_class(name)`` answered: a concrete engine class with a ``group_re``.

    :param engine_class: the hook's answer.
    :param name: the section name it was asked for.
    :returns: the engine class.
    :raises ContractViolation: for anything but a concrete :class:`AbstractMPP` subclass whose
        ``group_re`` is a compiled regular expression.
    """
    if not (isinstance(engine_class, type) and issubclass(engine_class, AbstractMPP)):
        raise ContractViolation(
            f"hook mpp_engine_class(name={name!r}) returned {engine_class!r}, "
            "not a subclass of patroni_mpp.AbstractMPP"
        )
    if getattr(engine_class, "__abstractmethods__", None):
        missing = ", ".join(sorted(engine_class.__abstractmethods__))
        raise ContractViolation(
            f"engine class {engine_class.__qualname__} leaves abstract members undefined: {missing}"
        )
    if not isinstance(getattr(engine_class, "group_re", None), re.Pattern):
        raise ContractViolation(
            f"engine class {engine_class.__qualname__} does not define group_re "
            "as a compiled regular expression"
        )
    return engine_class


def check_config_model(model: object, name: str) -> type[BaseModel] | None:
    """Check what ``mpp_config_model(name)`` answered: a pydantic model class, or None.

    :param model: the hook's answer.
    :param name: the section name it was asked for.
    :returns: the model (None: the section may be any mapping).
    :raises ContractViolation: for anything else.
    """
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ContractViolation(
            f"hook mpp_config_model(name={name!r}) returned {model!r}, not a pydantic BaseModel subclass"
        )
    return model
