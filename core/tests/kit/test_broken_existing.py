"""Broken engines for the checks the kit made before it followed Patroni's lifecycle (handler calls,
threads, hooks, distribution), where no other kit test breaks an engine for them; and one broken
engine run through a whole conformance suite, failing the tests it should and no others."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from patroni_mpp import EngineLoadError
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.host import LocalPostgresql, cluster, member

from .kit_engines import GOOD_ENGINE, VALID, EngineInstaller, broken, handler_of
from .test_plugin import PASSED, conformance_module

pytest_plugins = ["pytester"]

GUCS_END = '        parameters["shared_preload_libraries"] = ",".join(libraries)\n'
SYNC = "    def sync_meta_data(self, cluster):\n        return None\n"


@pytest.fixture
def stopped_afterwards() -> Iterator[list[object]]:
    """Handlers a test puts here are stopped at teardown, whatever happened."""
    handlers: list[object] = []
    yield handlers
    for handler in handlers:
        handler.stop()  # type: ignore[attr-defined]


# -- handler calls --------------------------------------------------------------------------


def test_gucs_returning_the_dict(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    handler = handler_of(
        engines.load(broken((GUCS_END, GUCS_END + "        return parameters\n"))), VALID[1], offline
    )
    with pytest.raises(
        AssertionError,
        match=r"adjust_postgres_gucs\(dict with .*\) returned .*; it changes the dict in place",
    ):
        checks.check_adjust_postgres_gucs(handler)


def test_bootstrap_returning_a_value(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        ("    def bootstrap(self):\n        return None", "    def bootstrap(self):\n        return 'done'")
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match=r"^bootstrap\(\) returned 'done'; it must return None$"):
        checks.check_bootstrap(handler, None)


# -- threads --------------------------------------------------------------------------------


def test_constructor_starting_a_non_daemon_thread(
    engines: EngineInstaller, offline: LocalPostgresql, stopped_afterwards: list[object]
) -> None:
    loaded = engines.load(
        broken(('name=NAME + "-worker", daemon=True', 'name=NAME + "-worker", daemon=False'))
    )
    before = set(threading.enumerate())
    stopped_afterwards.append(handler_of(loaded, VALID[0], offline))
    with pytest.raises(
        AssertionError,
        match=rf"^the handler started non-daemon threads \['{loaded.name}-worker'\]; they would",
    ):
        checks.check_threads_are_daemons(before)


def test_sync_starting_a_thread_without_daemon(
    engines: EngineInstaller, offline: LocalPostgresql, stopped_afterwards: list[object]
) -> None:
    # Started from Patroni's main thread, a thread is not a daemon unless told: the kit's call
    # thread passes that on, although it is a daemon itself.
    start = (
        "    def sync_meta_data(self, cluster):\n"
        '        threading.Thread(target=self.stopped.wait, name=NAME + "-sync").start()\n'
    )
    loaded = engines.load(broken((SYNC, start)))
    before = set(threading.enumerate())
    handler = handler_of(loaded, VALID[1], offline)
    stopped_afterwards.append(handler)
    checks.check_handler_calls(handler, cluster(member("node1", "127.0.0.1", 1, role="primary")))
    with pytest.raises(
        AssertionError, match=rf"non-daemon threads \['{loaded.name}-sync', '{loaded.name}-sync'\]"
    ):
        checks.check_threads_are_daemons(before)


# -- hooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "return Kit if name == NAME else None",
            "return KitConfig if name == NAME else None",
            r"hook mpp_engine_class\(name='kit\d+'\) returned <class '.*KitConfig'>, not a subclass of "
            r"patroni_mpp.AbstractMPP",
        ),
        (
            "    @property\n    def coordinator_group_id(self) -> int:\n        return 0\n",
            "",
            r"engine class Kit leaves abstract members undefined: coordinator_group_id",
        ),
        (
            "return KitConfig if name == NAME else None",
            "return Kit if name == NAME else None",
            r"hook mpp_config_model\(name='kit\d+'\) returned <class '.*Kit'>, not a pydantic "
            r"BaseModel subclass",
        ),
    ],
    ids=["engine-class-not-an-engine", "engine-class-abstract", "config-model-not-a-model"],
)
def test_factory_answering_the_wrong_type(engines: EngineInstaller, old: str, new: str, message: str) -> None:
    # discovery refuses these already, so the kit's loaded_engine fixture fails with the message
    with pytest.raises(EngineLoadError, match=message):
        engines.load(broken((old, new)))


# -- distribution ---------------------------------------------------------------------------


def test_entry_point_claimed_twice(engines: EngineInstaller) -> None:
    name = engines.install()
    engines.dists.add("other-engine", {name: f"{name}_engine"}, {})
    with pytest.raises(
        AssertionError,
        match=rf"several distributions declare the entry point '{name}': {name}-engine, other-engine",
    ):
        checks.installed_entry_point(name)


# -- a whole suite --------------------------------------------------------------------------


def test_suite_names_each_lifecycle_breakage(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    ctor = "        self.stopped = threading.Event()\n"
    source = broken(
        (ctor, ctor + "        self.superuser = postgresql.config.superuser\n"),
        (
            "    def handle_event(self, cluster, event):\n        return None",
            "    def handle_event(self, cluster, event):\n        return event.get('type') and None",
        ),
    )
    assert source != GOOD_ENGINE
    name = engines.install(source)
    pytester.makepyfile(test_kit=conformance_module(name))
    result = pytester.runpytest()
    result.assert_outcomes(passed=PASSED - 4, failed=4)
    result.stdout.fnmatch_lines_random(
        [
            "E * the handler constructor read postgresql.config: postgresql.config does not exist yet*",
            "E * handle_event(cluster, None) raised AttributeError: 'NoneType' object has no attribute*",
            "FAILED test_kit.py::TestKitConformance::test_handler_start_up[[]valid0[]]*",
            "FAILED test_kit.py::TestKitConformance::test_handler_start_up[[]valid1[]]*",
            "FAILED test_kit.py::TestKitConformance::test_malformed_events[[]valid0[]]*",
            "FAILED test_kit.py::TestKitConformance::test_malformed_events[[]valid1[]]*",
        ]
    )
