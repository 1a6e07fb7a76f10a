"""The conformance suite's probes of the section and its checks of the author's expected answers.

:class:`~patroni_mpp.testing.conformance.EngineConformance` inherits these tests from
:class:`ProbeTests`; subclass that class, never this one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from .._abstract import AbstractMPP, AbstractMPPHandler
from .._loaded_engine import LoadedEngine
from .._protocols import ClusterLike, PostgresqlLike
from .conformance_checks import (
    Coordinator,
    EventSample,
    Invalid,
    SlotSample,
    UnknownKeys,
    check_coordinator_mark,
    check_event_answers,
    check_fields_described,
    check_slot_answers,
    check_type_fits_section,
    check_unknown_key,
    check_validate_config_agrees,
    check_validate_config_agrees_on_probes,
)

__all__ = ["ProbeTests"]


class ProbeTests:
    """The probe and expected-answer tests of :class:`~patroni_mpp.testing.conformance.EngineConformance`.

    They probe the section with values of the kit's own and compare the handler's answers with the
    author's samples, reading the suite's class attributes and its :meth:`running_handler`.
    """

    valid_configs: ClassVar[Sequence[Any]]
    unknown_keys: ClassVar[UnknownKeys]
    slot_samples: ClassVar[Sequence[SlotSample]]
    event_samples: ClassVar[Sequence[EventSample]]

    if TYPE_CHECKING:

        def running_handler(
            self, loaded: LoadedEngine, config: Any, postgresql: PostgresqlLike
        ) -> contextlib.AbstractContextManager[tuple[AbstractMPP, AbstractMPPHandler]]:
            """See :meth:`EngineConformance.running_handler`."""

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
