"""An imported plugin whose hooks answered within the contract: it validates sections and builds engines.

The plugin's hooks run bounded (see :mod:`patroni_mpp._plugin_calls`); the descriptor's own
constructor and ``validate_config`` run on the calling thread: they are called for every
``get_mpp`` and must be cheap. Whatever a plugin's exception says is masked with the secrets of the
section before it reaches an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from ._abstract import AbstractMPP, AbstractMPPHandler
from ._contract import ContractViolation, check_config_model, check_engine_class
from ._core_version import core_version
from ._errors import EngineConfigError, EngineLoadError, EngineSource, FieldProblem, redact, secrets_in
from ._plugin_calls import call_plugin_or_fail
from ._protocols import PostgresqlLike
from ._validation_problems import problems_from_validation

logger = logging.getLogger(__name__)


class LoadedEngine:
    """An imported and contract-checked engine plugin, ready to validate sections and build engines.

    :ivar name: the section (entry point) name it serves.
    :ivar source: the distribution it comes from.
    :ivar module: the imported module of hook implementations.
    :ivar engine_class: the descriptor class answered by ``mpp_engine_class``.
    :ivar config_model: the section model answered by ``mpp_config_model`` (None: any mapping).
    """

    def __init__(
        self, name: str, source: EngineSource, module: ModuleType, manager: pluggy.PluginManager
    ) -> None:
        """Ask the plugin for its engine class and config model and check both.

        :param name: the section (entry point) name.
        :param source: the distribution declaring the entry point.
        :param module: the imported plugin module.
        :param manager: the plugin manager holding only this plugin.
        :raises EngineLoadError: when the plugin breaks the hook contract.
        """
        self.name = name
        self.source = source
        self.module = module
        self._manager = manager
        try:
            engine_class = check_engine_class(self._call_hook("mpp_engine_class", name=name), name)
            model = check_config_model(self._call_hook("mpp_config_model", name=name), name)
        except ContractViolation as exc:
            raise self._error(str(exc)) from None
        self.engine_class: type[AbstractMPP] = engine_class
        self.config_model: type[BaseModel] | None = model

    def _error(self, cause: str) -> EngineLoadError:
        return EngineLoadError(self.name, self.source, core_version(), cause)

    @property
    def hook(self) -> Any:
        """The plugin's hook relay (pluggy's ``HookRelay``, holding this plugin only)."""
        return self._manager.hook

    def _call_hook(self, hook_name: str, **kwargs: Any) -> Any:
        """Call one of this plugin's hooks, bounded; a failure becomes an ``EngineLoadError``."""
        hook = getattr(self._manager.hook, hook_name)
        key = (self.name, self.source.name, self.source.value, hook_name)
        return call_plugin_or_fail(
            key, f"hook {hook_name}", lambda: hook(**kwargs), self._error, failed=f"hook {hook_name} raised"
        )

    @property
    def section_keys(self) -> tuple[str, ...] | None:
        """The keys the section accepts, as named in the configuration; None when any key goes.

        These are also the keys that ``PATRONI_<SECTION>_<KEY>`` environment variables may set.
        """
        if self.config_model is None:
            return None
        return tuple(field.alias or key for key, field in self.config_model.model_fields.items())

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the section, from the config model (any object when there is none).

        :raises EngineLoadError: when the model cannot produce a schema.
        """
        if self.config_model is None:
            return {"title": self.name, "type": "object"}
        try:
            return self.config_model.model_json_schema()
        except Exception as exc:
            raise self._error(
                f"config model {self.config_model.__qualname__} has no JSON Schema: {exc}"
            ) from exc

    def validate(self, value: Any) -> dict[str, Any]:
        """Validate a raw section value with the engine's config model.

        :param value: the section value as read from the configuration (``None`` counts as ``{}``).
        :returns: the validated section as a plain dict.
        :raises EngineConfigError: with one problem per invalid field.
        """
        raw = {} if value is None else value
        if self.config_model is None:
            if not isinstance(raw, Mapping):
                problem = FieldProblem("", f"must be a mapping, not {type(raw).__name__}")
                raise EngineConfigError(self.name, [problem])
            return dict(raw)
        model = self.config_model
        try:
            validated = model.model_validate(raw)
        except ValidationError as exc:
            problems = problems_from_validation(exc)
            secrets = secrets_in(value)
            if secrets:  # a plugin's validator may quote the value in its message
                problems = [FieldProblem(p.location, redact(p.message, secrets)) for p in problems]
            raise EngineConfigError(self.name, problems) from None
        except RecursionError:
            problem = FieldProblem("", "is nested too deeply")
            raise EngineConfigError(self.name, [problem]) from None
        except Exception as exc:
            # A validator of the plugin's model failed in a way pydantic does not report: a bug of
            # the plugin, named as such (its text may quote the section: masked).
            cause = redact(f"{type(exc).__name__}: {exc}", secrets_in(value))
            raise self._error(f"config model {model.__qualname__} failed on the section: {cause}") from None
        try:
            dumped = validated.model_dump()
        except Exception as exc:
            cause = redact(f"{type(exc).__name__}: {exc}", secrets_in(value))
            raise self._error(f"config model {model.__qualname__} cannot dump: {cause}") from None
        if not isinstance(dumped, dict):
            raise self._error(f"config model {model.__qualname__} dumps to a non-dict")
        return dumped

    def create(self, value: Any) -> AbstractMPP:
        """Validate ``value`` and build the engine's descriptor from it.

        :param value: the raw section value.
        :returns: the descriptor, wired to this plugin's handler hook.
        :raises EngineConfigError: when the section is invalid.
        :raises EngineLoadError: when the engine class fails or rejects the validated section.
        """
        config = self.validate(value)
        cls_name = self.engine_class.__qualname__
        try:
            engine = self.engine_class(config)
            accepted = not config or self.engine_class.validate_config(config)
            # the identity the host reads right away must be computable
            engine.is_coordinator()
            engine.is_worker()
        except Exception as exc:
            cause = redact(f"{type(exc).__name__}: {exc}", secrets_in(value) | secrets_in(config))
            error = self._error(f"{cls_name} raised {cause}")
            if cause == f"{type(exc).__name__}: {exc}":
                raise error from exc
            raise error from None
        if not accepted:
            raise self._error(
                f"{cls_name}.validate_config() rejects the section that its config model accepted"
            )
        engine.attach_handler_factory(self._build_handler)
        return engine

    def _build_handler(self, engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler | None:
        """The plugin's handler: its ``mpp_handler`` hook, else the naming convention.

        Both run bounded (see :mod:`patroni_mpp._plugin_calls`); a failure becomes an
        ``EngineLoadError``. None when neither gives a handler (the caller raises
        ``HandlerNotFoundError``).
        """

        def build() -> Any:
            handler = self._manager.hook.mpp_handler(engine=engine, postgresql=postgresql)
            if handler is not None:
                return handler
            for cls in engine._handler_classes():
                return cls(postgresql, engine.config)
            return None

        key = (self.name, self.source.name, self.source.value, "mpp_handler")

        def secrets() -> set[str]:
            return secrets_in(engine.config) | _secrets_of_postgresql(postgresql)

        handler = call_plugin_or_fail(
            key, "hook mpp_handler", build, self._error, failed="building the handler raised", secrets=secrets
        )
        if handler is not None and not isinstance(handler, AbstractMPPHandler):
            raise self._error(
                f"hook mpp_handler returned {type(handler).__name__}, not an AbstractMPPHandler"
            )
        return handler


def _secrets_of_postgresql(postgresql: Any) -> set[str]:
    """Secrets reachable from a host PostgreSQL object (its connection parameters)."""
    try:
        kwargs = postgresql.connection_pool.conn_kwargs
    except Exception:
        return set()
    return secrets_in(kwargs) if isinstance(kwargs, Mapping) else set()
