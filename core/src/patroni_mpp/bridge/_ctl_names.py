"""``patronictl`` names the configured engine where Patroni writes "Citus".

Patroni titles every MPP listing ``Citus cluster: <scope>``, prefixes the service lines of each group with
``Citus group: N``, prompts for ``Citus group`` and helps ``--group`` as "Citus group", whatever the engine.
The replacements put the configured engine's type there (``Citus`` for Citus, so nothing changes for it):

* ``print_output`` gets its title rewritten;
* ``patroni.ctl``'s binding of the ``click`` module becomes a proxy whose ``echo`` and ``prompt`` rewrite
  those two texts (every other attribute is click's own);
* every ``--group`` option renders its help with the engine's name.

With no engine configured, ``--group`` still selects a Citus group (as in Patroni) and keeps its help.
"""

from __future__ import annotations

import logging
from typing import Any

from ._patching import replace

logger = logging.getLogger(__name__)

HOST_NAME = "Citus"
"""The engine name Patroni writes in these places."""

_TITLE = f" {HOST_NAME} cluster: "
_GROUP_LINE = f"{HOST_NAME} group: "
_GROUP_PROMPT = f"{HOST_NAME} group"


def engine_name() -> str | None:
    """The configured engine's type (``Citus``, ``Timescaledb``, ...) in the current patronictl command.

    None outside a command, or when no MPP engine is configured.
    """
    import patroni.ctl  # its click binding: core does not depend on click itself

    context = patroni.ctl.click.get_current_context(silent=True)
    obj = getattr(context, "obj", None)
    engine = obj.get("__mpp") if isinstance(obj, dict) else None
    try:
        return str(engine.type) if engine is not None and engine.is_enabled() else None
    except Exception as exc:  # an engine that cannot say stays "Citus", as Patroni says
        logger.debug("Cannot tell the MPP engine's name: %s", type(exc).__name__)
        return None


def renamed(text: str, prefix: str) -> str:
    """``text`` with the leading ``prefix`` naming the configured engine instead of Citus."""
    name = engine_name()
    if name is None or name == HOST_NAME or not text.startswith(prefix):
        return text
    return prefix.replace(HOST_NAME, name, 1) + text[len(prefix) :]


def wrap_print_output(original: Any) -> Any:
    """Build the replacement of ``patroni.ctl.print_output``: the title names the configured engine."""

    def print_output(*args: Any, **kwargs: Any) -> Any:
        header = kwargs.get("header", args[4] if len(args) > 4 else None)
        if isinstance(header, str) and header.startswith(_TITLE):
            header = renamed(header, _TITLE)
            if "header" in kwargs or len(args) <= 4:
                kwargs["header"] = header
            else:
                args = (*args[:4], header, *args[5:])
        return original(*args, **kwargs)

    return print_output


class EngineNamedClick:
    """Stands in for the ``click`` module inside ``patroni.ctl``: two texts renamed, the rest is click's."""

    def __init__(self, click_module: Any) -> None:
        """:param click_module: the real ``click`` module."""
        self._click = click_module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._click, name)

    def echo(self, message: Any = None, *args: Any, **kwargs: Any) -> Any:
        """``click.echo``; a ``Citus group: N`` line names the configured engine."""
        if isinstance(message, str):
            message = renamed(message, _GROUP_LINE)
        return self._click.echo(message, *args, **kwargs)

    def prompt(self, text: str, *args: Any, **kwargs: Any) -> Any:
        """``click.prompt``; the ``Citus group`` prompt names the configured engine."""
        if text == _GROUP_PROMPT:
            text = renamed(text, _GROUP_PROMPT)
        return self._click.prompt(text, *args, **kwargs)


def _help_with_engine_name(param: Any) -> Any:
    def make(original: Any) -> Any:
        def get_help_record(ctx: Any) -> Any:
            saved = param.help
            if isinstance(saved, str):
                param.help = renamed(saved, _GROUP_PROMPT)
            try:
                return original(ctx)
            finally:
                param.help = saved

        return get_help_record

    return make


def rename_group_help(ctl_group: Any) -> int:
    """Make every ``--group`` option helped as "Citus group" render the configured engine's name.

    :param ctl_group: patronictl's click group.
    :returns: how many options were changed now.
    """
    changed = 0
    for command in getattr(ctl_group, "commands", {}).values():
        for param in getattr(command, "params", []):
            if getattr(param, "name", None) == "group" and getattr(param, "help", None) == _GROUP_PROMPT:
                changed += replace(param, "get_help_record", _help_with_engine_name(param))
    return changed


def _proxy(click_module: Any) -> Any:
    return EngineNamedClick(click_module)


def install_names(host_ctl: Any) -> None:
    """Apply every renaming to the ``patroni.ctl`` module (idempotent, undone by ``uninstall``)."""
    replace(host_ctl, "print_output", wrap_print_output)
    replace(host_ctl, "click", _proxy)
    rename_group_help(host_ctl.ctl)
