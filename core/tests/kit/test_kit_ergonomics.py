"""Kit ergonomics: each mistake or missing prerequisite gives one message with its fix; the run ends.

Every run here is a real pytest subprocess (a hang would fail the test at its timeout), on the
conformance module of :mod:`.test_plugin` or on a two-test suite asking for the plugin's servers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from patroni_mpp.testing.conformance import EngineConformance
from patroni_mpp.testing.plugin import NOT_LOADED
from patroni_mpp.testing.postgres import PG_BINDIR_ENV, PostgresUnavailable, find_bindir

from .kit_engines import EngineInstaller, broken
from .test_plugin import PASSED, conformance_module

pytest_plugins = ["pytester"]

TIMEOUT = 240
"""Seconds after which an inner run counts as hung (generous: the machine is small and shared)."""

SERVER_SUITE = """
def test_server(postgres_server):
    assert postgres_server.execute("SELECT 1") == [(1,)]


def test_host(mpp_postgresql):
    assert mpp_postgresql.is_primary()
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest on the pytester directory in a subprocess; fail the test when it does not end."""
    return pytester.runpytest_subprocess(*args, timeout=TIMEOUT)


def once(result: pytest.RunResult, text: str, prefix: str = "") -> None:
    """Assert that exactly one line of the run's output (stdout and stderr) starts with ``prefix`` and
    contains ``text``, not counting the echo of a message in pytest's short test summary.

    The summary repeats each error's message after its test id (``ERROR <id> - <message>``, whole
    under ``CI=true``, cut to the terminal's width elsewhere); ``prefix`` ``E`` picks an error message.
    """

    def echoed(line: str) -> bool:
        head, _, message = line.partition(" - ")
        return line.startswith(("ERROR ", "FAILED ")) and text in message and text not in head

    output = result.outlines + result.errlines
    lines = [line for line in output if line.startswith(prefix) and text in line and not echoed(line)]
    assert len(lines) == 1, (text, lines, result.outlines[-40:], result.errlines[-20:])


@pytest.fixture
def needs_postgres() -> None:
    """Skip when no PostgreSQL is installed (the servers could not start anyway)."""
    try:
        find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A 0700 directory of root's, which the ``postgres`` user cannot enter (root only)."""
    if os.geteuid() != 0:
        pytest.skip("as another user than root the servers run as ourselves")
    path = Path(tempfile.mkdtemp(prefix="kit-private-"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- the engine ----------------------------------------------------------------------------------


def test_load_failure_fails_once(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    source = broken(("import threading\n", "import threading\nimport kit_no_such_dependency\n"))
    name = engines.install(source)
    pytester.makepyfile(test_kit=conformance_module(name))
    result = run(pytester, "-rfs")
    # the samples and the packaging checks need no import; every other test needs the engine
    result.assert_outcomes(passed=3, failed=1, skipped=PASSED - 4)
    once(result, "FAILED test_kit.py::TestKitConformance::test_loads_in_fresh_interpreter")
    once(result, "   ModuleNotFoundError: No module named 'kit_no_such_dependency'", prefix="E")
    reason = (f"engine {name!r} does not load (EngineLoadError): see "
              "test_kit.py::TestKitConformance::test_loads_in_fresh_interpreter")  # fmt: skip
    skips = [line for line in result.outlines if line.startswith("SKIPPED [")]
    assert skips and all(line.endswith(reason) for line in skips), skips
    assert not [line for line in result.outlines if line.startswith("ERROR ")]


def test_non_daemon_thread_ends_the_run(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    # the coordinator's thread is not a daemon and nothing stops it (no stop_handler)
    name = engines.install(broken(("daemon=True", "daemon=False")))
    pytester.makepyfile(test_kit=conformance_module(name, body=""))
    result = run(pytester)
    result.assert_outcomes(passed=PASSED - 1, failed=1)
    once(result, "FAILED test_kit.py::TestKitConformance::test_no_thread_left_after_stop[valid0]")
    once(result, f"AssertionError: the handler started non-daemon threads ['{name}-worker']", prefix="E")
    once(result, "start them with daemon=True", prefix="E")
    once(result, "non-daemon threads running, named ['" + name + "-worker']; the interpreter would wait")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_thread_never_stopped_costs_a_short_wait(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    name = engines.install()
    default = EngineConformance.thread_join_timeout
    assert default <= 10, "a stuck thread must not cost more than a few seconds per sample"
    pytester.makepyfile(test_kit=conformance_module(name, body="", join_timeout=default))
    result = run(pytester)
    result.assert_outcomes(passed=PASSED - 1, failed=1)
    once(result, f"threads still running after the handler was stopped: ['{name}-worker']", prefix="E")
    once(result, f"(waited {default:g} s for them in all)", prefix="E")
    # daemon threads do not keep the interpreter alive: nothing to report at the end
    assert not [line for line in result.outlines if "non-daemon threads running" in line]


# -- the class -----------------------------------------------------------------------------------


def test_plugin_not_loaded(
    pytester: pytest.Pytester, engines: EngineInstaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = engines.install()
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_kit=conformance_module(name))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    once(result, NOT_LOADED)
    assert not [line for line in result.outlines if "fixture 'mpp_postgresql' not found" in line]
    result = run(pytester, "-p", "patroni_mpp.testing.plugin")  # the fix the message gives
    result.assert_outcomes(passed=PASSED)


def test_engine_name_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_kit="""
        from patroni_mpp.testing.conformance import EngineConformance

        class TestKitConformance(EngineConformance):
            valid_configs = [{"database": "app"}]
            invalid_configs = [{"database": 5}]
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    once(result, "set engine_name on TestKitConformance to the engine's entry point name")


# -- the servers ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("needs_postgres")
def test_tmpdir_the_server_user_cannot_enter(
    pytester: pytest.Pytester, private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(private_dir))
    pytester.makepyfile(test_pg=SERVER_SUITE)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    once(result, f"ERROR: patroni_mpp: the 'postgres' OS user, which runs the test servers as we are root, "
                 f"cannot enter {private_dir} (mode drwx------")  # fmt: skip
    once(result, f"run chmod o+x {private_dir}, or set TMPDIR to one it can enter (TMPDIR=/tmp)")
    monkeypatch.setenv("TMPDIR", "/tmp")  # the fix the message gives
    run(pytester).assert_outcomes(passed=2)


def test_pg_bindir_that_does_not_exist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PG_BINDIR_ENV, "/nonexistent/postgresql/bin")
    pytester.makepyfile(test_pg=SERVER_SUITE)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    once(result, f"ERROR: patroni_mpp: {PG_BINDIR_ENV}=/nonexistent/postgresql/bin does not exist: set it")


@pytest.mark.usefixtures("needs_postgres")
def test_servers_start_without_runuser(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if "sbin" not in part)
    assert shutil.which("runuser", path=path) is None
    monkeypatch.setenv("PATH", path)
    pytester.makepyfile(test_pg=SERVER_SUITE)
    run(pytester).assert_outcomes(passed=2)
