"""The conformance checks of handler methods and threads catch the defects they are meant for; the
sample mappings behave."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from patroni_mpp import AbstractMPPHandler, LoadedEngine
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.host import LocalPostgresql, cluster, member

from .kit_engines import VALID, EngineInstaller, broken, handler_of

# -- handler methods ------------------------------------------------------------------------


def test_method_returning_a_value(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "    def on_demote(self):\n        return None",
            "    def on_demote(self):\n        return True",
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    view = cluster(member("node1", "127.0.0.1", 1, role="primary"))
    with pytest.raises(AssertionError, match=r"on_demote\(\) returned True"):
        checks.check_handler_calls(handler, view)


def test_gucs_not_idempotent(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "        if NAME not in libraries:\n            libraries.append(NAME)",
            "        libraries.append(NAME)",
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="not idempotent"):
        checks.check_adjust_postgres_gucs(handler)


def test_gucs_dropping_libraries(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            'parameters["shared_preload_libraries"] = ",".join(libraries)',
            'parameters["shared_preload_libraries"] = NAME',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match=r"dropped \['pg_stat_statements'\]"):
        checks.check_adjust_postgres_gucs(handler)


def test_gucs_case_sensitive_lookup(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    # An engine that walks the keys itself misses the host's mixed-case spelling.
    source = broken(
        (
            'value = parameters.get("shared_preload_libraries") or ""',
            'value = dict(parameters).get("shared_preload_libraries") or ""',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="mixed-case keys"):
        checks.check_adjust_postgres_gucs(handler)


def test_gucs_with_non_guc_value(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            'parameters["shared_preload_libraries"] = ",".join(libraries)',
            'parameters["shared_preload_libraries"] = libraries',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="not a GUC value"):
        checks.check_adjust_postgres_gucs(handler)


def test_slot_with_missing_keys(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            'return slot.get("plugin") == NAME',
            'return slot["type"] == "logical" and slot["name"].startswith(NAME)',
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match=r"ignore_replication_slot\(\{\}\) raised KeyError"):
        checks.check_ignore_replication_slot(handler, ["app"])


def test_slot_answer_not_bool(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(('return slot.get("plugin") == NAME', "return slot.get('plugin')"))
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="not a bool"):
        checks.check_ignore_replication_slot(handler, ["app"])


def test_bootstrap_expectations(worker_handler: AbstractMPPHandler) -> None:
    with pytest.raises(AssertionError, match="was expected to raise"):
        checks.check_bootstrap(worker_handler, RuntimeError)


def test_bootstrap_error_without_message(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "    def bootstrap(self):\n        return None",
            "    def bootstrap(self):\n        raise RuntimeError()",
        )
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match="without a message"):
        checks.check_bootstrap(handler, RuntimeError)
    with pytest.raises(RuntimeError):
        checks.check_bootstrap(handler, None)


# -- threads --------------------------------------------------------------------------------


@pytest.fixture
def parked() -> Iterator[threading.Event]:
    """An event that releases the threads a test parks on it, set at teardown whatever happened."""
    event = threading.Event()
    yield event
    event.set()


def test_thread_left_running(good: LoadedEngine, offline: LocalPostgresql) -> None:
    before = set(threading.enumerate())
    handler = handler_of(good, VALID[0], offline)
    try:
        with pytest.raises(AssertionError, match=r"threads still running .*-worker"):
            checks.check_no_thread_left(before, 0.01)
    finally:
        handler.stop()
    checks.check_no_thread_left(before, 30)


def test_non_daemon_thread(parked: threading.Event) -> None:
    before = set(threading.enumerate())
    thread = threading.Thread(target=parked.wait, name="kit-blocking", daemon=False)
    thread.start()
    with pytest.raises(AssertionError, match="non-daemon threads \\['kit-blocking'\\]"):
        checks.check_threads_are_daemons(before)
    parked.set()
    thread.join()


def test_case_insensitive_parameters() -> None:
    params = checks.CaseInsensitiveParameters({"Max_Connections": 100})
    assert params["max_connections"] == 100
    params["MAX_CONNECTIONS"] = 200
    assert list(params) == ["MAX_CONNECTIONS"]
    assert len(params) == 1
    copy = params.copy()
    del params["max_connections"]
    assert "max_connections" not in params
    assert copy.lowered() == {"max_connections": 200}
    assert "200" in repr(copy)


def test_preload_entries() -> None:
    assert checks.preload_entries(None) == []
    assert checks.preload_entries(' a, "b" ,,c ') == ["a", "b", "c"]
