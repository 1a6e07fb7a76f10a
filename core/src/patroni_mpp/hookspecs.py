"""The hooks an MPP engine plugin implements: the engine author's reference.

An engine is a distribution with one module of hook implementations, named by an entry point in the
``patroni.mpp`` group. The entry point's **name is the configuration section** the engine serves
(the ``citus`` entry point serves the ``citus:`` section of ``patroni.yml``)::

    [project.entry-points."patroni.mpp"]
    myengine = "myengine_patroni.hooks"

In that module, decorate functions with :data:`hookimpl`; a minimal engine needs one hook::

    from patroni_mpp import hookimpl

    @hookimpl
    def mpp_engine_class(name):
        return MyEngine if name == "myengine" else None

Discovery imports the module only when the configuration has a section with the entry point's name
(listing commands import every plugin), after checking that the distribution's ``patroni-mpp``
requirement (declare one, such as ``patroni-mpp>=0.1,<0.2``) admits the installed core. It registers
the module in its own :class:`pluggy.PluginManager` for the project name ``patroni_mpp`` and checks
that every implemented hook is declared here with compatible argument names (an implementation may
take fewer arguments than the specification, never others). A plugin that fails any of this, or
whose hooks raise, stops the daemon with an error naming the section, the distribution and its
version, and the cause.

The factory hooks receive ``name``, the section (entry point) name, so one module may serve several
sections; a plugin must answer None for names it does not serve. :func:`mpp_handler` receives the
engine instead; answer None for engines that are not yours. Every hook is ``firstresult``: the first
non-None answer wins.

Threading: the hooks below run on the thread that performs discovery (the daemon's main thread, or
the ``patroni-mpp`` command) and must not block. Handler methods have their own threading rules,
written on :class:`patroni_mpp.AbstractMPPHandler` and in the engine author's guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._abstract import AbstractMPP, AbstractMPPHandler
    from ._protocols import PostgresqlLike

PROJECT_NAME = "patroni_mpp"
"""The pluggy project name shared by the markers."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications (used by core only)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: decorate your engine's hook functions with ``@hookimpl``."""


@hookspec(firstresult=True)
def mpp_config_model(name: str) -> type[BaseModel] | None:
    """Return the pydantic model that validates the configuration section ``name``.

    Called once per process, when the plugin is loaded (the first time its section is configured, or
    when every engine is listed), before any engine is built; ``patroni-mpp check`` and
    ``patroni-mpp schema`` use the model too. The model receives the section's raw value (after
    ``PATRONI_<SECTION>_*`` environment overrides were applied, so numbers may arrive as strings of
    digits). Its field errors are reported to the operator as ``<section>.<key>: <message>``; write
    field descriptions, they become the JSON Schema that ``patroni-mpp schema`` prints.

    The validated model's ``model_dump()`` (a plain dict) is what :func:`mpp_engine_class`'s class
    is constructed with, and what the handler receives as ``config``. A plugin that does not
    implement this hook (or answers None) accepts any mapping as its section, unchecked.

    :param name: the configuration section (entry point) name.
    :returns: a :class:`pydantic.BaseModel` subclass, or None when this plugin does not serve
        ``name``. The first non-None answer wins.
    """


@hookspec(firstresult=True)
def mpp_engine_class(name: str) -> type[AbstractMPP] | None:
    """Return the engine factory for the configuration section ``name``: the descriptor class.

    Called once per process, when the plugin is loaded. Discovery then calls the class with the
    validated section (a dict) to build the descriptor that Patroni's DCS layer uses, and
    ``iter_mpp_classes()`` yields it, as Patroni's own loader yields its classes. The class must
    subclass :class:`patroni_mpp.AbstractMPP` and define ``group_re``, ``group``,
    ``coordinator_group_id`` and the static ``validate_config``. Its constructor must be cheap and
    free of I/O: ``patronictl`` builds descriptors too.

    :param name: the configuration section (entry point) name.
    :returns: the descriptor class, or None when this plugin does not serve ``name``. The first
        non-None answer wins.
    """


@hookspec(firstresult=True)
def mpp_handler(engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
    """Build the handler that does the engine's work on this node.

    Called once per Patroni process, from the host PostgreSQL object's constructor (through
    ``engine.get_handler_impl(postgresql)``), on the main thread. At that moment
    ``postgresql.config`` does not exist yet and the server may not be running: register
    connections, do not open them. A handler that needs a background thread may start it here; it
    must be a daemon thread.

    When every plugin answers None, the engine falls back to Patroni's convention: the first direct
    subclass of the descriptor class whose name starts with the descriptor's name
    (``CitusHandler``).

    :param engine: the descriptor built for this process's configuration.
    :param postgresql: the host's PostgreSQL object (see :class:`patroni_mpp.PostgresqlLike`).
    :returns: an :class:`patroni_mpp.AbstractMPPHandler`, or None to leave it to the convention. The
        first non-None answer wins.
    """
