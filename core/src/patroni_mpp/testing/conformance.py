"""The engine conformance suite: the contract checks patroni-mpp holds every engine to, ours first.

Subclass :class:`EngineConformance` in a test module, name the engine and give configuration
samples; pytest collects the inherited ``test_*`` methods::

    from patroni_mpp.testing.conformance import EngineConformance, Invalid


    class TestMyEngineConformance(EngineConformance):
        engine_name = "myengine"
        distribution = "patroni-mpp-myengine"
        valid_configs = [{"database": "app"}, {"database": "app", "group": 2}]
        invalid_configs = [{"group": -1, "database": "app"}, Invalid({"database": 5}, "database")]

Handler checks run against the fixtures of the ``patroni_mpp`` pytest plugin (``mpp_postgresql``,
``mpp_bootstrap_postgresql``, ``mpp_cluster``; see :mod:`patroni_mpp.testing.plugin`), which
default to real temporary PostgreSQL servers; override them to hand the engine a server prepared
for it. Override :meth:`EngineConformance.stop_handler` when the handler starts threads, and the
``expected_bootstrap_error`` fixture when ``bootstrap()`` must fail on the suite's server.

Mark the coordinator's valid sample ``Coordinator({...})``, and give ``slot_samples`` and
``event_samples`` with the answers the handler must give; the kit checks them too.

Prerequisites, each reported once with its fix: the collection of the class stops when the plugin is
not loaded (``-p patroni_mpp.testing.plugin`` when ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` is set) or
``engine_name`` is not set. When the engine does not load, ``test_loads_in_fresh_interpreter`` fails
with the cause (or, when it did not run first, the first test needing the engine) and the tests that
need the engine skip, pointing at it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from .._abstract import AbstractMPP, AbstractMPPHandler
from .._loaded_engine import LoadedEngine
from .._protocols import ClusterLike, PostgresqlLike
from .conformance_checks import (
    GROUP_STRINGS,
    Coordinator,
    EventSample,
    ExpectedError,
    Invalid,
    SlotSample,
    UnknownKeys,
    check_adjust_postgres_gucs,
    check_bootstrap,
    check_coordinator_mark,
    check_event_answers,
    check_fields_described,
    check_group_re,
    check_handler_calls,
    check_handler_identity,
    check_identity,
    check_ignore_replication_slot,
    check_invalid_config,
    check_json_schema,
    check_malformed_events,
    check_no_thread_left,
    check_slot_answers,
    check_start_up,
    check_threads_are_daemons,
    check_type_fits_section,
    check_unknown_key,
    check_valid_config,
    check_validate_config_agrees,
    check_validate_config_agrees_on_probes,
    check_validate_config_total,
    slot_databases,
)
from .conformance_checks.time_limits import DEFAULT_CALL_TIME_LIMIT, DEFAULT_IMPORT_TIME_LIMIT
from .conformance_loading import LoadingTests
from .observation_checks import check_observation

__all__ = ["Coordinator", "EngineConformance", "Invalid"]


class EngineConformance(LoadingTests):
    """Base class of an engine's conformance tests; subclass it as ``Test...`` in a test module.

    Configure it with class attributes; override the methods and fixtures below as the engine needs.

    :cvar engine_name: the engine's entry point (= configuration section) name. Required.
    :cvar valid_configs: raw section values the engine must accept; include a coordinator and a
        worker section when the engine has groups. At least one is required.
    :cvar invalid_configs: raw section values it must reject, each with at least one error naming a key; wrap
        one in :class:`Invalid` to require a particular location. At least one is required.
    :cvar distribution: the distribution expected to declare the entry point (None: not checked).
    :cvar group_strings: the strings ``group_re`` is tried against (see
        :data:`~patroni_mpp.testing.conformance_checks.GROUP_STRINGS`).
    :cvar thread_join_timeout: seconds to wait, in all, for the handler's threads to end after
        :meth:`stop_handler` (a guard against a hang, not a measured limit).
    :cvar unknown_keys: ``"reject"`` (the default): a valid sample plus an unknown key must be
        rejected, naming that key; ``"ignore"``: the key may be accepted but must be dropped.
    :cvar slot_samples: ``(slot dict, expected bool)`` pairs: what ``ignore_replication_slot``
        must answer, for the handler of every valid sample.
    :cvar event_samples: ``(event, None or exception class)`` pairs: ``handle_event`` must return
        None or raise that exception, for the handler of every valid sample.
    :cvar call_time_limit: seconds one call of ``sync_meta_data``, ``adjust_postgres_gucs``,
        ``ignore_replication_slot`` or ``handle_event`` (a malformed event) may take; Patroni's
        loops wait for them.
    :cvar import_time_limit: seconds loading the engine in a new interpreter may take.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.mpp_conformance]

    engine_name: ClassVar[str] = ""
    valid_configs: ClassVar[Sequence[Any]] = ()
    invalid_configs: ClassVar[Sequence[Any]] = ()
    distribution: ClassVar[str | None] = None
    group_strings: ClassVar[Sequence[str]] = GROUP_STRINGS
    thread_join_timeout: ClassVar[float] = 5.0
    unknown_keys: ClassVar[UnknownKeys] = "reject"
    slot_samples: ClassVar[Sequence[SlotSample]] = ()
    event_samples: ClassVar[Sequence[EventSample]] = ()
    call_time_limit: ClassVar[float] = DEFAULT_CALL_TIME_LIMIT
    import_time_limit: ClassVar[float] = DEFAULT_IMPORT_TIME_LIMIT

    # -- collection -------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize ``valid_config`` and ``invalid_config`` with the class's samples.

        pytest calls this hook of a test class for each of its test functions.

        :param metafunc: the test function being collected.
        """
        _check_prerequisites(self, metafunc.config)
        if "valid_config" in metafunc.fixturenames:
            samples = list(self.valid_configs)
            ids = [f"valid{i}" for i in range(len(samples))]
            metafunc.parametrize("valid_config", samples, ids=ids)
        if "invalid_config" in metafunc.fixturenames:
            samples = list(self.invalid_configs)
            ids = [f"invalid{i}" for i in range(len(samples))]
            metafunc.parametrize("invalid_config", samples, ids=ids)

    # -- what engines override ---------------------------------------------------------------

    def make_handler(self, engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler:
        """Build the handler as the host does (override to wrap or prepare it).

        :param engine: the descriptor, built through discovery.
        :param postgresql: the host PostgreSQL object.
        :returns: the handler.
        """
        return engine.get_handler_impl(postgresql)

    def stop_handler(self, handler: AbstractMPPHandler) -> None:
        """Stop whatever the handler started (threads, connections); the default does nothing.

        Called once for every handler the suite builds, also when a check failed.

        :param handler: a handler built by :meth:`make_handler`.
        """

    @pytest.fixture
    def expected_bootstrap_error(self) -> ExpectedError | None:
        """The error ``bootstrap()`` must raise on the ``mpp_bootstrap_postgresql`` server.

        None (the default) expects success. Override this fixture for an engine that needs
        something the test server lacks, such as an extension; ``bootstrap()`` must then fail with
        this error and a message.
        """
        return None

    # -- helpers -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def running_handler(
        self, loaded: LoadedEngine, config: Any, postgresql: PostgresqlLike
    ) -> Iterator[tuple[AbstractMPP, AbstractMPPHandler]]:
        """Build the descriptor and its handler for ``config``; stop the handler on leaving.

        :param loaded: the engine as discovery loaded it.
        :param config: a valid raw section value.
        :param postgresql: the host PostgreSQL object.
        :returns: a context yielding ``(descriptor, handler)``.
        """
        engine = loaded.create(config)
        handler = self.make_handler(engine, postgresql)
        try:
            yield engine, check_handler_identity(engine, handler, postgresql)
        finally:
            self.stop_handler(handler)

    # -- configuration -----------------------------------------------------------------------

    def test_valid_config_accepted(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """The config model accepts the sample (also with numbers as strings); an engine builds."""
        check_valid_config(loaded_engine, valid_config)

    def test_invalid_config_rejected(self, loaded_engine: LoadedEngine, invalid_config: Any) -> None:
        """The config model rejects the sample with field-level messages."""
        check_invalid_config(loaded_engine, invalid_config)

    def test_config_schema(self, loaded_engine: LoadedEngine) -> None:
        """The config model yields a JSON Schema (``patroni-mpp schema``)."""
        check_json_schema(loaded_engine)

    def test_validate_config_answers_any_value(self, loaded_engine: LoadedEngine) -> None:
        """``validate_config`` answers True or False for raw values of any type, never raises."""
        check_validate_config_total(loaded_engine.engine_class)

    # -- identity ----------------------------------------------------------------------------

    def test_identity(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """type, k8s_group_label, group ids and is_coordinator/is_worker are consistent."""
        check_identity(check_valid_config(loaded_engine, valid_config))

    def test_group_re_matches_only_integers(self, loaded_engine: LoadedEngine) -> None:
        """``group_re`` matches only strings ``int()`` accepts, over a matrix of group strings."""
        engines = [loaded_engine.create(config) for config in self.valid_configs]
        if not any(engine.is_enabled() for engine in engines):
            pytest.skip("no valid sample enables the engine, so the DCS never uses its group_re")
        check_group_re(loaded_engine.engine_class.group_re, self.group_strings)

    # -- the handler -------------------------------------------------------------------------

    def test_handler_identity(
        self, loaded_engine: LoadedEngine, valid_config: Any, mpp_postgresql: PostgresqlLike
    ) -> None:
        """The handler is an AbstractMPPHandler sharing its descriptor's identity and config."""
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql):
            pass

    def test_handler_methods(
        self,
        loaded_engine: LoadedEngine,
        valid_config: Any,
        mpp_postgresql: PostgresqlLike,
        mpp_cluster: ClusterLike,
    ) -> None:
        """sync_meta_data, handle_event, schedule_cache_rebuild, on_demote run and return None."""
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_handler_calls(handler, mpp_cluster, time_limit=self.call_time_limit)

    def test_handler_start_up(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """Built as Patroni builds it (no postgresql.config, conn_kwargs {}, no server), it does no I/O.

        The constructor, the first adjust_postgres_gucs and then every adjust_postgres_gucs and
        ignore_replication_slot run against an address nothing listens on; none sends a statement.
        """
        check_start_up(
            loaded_engine.create(valid_config), self.make_handler, self.stop_handler, self.call_time_limit
        )

    def test_malformed_events(
        self,
        loaded_engine: LoadedEngine,
        valid_config: Any,
        mpp_postgresql: PostgresqlLike,
        mpp_cluster: ClusterLike,
    ) -> None:
        """handle_event rejects malformed bodies with ValueError (or ignores them), never crashes."""
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_malformed_events(handler, mpp_cluster, self.call_time_limit)

    def test_adjust_postgres_gucs(
        self, loaded_engine: LoadedEngine, valid_config: Any, mpp_postgresql: PostgresqlLike
    ) -> None:
        """adjust_postgres_gucs is idempotent and never drops other shared_preload_libraries."""
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_adjust_postgres_gucs(handler, time_limit=self.call_time_limit)

    def test_ignore_replication_slot(
        self, loaded_engine: LoadedEngine, valid_config: Any, mpp_postgresql: PostgresqlLike
    ) -> None:
        """ignore_replication_slot returns a bool for any slot dict, missing keys included."""
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (engine, handler):
            databases = slot_databases(engine, mpp_postgresql.database)
            check_ignore_replication_slot(handler, databases, time_limit=self.call_time_limit)

    def test_bootstrap(
        self,
        loaded_engine: LoadedEngine,
        valid_config: Any,
        mpp_bootstrap_postgresql: PostgresqlLike,
        expected_bootstrap_error: ExpectedError | None,
    ) -> None:
        """bootstrap() prepares a freshly initialised server (or fails as the class expects)."""
        handler_cm = self.running_handler(loaded_engine, valid_config, mpp_bootstrap_postgresql)
        with handler_cm as (_, handler):
            check_bootstrap(handler, expected_bootstrap_error)

    def test_status_and_metrics(
        self, loaded_engine: LoadedEngine, valid_config: Any, mpp_postgresql: PostgresqlLike
    ) -> None:
        """mpp_status gives JSON values and mpp_metrics valid patroni_mpp_ families (when implemented)."""
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_observation(loaded_engine, handler)

    def test_no_thread_left_after_stop(
        self,
        loaded_engine: LoadedEngine,
        valid_config: Any,
        mpp_postgresql: PostgresqlLike,
        mpp_cluster: ClusterLike,
    ) -> None:
        """Threads the handler starts are daemons and all end once stop_handler() ran."""
        before = set(threading.enumerate())
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_handler_calls(handler, mpp_cluster, time_limit=self.call_time_limit)
            check_threads_are_daemons(before)
        check_no_thread_left(before, self.thread_join_timeout)

    # -- probes and the author's expected answers ---------------------------------------------

    def test_unknown_key_rejected(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """The sample plus a key no engine knows is rejected naming it (or dropped: unknown_keys)."""
        check_unknown_key(loaded_engine, valid_config, self.unknown_keys)

    def test_validate_config_agrees_on_invalid(
        self, loaded_engine: LoadedEngine, invalid_config: Any
    ) -> None:
        """``validate_config`` answers False for the invalid sample, as the config model rejects it."""
        value = invalid_config.value if isinstance(invalid_config, Invalid) else invalid_config
        accepted = check_validate_config_agrees(loaded_engine, value)
        assert not accepted, f"the config model accepts the invalid sample {value!r}"

    def test_validate_config_agrees_on_probes(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """``validate_config`` answers as the model decides for the sample and variants of it."""
        check_validate_config_agrees(loaded_engine, valid_config)
        check_validate_config_agrees_on_probes(loaded_engine, valid_config)

    def test_config_fields_described(self, loaded_engine: LoadedEngine) -> None:
        """Every key of the section's JSON Schema has a description (``patroni-mpp schema``)."""
        check_fields_described(loaded_engine)

    def test_type_fits_section(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """``type`` is Citus only for the citus section; ``k8s_group_label`` follows ``type``."""
        check_type_fits_section(loaded_engine.create(valid_config), loaded_engine.name)

    def test_coordinator_sample(self, loaded_engine: LoadedEngine, valid_config: Any) -> None:
        """The sample marked ``Coordinator(...)`` is the coordinator, and only that one."""
        if not any(isinstance(sample, Coordinator) for sample in self.valid_configs):
            pytest.skip("no valid sample is marked Coordinator({...}): mark the coordinator's to check it")
        marked = isinstance(valid_config, Coordinator)
        check_coordinator_mark(loaded_engine.create(valid_config), marked)

    def test_slot_samples_answered(
        self, loaded_engine: LoadedEngine, valid_config: Any, mpp_postgresql: PostgresqlLike
    ) -> None:
        """``ignore_replication_slot`` gives the answers ``slot_samples`` expect."""
        if not self.slot_samples:
            pytest.skip("no slot_samples = [(slot dict, expected bool), ...] given")
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_slot_answers(handler, self.slot_samples)

    def test_event_samples_answered(
        self,
        loaded_engine: LoadedEngine,
        valid_config: Any,
        mpp_postgresql: PostgresqlLike,
        mpp_cluster: ClusterLike,
    ) -> None:
        """``handle_event`` returns None or raises as ``event_samples`` expect."""
        if not self.event_samples:
            pytest.skip("no event_samples = [(event, None or exception class), ...] given")
        with self.running_handler(loaded_engine, valid_config, mpp_postgresql) as (_, handler):
            check_event_answers(handler, mpp_cluster, self.event_samples)


def _check_prerequisites(suite: EngineConformance, config: pytest.Config) -> None:
    """Stop the collection of ``suite``'s class, once, with the fix for the first prerequisite it lacks."""
    from .plugin import check_loaded

    if not suite.engine_name:
        pytest.fail(f"set engine_name on {type(suite).__name__} to the engine's entry point name (its "
                    "configuration section)", pytrace=False)  # fmt: skip
    check_loaded(config)
