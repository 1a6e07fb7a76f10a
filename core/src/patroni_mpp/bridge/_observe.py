"""What the status and metrics endpoints share: the engine's identity, its secrets, bounded observation hooks.

The REST API thread that answers ``GET /mpp`` or ``GET /metrics`` finds the plugin of the configured
section (the one discovery loaded when the daemon started: a cached lookup, no import), asks it through one
of the observation hooks, and masks every secret it can know of before anything leaves the process.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core_version import core_version
from .._discovery import load_engine
from .._errors import redact, secrets_in
from .._loaded_engine import LoadedEngine
from .._plugin_calls import PluginCallTimeout, call_plugin
from .._sections import NULL_ENGINE
from ._lookup import engine_section

if TYPE_CHECKING:
    from .._abstract import AbstractMPPHandler

logger = logging.getLogger(__name__)


class ObservationError(Exception):
    """An observation hook failed or timed out; the text is masked and safe to show."""


@dataclass(frozen=True)
class Observed:
    """One node's engine as the observation endpoints see it.

    :ivar plugin: the loaded plugin serving the configured section (``null`` when there is none).
    :ivar handler: this node's handler.
    :ivar scope: the cluster name, when known.
    :ivar member: this member's name, when known.
    :ivar secrets: values to mask in everything shown.
    """

    plugin: LoadedEngine
    handler: AbstractMPPHandler
    scope: str | None = None
    member: str | None = None
    secrets: frozenset[str] = frozenset()

    def mask(self, text: str) -> str:
        """``text`` with every known secret, URL password and ``password=`` value masked."""
        return redact(text, self.secrets)

    def identity(self) -> dict[str, Any]:
        """What is reported for every engine: section, type, distribution and version, group and role."""
        handler = self.handler
        return {
            "engine": self.plugin.name,
            "type": _safe(lambda: handler.type),
            "distribution": self.plugin.source.name,
            "version": self.plugin.source.version,
            "core_version": core_version(),
            "group": _safe(lambda: handler.group),
            "role": _safe(lambda: role_of(handler)),
        }

    def call(self, hook_name: str) -> Any:
        """Call the plugin's observation hook ``hook_name`` with the handler, bounded.

        :returns: the hook's answer (None when the plugin does not implement it).
        :raises ObservationError: when the hook raised or did not return in time (masked text).
        """
        hook = getattr(self.plugin.hook, hook_name)
        if not hook.get_hookimpls():
            return None
        key = (self.plugin.name, self.plugin.source.name, self.plugin.source.value, hook_name)
        try:
            return call_plugin(key, f"hook {hook_name}", lambda: hook(handler=self.handler))
        except PluginCallTimeout as exc:
            raise ObservationError(self.mask(str(exc))) from None
        except BaseException as exc:  # a plugin's SystemExit must not end a REST API thread either
            if isinstance(exc, KeyboardInterrupt):
                raise
            if logger.isEnabledFor(logging.DEBUG):  # the traceback masked: a plugin's text may quote secrets
                trace = self.mask("".join(traceback.format_exception(exc)))
                logger.debug("Hook %s of MPP engine %r raised:\n%s", hook_name, self.plugin.name, trace)
            raise ObservationError(
                self.mask(f"hook {hook_name} raised {type(exc).__name__}: {exc}")
            ) from None


def _safe(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:
        logger.debug("Reading an engine attribute failed: %s", type(exc).__name__)
        return None


def role_of(handler: AbstractMPPHandler) -> str:
    """The engine role of this node's group: ``coordinator``, ``worker`` or ``disabled``."""
    if not handler.is_enabled():
        return "disabled"
    return "coordinator" if handler.is_coordinator() else "worker"


def handler_secrets(handler: AbstractMPPHandler) -> set[str]:
    """Secrets reachable from a handler: its section's and the host's connection parameters'."""
    found = secrets_in(_safe(lambda: handler.config))
    found |= secrets_in(_safe(lambda: handler.postgresql.connection_pool.conn_kwargs))
    return found


def observe(patroni: Any) -> Observed:
    """The engine of a running Patroni daemon, for its REST API.

    :param patroni: Patroni's daemon object (``RestApiServer.patroni``): its ``config`` names the section,
        ``postgresql.mpp_handler`` is the handler.
    :raises MPPError: when the configured plugin cannot be found (it was loaded at start: not expected).
    """
    config = patroni.config
    section = engine_section(config) or NULL_ENGINE
    postgresql = patroni.postgresql
    handler = postgresql.mpp_handler
    secrets = handler_secrets(handler) | _config_secrets(config)
    return Observed(
        plugin=load_engine(section),
        handler=handler,
        scope=_safe(lambda: postgresql.scope),
        member=_safe(lambda: postgresql.name),
        secrets=frozenset(secrets),
    )


def _config_secrets(config: Any) -> set[str]:
    """Secrets of Patroni's whole configuration (REST, DCS and PostgreSQL passwords among them)."""
    try:
        return secrets_in(config.copy())
    except Exception:
        return set()
