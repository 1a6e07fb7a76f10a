"""Plugin failures, through real packaging (issue part 4).

Every faulty engine is a real distribution: written as a project, built into a wheel by hatchling
and installed by pip into one venv beside core, null, citus and a good third-party engine. The
machinery is the toolkit's (:mod:`patroni_mpp.testing.wheelhouse`, which core's packaging test uses
too). Each scenario runs ``get_mpp`` (and the handler) in a new interpreter, which shows what
discovery imported.

For every fault: configured -> a clear error naming the section, the distribution and its version;
not configured -> no effect (the Null engine, or the configured good engine, nothing of the faulty
plugin imported).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from patroni_mpp.testing.engines import engine_source
from patroni_mpp.testing.wheelhouse import (
    COMPATIBLE,
    Venv,
    Wheelhouse,
)

ROOT = Path(__file__).resolve().parents[1]
HOOK_TIMEOUT = "2"
"""``$PATRONI_MPP_HOOK_TIMEOUT`` of the probes: how long discovery waits for a hanging plugin."""

VALID = {"group": 1, "database": "db"}

DESCRIPTOR = """
from patroni_mpp import hookimpl
from patroni_mpp.testing.engines import AbstractMinimalEngine


class Engine(AbstractMinimalEngine):
    validate_config = staticmethod(lambda config: True)
"""

SOURCES: dict[str, str] = {
    "import": "raise RuntimeError('cannot start: missing licence file')\n",
    "exit": "import sys\nsys.exit(4)\n",
    "constructor": DESCRIPTOR
    + """
    def __init__(self, config):
        super().__init__(config)
        raise ValueError("constructor refuses")


@hookimpl
def mpp_engine_class(name):
    return Engine
""",
    "hook": """
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_class(name):
    raise LookupError("hook exploded")
""",
    "model-hook": DESCRIPTOR
    + """
@hookimpl
def mpp_engine_class(name):
    return Engine

@hookimpl
def mpp_config_model(name):
    raise KeyError("model hook exploded")
""",
    "handler-hook": DESCRIPTOR
    + """
@hookimpl
def mpp_engine_class(name):
    return Engine

@hookimpl
def mpp_handler(engine, postgresql):
    raise RuntimeError("handler hook exploded")
""",
    "wrong-class": """
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_class(name):
    return "Engine"
""",
    "wrong-model": DESCRIPTOR
    + """
@hookimpl
def mpp_engine_class(name):
    return Engine

@hookimpl
def mpp_config_model(name):
    return {"group": int}
""",
    "wrong-handler": DESCRIPTOR
    + """
@hookimpl
def mpp_engine_class(name):
    return Engine

@hookimpl
def mpp_handler(engine, postgresql):
    return object()
""",
    "hang-hook": """
import threading
from patroni_mpp import hookimpl

@hookimpl
def mpp_engine_class(name):
    threading.Event().wait()
""",
    "hang-import": "import threading\nthreading.Event().wait()\n",
}
"""Module sources of the faulty engines, by fault."""


def _plugin(
    fault: str, version: str, entry_point: str | None = None, deps: str = COMPATIBLE
) -> dict[str, str]:
    module = "tp_rl_" + fault.replace("-", "_")
    return {
        "dist": f"rl-{fault}",
        "version": version,
        "entry_point": entry_point or f"rl_{fault.replace('-', '_')}",
        "module": module,
        "source": SOURCES.get(fault, engine_source(entry_point or fault)),
        "dependencies": deps,
    }


FAULTY = [
    _plugin("import", "0.1"),
    _plugin("exit", "0.2"),
    _plugin("constructor", "0.3"),
    _plugin("hook", "0.4"),
    _plugin("model-hook", "0.5"),
    _plugin("handler-hook", "0.6"),
    _plugin("wrong-class", "0.7"),
    _plugin("wrong-model", "0.8"),
    _plugin("wrong-handler", "0.9"),
    _plugin("hang-hook", "1.0"),
    _plugin("hang-import", "1.1"),
    _plugin("old-core", "1.2", "rl_old_core", '["patroni-mpp<0.1"]'),
    # names already taken: by the citus wheel, by the null wheel, by Patroni itself
    _plugin("taken-citus", "1.3", "citus"),
    _plugin("taken-null", "1.4", "null"),
    _plugin("taken-patroni", "1.5", "postgresql"),
]
GOOD = {
    "dist": "rl-good",
    "version": "2.0",
    "entry_point": "acme",
    "module": "tp_rl_good",
    "source": engine_source("acme"),
    "dependencies": COMPATIBLE,
}

PROBE_CONFIG_BASE = {"scope": "demo", "postgresql": {"listen": "127.0.0.1:5432"}}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """Core, null, citus, the good engine and every faulty engine installed by pip in one venv."""
    base = tmp_path_factory.mktemp("plugin-failures")
    packages = ("core", "plugins/null", "plugins/citus")
    wheelhouse = Wheelhouse.build(base, ROOT, [*FAULTY, GOOD], packages)
    no_deps = [p["dist"] for p in FAULTY if p["dist"] == "rl-old-core"]
    regular = [p["dist"] for p in FAULTY if p["dist"] not in no_deps]
    return wheelhouse.venv(
        base / "venv",
        ["patroni-mpp", "patroni-mpp-citus", "rl-good", *regular],
        no_deps=no_deps,
    )


def probe(venv: Venv, config: dict[str, Any]) -> dict[str, Any]:
    """``get_mpp(config)`` and its handler in a new interpreter of the venv, hooks bounded."""
    return venv.probe(config, env={"PATRONI_MPP_HOOK_TIMEOUT": HOOK_TIMEOUT})


CONFIGURED = [
    ("rl_import", "rl-import 0.1", "import failed: RuntimeError: cannot start: missing licence file"),
    ("rl_exit", "rl-exit 0.2", "import failed: SystemExit: 4"),
    ("rl_constructor", "rl-constructor 0.3", "Engine raised ValueError: constructor refuses"),
    ("rl_hook", "rl-hook 0.4", "hook mpp_engine_class raised LookupError: hook exploded"),
    ("rl_model_hook", "rl-model-hook 0.5", "hook mpp_config_model raised KeyError"),
    ("rl_handler_hook", "rl-handler-hook 0.6", "building the handler raised RuntimeError: handler hook"),
    ("rl_wrong_class", "rl-wrong-class 0.7", "returned 'Engine', not a subclass of patroni_mpp.AbstractMPP"),
    ("rl_wrong_model", "rl-wrong-model 0.8", "not a pydantic BaseModel subclass"),
    (
        "rl_wrong_handler",
        "rl-wrong-handler 0.9",
        "hook mpp_handler returned object, not an AbstractMPPHandler",
    ),
    ("rl_hang_hook", "rl-hang-hook 1.0", f"hook mpp_engine_class did not return within {HOOK_TIMEOUT} s"),
    (
        "rl_hang_import",
        "rl-hang-import 1.1",
        f"import of tp_rl_hang_import did not return within {HOOK_TIMEOUT} s",
    ),
    ("rl_old_core", "rl-old-core 1.2", "it requires patroni-mpp<0.1, but patroni-mpp 0.1"),
]


@pytest.mark.parametrize(("section", "dist", "cause"), CONFIGURED, ids=[c[0] for c in CONFIGURED])
def test_configured_faulty_engine_is_a_clear_error(venv: Any, section: str, dist: str, cause: str) -> None:
    result = probe(venv, {**PROBE_CONFIG_BASE, section: VALID})
    assert result["ok"] is False, result
    assert result["error_type"] == "EngineLoadError", result
    assert f"MPP engine '{section}' from {dist}" in result["error"]
    assert cause in result["error"], result["error"]
    if section == "rl_old_core":
        assert result["imported"] == []


def test_name_taken_from_an_installed_engine_is_a_conflict(venv: Any) -> None:
    result = probe(venv, {**PROBE_CONFIG_BASE, "citus": {"group": 0, "database": "citus"}})
    assert result["error_type"] == "EngineConflictError", result
    assert "patroni-mpp-citus 0.1.0" in result["error"]
    assert "rl-taken-citus 1.3" in result["error"]
    assert result["imported"] == []


def test_nothing_configured_no_effect(venv: Any) -> None:
    result = probe(venv, PROBE_CONFIG_BASE)
    assert result["ok"], result
    assert (result["cls"], result["module"], result["handler"]) == ("Null", "patroni_mpp_null", "NullHandler")
    assert result["imported"] == []
    # the two plugins that claim names they cannot have are named, nothing else is said
    assert len(result["warnings"]) == 2, result["warnings"]
    assert any("rl-taken-patroni 1.5 claims 'postgresql'" in w for w in result["warnings"])
    assert any("also claimed by rl-taken-null 1.4" in w for w in result["warnings"])


def test_good_engine_beside_the_faulty_ones(venv: Any) -> None:
    result = probe(venv, {"scope": "demo", "acme": {"group": 0, "database": "db"}})
    assert result["ok"], result
    assert (result["cls"], result["handler"]) == ("Acme", "AcmeHandler")
    assert result["imported"] == ["tp_rl_good"]


def test_listing_reports_every_faulty_engine_without_hanging(venv: Any) -> None:
    result = venv.run("patroni-mpp", "list", "--json", env={"PATRONI_MPP_HOOK_TIMEOUT": HOOK_TIMEOUT})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    rows = {(r["name"], r["distribution"]): r["status"] for r in json.loads(result.stdout)}
    assert rows[("acme", "rl-good")] == "ok"
    assert rows[("null", "patroni-mpp-null")] in ("ok", "error")
    for plugin in FAULTY:
        if plugin["dist"] in ("rl-taken-null",):
            continue
        key = (plugin["entry_point"], plugin["dist"])
        if plugin["dist"] in ("rl-constructor", "rl-handler-hook", "rl-wrong-handler"):
            # these fail only when an engine or a handler is built, which listing does not do
            assert rows[key] == "ok", (key, rows[key])
        else:
            assert rows[key] == "error", (key, rows)
