"""Discovery of plugins that fail in every way (reliability: plugin failures): hangs, exits, raising
hooks, bad engine classes and claims of names that are taken."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator

import pytest
from patroni_mpp import (
    EngineConflictError,
    EngineLoadError,
    get_mpp,
    iter_engine_reports,
    load_engine,
)
from patroni_mpp._plugin_calls import DEFAULT_HOOK_TIMEOUT, HOOK_TIMEOUT_ENV, plugin_call_timeout
from patroni_mpp.testing.distributions import FakeDists
from patroni_mpp.testing.engines import engine_source
from patroni_mpp.testing.host import LocalPostgresql

VALID = {"group": 1, "database": "db"}

BROKEN_ON_IMPORT = "raise RuntimeError('plugin exploded at import')\n"


GATE = "import threading\nGATE = threading.Event()\n"
"""A module holding an event that a hanging plugin waits for; tests set it to release the thread."""

HANGING_HOOK = """
from patroni_mpp import hookimpl
from {gate} import GATE

@hookimpl
def mpp_engine_class(name):
    GATE.wait()
    return None
"""

HANGING_IMPORT = """
from {gate} import GATE

GATE.wait()
"""

EXITING_IMPORT = "import sys\nsys.exit(3)\n"


@pytest.fixture
def release_gates(fake_dists: FakeDists) -> Iterator[list[str]]:
    """Names of gate modules; every gate is opened and its hung threads joined after the test."""
    gates: list[str] = []
    yield gates
    for name in gates:
        module = importlib.import_module(name)
        module.GATE.set()
    for thread in threading.enumerate():
        if thread.name.startswith("patroni-mpp "):
            thread.join(30)
            assert not thread.is_alive(), f"{thread.name} still runs"


def _hanging(fake_dists: FakeDists, gates: list[str], source: str, dist: str) -> None:
    gate = fake_dists.module(f"{dist}_gate")
    gates.append(gate)
    fake_dists.add(
        f"{dist}-engine",
        {dist: dist},
        {f"{dist}_gate": GATE, dist: source.format(gate=gate)},
        version="0.7",
    )


@pytest.mark.parametrize(
    ("source", "what"),
    [(HANGING_HOOK, "hook mpp_engine_class"), (HANGING_IMPORT, "import of")],
    ids=["hook", "import"],
)
def test_hanging_plugin_is_abandoned_with_a_clear_error(
    fake_dists: FakeDists,
    release_gates: list[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    what: str,
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, "0.3")
    _hanging(fake_dists, release_gates, source, "hang")
    eps = fake_dists.entry_points()
    with pytest.raises(EngineLoadError) as info:
        get_mpp({"hang": {}}, entry_points=eps)
    message = str(info.value)
    assert "'hang' from hang-engine 0.7" in message
    assert what in message
    assert "did not return within 0.3 s" in message
    assert HOOK_TIMEOUT_ENV in message
    # a second attempt fails at once instead of starting another stuck thread
    with pytest.raises(EngineLoadError, match="still running since an earlier attempt"):
        get_mpp({"hang": {}}, entry_points=eps)
    stuck = [t for t in threading.enumerate() if t.name.startswith("patroni-mpp ")]
    assert len(stuck) == 1
    # an engine that is not configured stays untouched
    assert type(get_mpp({"scope": "x"}, entry_points=eps)).__name__ == "Null"


def test_hanging_plugin_is_listed_as_unusable(
    fake_dists: FakeDists, release_gates: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, "0.3")
    _hanging(fake_dists, release_gates, HANGING_HOOK, "hang")
    reports = {r.name: r for r in iter_engine_reports(fake_dists.entry_points(), quiet=True)}
    assert reports["null"].ok
    assert reports["hang"].error is not None
    assert "did not return within" in reports["hang"].error


def test_timeout_zero_calls_on_the_calling_thread(
    fake_dists: FakeDists, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, "0")
    source = engine_source("acme") + ("\nimport threading\nIMPORTED_ON = threading.current_thread().name\n")
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    module = importlib.import_module(fake_dists.module("acme"))
    assert threading.current_thread().name == module.IMPORTED_ON


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_unusable_timeout_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv(HOOK_TIMEOUT_ENV, value)
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        assert plugin_call_timeout() == DEFAULT_HOOK_TIMEOUT
    assert HOOK_TIMEOUT_ENV in caplog.text


def test_plugin_calling_sys_exit_at_import(fake_dists: FakeDists) -> None:
    fake_dists.add("exit-engine", {"bye": "bye"}, {"bye": EXITING_IMPORT}, version="0.2")
    with pytest.raises(EngineLoadError, match=r"exit-engine 0\.2.*import failed: SystemExit: 3"):
        get_mpp({"bye": {}}, entry_points=fake_dists.entry_points())


RAISING_HANDLER_HOOK = """
from patroni_mpp import hookimpl

@hookimpl
def mpp_handler(engine, postgresql):
    raise RuntimeError("handler cannot start")
"""

RAISING_CONVENTION_HANDLER = (
    "class {cls}Handler({cls}, AbstractMinimalHandler):\n"
    "    def __init__(self, postgresql, config):\n"
    "        raise OSError('no socket for the handler')\n"
)


@pytest.mark.parametrize(
    ("convention", "cause"),
    [
        (False, "RuntimeError: handler cannot start"),
        (True, "OSError: no socket for the handler"),
    ],
    ids=["hook", "convention"],
)
def test_handler_construction_failure_names_the_plugin(
    fake_dists: FakeDists, postgresql: LocalPostgresql, convention: bool, cause: str
) -> None:
    source = engine_source("acme")
    if convention:
        source = source.replace(
            "class AcmeHandler(Acme, AbstractMinimalHandler):\n",
            RAISING_CONVENTION_HANDLER.format(cls="Acme"),
        )
    else:
        source += RAISING_HANDLER_HOOK
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source}, version="4.2")
    engine = get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())
    with pytest.raises(EngineLoadError) as info:
        engine.get_handler_impl(postgresql)
    message = str(info.value)
    assert "'acme' from acme-engine 4.2" in message
    assert f"building the handler raised {cause}" in message


def test_engine_class_with_bad_group_re(fake_dists: FakeDists) -> None:
    source = engine_source("acme") + "\nAcme.group_re = '^[0-9]+$'\n"
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source})
    with pytest.raises(EngineLoadError, match="group_re as a compiled regular expression"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_engine_whose_group_raises(fake_dists: FakeDists) -> None:
    source = engine_source("acme") + "\nAcme.group = property(lambda self: {}['grp'])\n"
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source}, version="1.1")
    with pytest.raises(EngineLoadError, match=r"acme-engine 1\.1.*Acme raised KeyError"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_config_model_whose_validator_crashes(fake_dists: FakeDists) -> None:
    source = engine_source("acme").replace(
        "class EngineConfig(MinimalConfig):",
        "from pydantic import field_validator\n\nclass EngineConfig(MinimalConfig):\n"
        "    @field_validator('database')\n"
        "    @classmethod\n"
        "    def _boom(cls, value):\n"
        "        raise TypeError('validator bug')\n",
    )
    fake_dists.add("acme-engine", {"acme": "acme"}, {"acme": source}, version="1.3")
    with pytest.raises(EngineLoadError, match=r"acme-engine 1\.3.*TypeError: validator bug"):
        get_mpp({"acme": VALID}, entry_points=fake_dists.entry_points())


def test_plugin_claiming_a_patroni_section_is_ignored(
    fake_dists: FakeDists, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dists.add("greedy-engine", {"postgresql": "greedy"}, {"greedy": engine_source("postgresql")})
    eps = fake_dists.entry_points()
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        engine = get_mpp({"scope": "x", "postgresql": {"listen": "*:5432"}}, entry_points=eps)
    assert type(engine).__name__ == "Null"
    assert fake_dists.imported() == []
    assert "greedy-engine 1.0 claims 'postgresql', a Patroni configuration section" in caplog.text
    with pytest.raises(EngineLoadError, match="one of Patroni's own configuration sections"):
        load_engine("postgresql", eps)
    reports = {r.name: r for r in iter_engine_reports(eps, quiet=True)}
    assert not reports["postgresql"].ok
    assert fake_dists.imported() == []


def test_plugin_claiming_null_does_not_replace_the_fallback(
    fake_dists: FakeDists, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dists.add("impostor", {"null": "impostor"}, {"impostor": BROKEN_ON_IMPORT}, version="6.6")
    eps = fake_dists.entry_points()
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        engine = get_mpp({"scope": "x"}, entry_points=eps)
    assert type(engine).__name__ == "Null"
    assert type(engine).__module__ == "patroni_mpp_null"
    assert fake_dists.imported() == []
    assert "also claimed by impostor 6.6" in caplog.text


def test_plugin_claiming_a_taken_name_is_an_error_when_configured(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme", version="1.0")
    fake_dists.add("acme-clone", {"acme": "clone"}, {"clone": engine_source("acme")}, version="9.9")
    eps = fake_dists.entry_points()
    with pytest.raises(EngineConflictError) as info:
        get_mpp({"acme": VALID}, entry_points=eps)
    assert "acme-engine 1.0" in str(info.value)
    assert "acme-clone 9.9" in str(info.value)
    assert type(get_mpp({}, entry_points=eps)).__name__ == "Null"
    assert fake_dists.imported() == []
