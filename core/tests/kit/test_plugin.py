"""The pytest plugin and the EngineConformance class, run in inner pytest sessions (pytester)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

import pytest
from patroni_mpp.testing import postgres
from patroni_mpp.testing.host import Cluster, LocalPostgresql
from patroni_mpp.testing.postgres import PostgresServer, PostgresUnavailable

from .kit_engines import EngineInstaller, broken

pytest_plugins = ["pytester"]

CONFORMANCE_MODULE = """
import pytest

from patroni_mpp.testing.conformance import Coordinator, EngineConformance, Invalid
from patroni_mpp.testing.host import LocalPostgresql


@pytest.fixture
def mpp_postgresql():
    # the kit engines never connect: no server needed
    return LocalPostgresql("node1", "127.0.0.1", 1)


@pytest.fixture
def mpp_bootstrap_postgresql():
    return LocalPostgresql("node1", "127.0.0.1", 1)


class TestKitConformance(EngineConformance):
    engine_name = "{name}"
    distribution = "{name}-engine"
    valid_configs = (Coordinator({{"database": "app"}}), {{"database": "app", "group": 2}})
    invalid_configs = (
        {{"database": ""}},
        {{"database": "app", "group": -1}},
        Invalid({{"group": 1}}, "database"),
        "text",
    )
    slot_samples = (
        ({{"type": "logical", "plugin": "{name}"}}, True),
        ({{"type": "logical", "plugin": "pgoutput"}}, False),
    )
    event_samples = (
        ({{"type": "after_promote", "group": 5, "leader": "w", "timeout": 30, "cooldown": 10}}, None),
    )
    thread_join_timeout = {join_timeout}
{body}
"""

STOP = """
    def stop_handler(self, handler):
        handler.stop()
"""

PASSED = 52
"""Tests the suite runs for two valid and four invalid samples."""


def conformance_module(name: str, body: str = STOP, join_timeout: float = 30) -> str:
    return CONFORMANCE_MODULE.format(name=name, body=body, join_timeout=join_timeout)


def test_importing_the_plugin_is_cheap() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import pytest, patroni_mpp
        before = set(sys.modules)
        import patroni_mpp.testing.plugin
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = json.loads(result.stdout)
    assert set(added) <= {"patroni_mpp.testing", "patroni_mpp.testing.plugin"}, added


def test_good_engine_passes(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    name = engines.install()
    pytester.makepyfile(test_kit=conformance_module(name))
    result = pytester.runpytest("-m", "mpp_conformance", "--strict-markers", "-W", "error", "-v")
    result.assert_outcomes(passed=PASSED)
    result.stdout.fnmatch_lines(
        [
            "*test_valid_config_accepted?valid1? PASSED*",
            "*test_invalid_config_rejected?invalid3? PASSED*",
            "*test_no_thread_left_after_stop?valid0? PASSED*",
        ]
    )


def test_handler_thread_left_running(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    # The engine's thread waits on a module-level event, so that this test can end it afterwards.
    source = broken(
        ('NAME = "@NAME@"', 'NAME = "@NAME@"\nRELEASE = threading.Event()'),
        ("self.stopped = threading.Event()", "self.stopped = RELEASE"),
    )
    name = engines.install(source)
    module = importlib.import_module(f"{name}_engine")  # pytester forgets modules it imported
    pytester.makepyfile(test_kit=conformance_module(name, body="", join_timeout=0.01))
    try:
        result = pytester.runpytest()
    finally:
        module.RELEASE.set()
    result.assert_outcomes(passed=PASSED - 1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*threads still running after the handler was stopped: ['{name}-worker']*",
            "FAILED test_kit.py::TestKitConformance::test_no_thread_left_after_stop[[]valid0[]]*",
        ]
    )


def test_broken_engine_fails_with_reasons(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    source = broken(
        (r're.compile(r"^(0|[1-9][0-9]*)$")', r're.compile(r"^\d*$")'),
        ('return slot.get("plugin") == NAME', 'return slot["plugin"] == NAME'),
    )
    name = engines.install(source)
    pytester.makepyfile(test_kit=conformance_module(name))
    result = pytester.runpytest()
    result.assert_outcomes(passed=PASSED - 5, failed=5)
    result.stdout.fnmatch_lines_random(
        [
            "E * group_re * matches *, which int() rejects: every DCS loader*",
            "E * ignore_replication_slot({}) raised KeyError: 'plugin'*",
            "FAILED test_kit.py::TestKitConformance::test_handler_start_up[[]valid0[]]*",
            "FAILED test_kit.py::TestKitConformance::test_group_re_matches_only_integers*",
            "FAILED test_kit.py::TestKitConformance::test_ignore_replication_slot[[]valid0[]]*",
            "FAILED test_kit.py::TestKitConformance::test_ignore_replication_slot[[]valid1[]]*",
        ]
    )


def test_empty_samples_fail(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    name = engines.install()
    pytester.makepyfile(
        test_kit=f"""
        from patroni_mpp.testing.conformance import EngineConformance

        class TestKitConformance(EngineConformance):
            engine_name = "{name}"
        """
    )
    result = pytester.runpytest("-k", "samples_given")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*give at least one valid configuration sample*"])


def test_expected_bootstrap_error(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    source = broken(
        (
            "    def bootstrap(self):\n        return None",
            "    def bootstrap(self):\n        raise RuntimeError('kit extension not installed')",
        ),
    )
    name = engines.install(source)
    body = STOP + (
        "\n    @pytest.fixture\n    def expected_bootstrap_error(self):\n        return RuntimeError\n"
    )
    pytester.makepyfile(test_kit=conformance_module(name, body=body))
    result = pytester.runpytest("-k", "bootstrap")
    result.assert_outcomes(passed=2)


def test_postgres_missing_skips_or_fails(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> None:
        raise PostgresUnavailable("no PostgreSQL here")

    monkeypatch.setattr(postgres, "find_bindir", unavailable)
    pytester.makepyfile(
        test_pg="""
        def test_needs_server(postgres_server):
            raise AssertionError("not reached")

        def test_needs_host(mpp_postgresql):
            raise AssertionError("not reached")
        """
    )
    monkeypatch.delenv("PATRONI_MPP_REQUIRE_POSTGRES", raising=False)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*needs a real PostgreSQL server: no PostgreSQL here*"])
    monkeypatch.setenv("PATRONI_MPP_REQUIRE_POSTGRES", "1")
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*no PostgreSQL here (PATRONI_MPP_REQUIRE_POSTGRES=1)*"])


def test_host_fixtures(
    postgres_server: PostgresServer,
    fresh_postgres_server: PostgresServer,
    mpp_postgresql: LocalPostgresql,
    mpp_bootstrap_postgresql: LocalPostgresql,
    mpp_cluster: Cluster,
) -> None:
    assert postgres_server.running and fresh_postgres_server.running
    assert fresh_postgres_server.port != postgres_server.port
    assert mpp_postgresql.is_primary() is True
    assert mpp_postgresql.connection_string.endswith(f":{postgres_server.port}/postgres")
    assert mpp_bootstrap_postgresql.connection_string.endswith(f":{fresh_postgres_server.port}/postgres")
    assert mpp_cluster.leader is not None
    assert mpp_cluster.leader.name == mpp_postgresql.name
    assert mpp_cluster.leader.data["role"] == "primary"
    assert mpp_cluster.leader.conn_url == mpp_postgresql.connection_string
    assert mpp_cluster.workers == {}
