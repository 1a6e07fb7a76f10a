"""Framework behaviours around the engine (citus-engine.md 17.3), seen from the Citus plugin."""

from __future__ import annotations

from typing import Any

import pytest
from patroni_mpp import AbstractMPP, HandlerNotFoundError, get_mpp
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp_citus import Citus


class Lonely(AbstractMPP):
    """A descriptor without any handler subclass."""

    group_re = Citus.group_re

    @staticmethod
    def validate_config(config: Any) -> bool:
        return True

    @property
    def group(self) -> int:
        return 1

    @property
    def coordinator_group_id(self) -> int:
        return 0


def test_missing_handler_is_an_error() -> None:
    with pytest.raises(HandlerNotFoundError, match="Failed to initialize LonelyHandler object"):
        Lonely({"group": 1}).get_handler_impl(LocalPostgresql("n", "127.0.0.1", 5432))


def test_no_section_gives_the_null_engine() -> None:
    engine = get_mpp({"scope": "demo"})
    assert not isinstance(engine, Citus)
    assert engine.group is None
    handler = engine.get_handler_impl(LocalPostgresql("n", "127.0.0.1", 5432))
    assert handler.ignore_replication_slot({}) is False
    assert handler.adjust_postgres_gucs({}) is None
