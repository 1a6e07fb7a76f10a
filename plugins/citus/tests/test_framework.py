"""Framework behaviours around the engine seen from the Citus plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest
from patroni_mpp import HandlerNotFoundError, get_mpp
from patroni_mpp.testing.engines import AbstractMinimalEngine
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp_citus import Citus


class Lonely(AbstractMinimalEngine):
    """A descriptor without any handler subclass."""


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


def test_the_engine_never_imports_its_test_support() -> None:
    """``patroni_mpp_citus.testing`` (emulation, test servers) is not part of the engine at run time."""
    code = (
        "import sys\n"
        "from patroni_mpp import get_mpp\n"
        "from patroni_mpp.testing.host import LocalPostgresql\n"
        "engine = get_mpp({'citus': {'group': 0, 'database': 'citus'}})\n"
        "handler = engine.get_handler_impl(LocalPostgresql('n', '127.0.0.1', 1, primary=True))\n"
        "print(sorted(m for m in sys.modules if m.startswith('patroni_mpp_citus')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = done.stdout.strip()
    assert "patroni_mpp_citus._handler" in loaded
    assert "patroni_mpp_citus.testing" not in loaded
