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
engine instead; answer None for engines that are not yours. The observation hooks,
:func:`mpp_status` and :func:`mpp_metrics`, receive the handler; they are optional, and an engine
that leaves them out still gets its name, distribution and version reported. Every hook is
``firstresult``: the first non-None answer wins.

Threading: the factory hooks run on the thread that performs discovery (the daemon's main thread, or
the ``patroni-mpp`` command) and must not block. The observation hooks run on a REST API thread of
the daemon, concurrently with everything else the handler does. Handler methods have their own
threading rules, written on :class:`patroni_mpp.AbstractMPPHandler` and in the engine author's guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from prometheus_client import Metric
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


@hookspec(firstresult=True)
def mpp_status(handler: AbstractMPPHandler) -> Mapping[str, Any] | None:
    """Describe what the engine is doing on this node, for operators: the body of ``GET /mpp``.

    Called by the bridge for every ``GET /mpp`` request to this node's REST API (and so for every
    member by ``patroni-mpp ctl mpp-status``), on a REST API thread, concurrently with the handler's
    own work and the HA loop. Answer from what the handler already holds in memory, under its own
    lock: run no SQL, touch neither the DCS nor the network, and return quickly (the call is
    bounded by ``$PATRONI_MPP_HOOK_TIMEOUT``; a call that hangs is abandoned and later calls fail at
    once).

    The answer is a JSON-able mapping: strings, numbers, booleans, None, lists and mappings with
    string keys (a ``datetime`` becomes its ISO 8601 text, anything else its ``str()``). The bridge
    puts it under the ``status`` key of the response, beside what it writes for every engine
    (``engine``, ``type``, ``distribution``, ``version``, ``group``, ``role``, ``member``), masks
    every password it knows (the section's secret-looking values, the host's connection passwords,
    passwords in URLs and ``password=`` strings), and never lets a failure of this hook fail the
    request: the response then carries ``status_error``. Still, put no secret in it.

    What to report is what an operator would otherwise read the logs for. A sharding engine such as
    Citus would say: its group and role; the tasks queued per group; the transaction in flight
    (group, age in seconds, deadline); the last reconciliation (when, outcome, statements sent); and
    the rows where its node metadata differs from the DCS view (as last seen, not queried now).

    :param handler: this node's handler (answer None when it is not your engine's).
    :returns: the status mapping, or None to report only the engine's identity. The first non-None
        answer wins.
    """


@hookspec(firstresult=True)
def mpp_metrics(handler: AbstractMPPHandler) -> Iterable[Metric] | None:
    """Give the engine's Prometheus metrics, appended by the bridge to Patroni's ``GET /metrics``.

    Called by the bridge for every ``GET /metrics`` request, on a REST API thread, under the same
    rules as :func:`mpp_status`: in-memory values only, no SQL (reading metrics adds no statement to
    any HA loop), quick, bounded by ``$PATRONI_MPP_HOOK_TIMEOUT``.

    Return metric families of ``prometheus_client`` (a dependency of core). The simple way: keep a
    ``prometheus_client.CollectorRegistry()`` of the handler's own (never the process-wide default
    registry), create its ``Counter``, ``Gauge`` and ``Histogram`` objects on it, update them where
    things happen, and answer ``registry.collect()``. Every family's name must start with
    ``patroni_mpp_`` and should go on with the section name (``patroni_mpp_citus_...``); families
    named otherwise, or named like the bridge's own, are dropped and logged. The bridge adds the
    labels ``scope`` and ``name`` (as on Patroni's own metrics) to every sample that lacks them,
    masks known passwords in help texts and label values, and renders the exposition text with
    ``prometheus_client``.

    Whatever the answer, the bridge writes ``patroni_mpp_engine_info`` (labels ``engine``,
    ``type``, ``distribution``, ``version``) and ``patroni_mpp_engine_metrics_up`` (0 when this
    hook failed, 1 otherwise). A sharding engine such as Citus would count events by type and
    outcome, transactions committed and rolled back at their deadline, reconciliation statements
    and errors; observe client pause durations in a histogram; and gauge the rows differing from
    the DCS view.

    :param handler: this node's handler (answer None when it is not your engine's).
    :returns: the metric families, or None when the engine has none. The first non-None answer wins.
    """
