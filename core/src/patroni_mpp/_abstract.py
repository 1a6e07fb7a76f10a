"""Base classes of an MPP engine: the descriptor (:class:`AbstractMPP`) and the handler.

The split mirrors Patroni's: the descriptor answers identity questions that the DCS layer needs
before PostgreSQL exists (group, group regex, Kubernetes label); the handler, a subclass of the
descriptor, does the work once the host's PostgreSQL object exists. Both share the validated
configuration section.
"""

from __future__ import annotations

import abc
import builtins
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ._errors import HandlerNotFoundError

if TYPE_CHECKING:
    from ._protocols import ClusterLike, PostgresqlLike

logger = logging.getLogger(__name__)

HandlerFactory = Callable[["AbstractMPP", "PostgresqlLike"], "AbstractMPPHandler | None"]
"""Attached by discovery so that :meth:`AbstractMPP.get_handler_impl` asks the plugin first."""

GROUP_RE = re.compile(r"^(0|[1-9][0-9]*)$")
"""The usual :attr:`AbstractMPP.group_re`: a group id written in decimal without leading zeros.

It matches only strings that ``int()`` accepts, and ends with ``$`` because the host calls
``group_re.match()``, which anchors only the start.
"""


class AbstractMPP(abc.ABC):
    """Descriptor of an MPP engine, built by :func:`patroni_mpp.get_mpp` from its config section.

    :cvar group_re: compiled regex recognising group ids in DCS key paths and Kubernetes labels; it
        must only match strings that ``int()`` accepts, since every DCS loader converts matches with
        ``int()``.
    """

    group_re: ClassVar[re.Pattern[str]]

    def __init__(self, config: dict[str, Any]) -> None:
        """Store the (validated) configuration section.

        :param config: the section's value; ``{}`` for a disabled engine.
        """
        self._config = config
        self._handler_factory: HandlerFactory | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The configuration section this engine was created from."""
        return self._config

    def is_enabled(self) -> bool:
        """True when the engine has a non-empty configuration (the Null engine's is ``{}``)."""
        return bool(self._config)

    @staticmethod
    @abc.abstractmethod
    def validate_config(config: Any) -> bool:
        """Tell whether ``config`` (the raw section value, of any type) is a usable section.

        :param config: the section value as the host read it.
        :returns: True when an engine can be built from it.
        """

    @property
    @abc.abstractmethod
    def group(self) -> Any:
        """The group id of this cluster (an ``int`` for group-based engines, None for Null)."""

    @property
    @abc.abstractmethod
    def coordinator_group_id(self) -> Any:
        """Group id of the coordinator cluster."""

    @property
    def type(self) -> str:
        """Engine type name, derived from the class hierarchy.

        The first direct base class whose name does not start with ``Abstract`` gives the type (so a
        handler ``CitusHandler(Citus, AbstractMPPHandler)`` has the type ``Citus``); when every base
        is abstract, the class's own name.
        """
        for base in type(self).__bases__:
            if not base.__name__.startswith("Abstract"):
                return base.__name__
        return type(self).__name__

    @property
    def k8s_group_label(self) -> str:
        """Kubernetes label carrying the group id: the lower-cased :attr:`type` plus ``-group``."""
        return f"{self.type.lower()}-group"

    def is_coordinator(self) -> bool:
        """True when enabled and this cluster's group is the coordinator group."""
        return self.is_enabled() and self.group == self.coordinator_group_id

    def is_worker(self) -> bool:
        """True when enabled and this cluster is not the coordinator."""
        return self.is_enabled() and not self.is_coordinator()

    def attach_handler_factory(self, factory: HandlerFactory) -> None:
        """Set the plugin's handler factory; discovery calls this, engines and hosts need not.

        :param factory: callable building the handler for this engine and a host PostgreSQL object.
        """
        self._handler_factory = factory

    def _handler_classes(self) -> list[builtins.type[AbstractMPPHandler]]:
        """Handlers by convention: direct subclasses named ``<Descriptor>...`` that are handlers."""
        own = type(self)
        return [
            cls
            for cls in own.__subclasses__()
            if issubclass(cls, AbstractMPPHandler) and cls.__name__.startswith(own.__name__)
        ]

    def get_handler_impl(self, postgresql: PostgresqlLike) -> AbstractMPPHandler:
        """Build this engine's handler for the host's PostgreSQL object.

        The plugin's handler factory hook answers first; when it gives nothing, the first direct
        subclass of the descriptor class whose name starts with the descriptor's name and that is an
        :class:`AbstractMPPHandler` is instantiated with ``(postgresql, config)``.

        :param postgresql: the host's PostgreSQL object (its ``config`` attribute does not exist yet).
        :returns: the handler.
        :raises HandlerNotFoundError: when neither way yields a handler.
        """
        if self._handler_factory is not None:
            handler = self._handler_factory(self, postgresql)
            if handler is not None:
                if not isinstance(handler, AbstractMPPHandler):
                    raise HandlerNotFoundError(
                        f"handler factory of {type(self).__name__} returned "
                        f"{type(handler).__name__}, not an AbstractMPPHandler"
                    )
                return handler
        for cls in self._handler_classes():
            return cls(postgresql, self._config)
        raise HandlerNotFoundError(f"Failed to initialize {type(self).__name__}Handler object")


class AbstractMPPHandler(AbstractMPP):
    """The working half of an engine, built once per Patroni process by ``get_handler_impl``.

    A concrete handler subclasses its descriptor first, then this class (``CitusHandler(Citus,
    AbstractMPPHandler)``), so that :attr:`type` comes from the descriptor.
    """

    def __init__(self, postgresql: PostgresqlLike, config: dict[str, Any]) -> None:
        """Keep the host PostgreSQL object and the configuration section.

        :param postgresql: the host's PostgreSQL object; its ``config`` attribute is not built yet.
        :param config: the validated configuration section.
        """
        super().__init__(config)
        self._postgresql = postgresql

    @property
    def postgresql(self) -> PostgresqlLike:
        """The host PostgreSQL object this handler serves."""
        return self._postgresql

    @abc.abstractmethod
    def handle_event(self, cluster: ClusterLike, event: dict[str, Any]) -> None:
        """React to an event a worker POSTed to the coordinator's ``/mpp`` (or ``/citus``) endpoint.

        :param cluster: a fresh DCS view (with ``workers``).
        :param event: the request body as parsed from JSON.
        """

    @abc.abstractmethod
    def sync_meta_data(self, cluster: ClusterLike) -> None:
        """Reconcile the engine's metadata with the DCS view; called every HA cycle on the leader.

        :param cluster: the HA cycle's view of the cluster.
        """

    @abc.abstractmethod
    def on_demote(self) -> None:
        """Called on a coordinator right before PostgreSQL is stopped for a graceful demotion."""

    @abc.abstractmethod
    def schedule_cache_rebuild(self) -> None:
        """Forget cached metadata; called before a promotion and when maintenance mode ends."""

    @abc.abstractmethod
    def bootstrap(self) -> None:
        """Prepare a cluster freshly created by initdb; an exception aborts the initialisation."""

    @abc.abstractmethod
    def adjust_postgres_gucs(self, parameters: dict[str, Any]) -> None:
        """Change the server parameters the host is about to write, in place; must be idempotent.

        :param parameters: the (case-insensitive) GUC dict.
        """

    @abc.abstractmethod
    def ignore_replication_slot(self, slot: dict[str, Any]) -> bool:
        """Tell the host's slot manager whether to keep a replication slot it does not know.

        :param slot: the slot's attributes (``type``, ``database``, ``plugin``, and ``name`` when
            the host supplies it).
        :returns: True to keep the slot.
        """
