"""The bridge inside this process, against the installed Patroni: what it replaces and how it behaves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import patroni_mpp
import pytest
from patroni_mpp import bridge, installed_engines
from patroni_mpp.bridge._install import installed_version, uninstall
from patroni_mpp.bridge._lookup import routed_get_mpp
from patroni_mpp.bridge._patching import is_patched, original_of
from patroni_mpp.bridge._version import check_patroni_version


@pytest.fixture
def installed() -> Iterator[str]:
    version = bridge.install()
    yield version
    uninstall()


@pytest.fixture
def probe_importable(probe_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(probe_path))
    patroni_mpp.clear_caches()
    yield
    monkeypatch.undo()
    patroni_mpp.clear_caches()


def test_install_is_idempotent_and_routes_every_lookup(installed: str) -> None:
    import patroni.api
    import patroni.config
    import patroni.ctl
    import patroni.postgresql.mpp
    import patroni.postgresql.slots
    import patroni.validator

    assert bridge.install() == installed == installed_version()
    assert patroni.postgresql.mpp.get_mpp.__module__ == "patroni_mpp.bridge._lookup"
    assert patroni.postgresql.mpp.iter_mpp_classes.__module__ == "patroni_mpp.bridge._lookup"
    assert patroni.ctl.get_mpp.__module__ == "patroni_mpp.bridge._ctl"
    assert patroni.ctl.get_dcs.__module__ == "patroni_mpp.bridge._ctl"
    for patched in (
        patroni.postgresql.mpp.get_mpp,
        patroni.ctl.get_mpp,
        patroni.ctl.get_dcs,
        patroni.config.Config._build_effective_configuration,
        patroni.config.Config._build_environment_configuration,
        patroni.api.RestApiHandler.do_POST_mpp,
        patroni.api.RestApiHandler.do_POST_citus,
        patroni.api.RestApiHandler.do_GET,
        patroni.api.RestApiHandler.do_GET_metrics,
        patroni.ctl.print_output,
        patroni.ctl.click,
        patroni.ctl.ctl.commands,
        patroni.postgresql.slots.SlotsHandler.ignore_replication_slot,
        patroni.validator.schema,
    ):
        assert is_patched(patched), patched
    # A second install changed nothing: no wrapper of a wrapper.
    assert not is_patched(original_of(patroni.ctl.get_dcs))
    group_defaults = [
        p.default for c in patroni.ctl.ctl.commands.values() for p in c.params
        if p.name == "group" and callable(p.default)
    ]  # fmt: skip
    assert len(group_defaults) >= 5
    assert all(is_patched(d) for d in group_defaults)


def test_uninstall_restores_patroni(installed: str) -> None:
    import patroni.ctl
    import patroni.postgresql.mpp

    uninstall()
    assert not is_patched(patroni.postgresql.mpp.get_mpp)
    assert not is_patched(patroni.ctl.get_mpp)
    assert patroni.postgresql.mpp.get_mpp.__module__ == "patroni.postgresql.mpp"
    assert installed_version() is None
    bridge.install()


@pytest.mark.parametrize("version", ["3.3.1", "4.2.0", "4.2.0rc1", "5.0", "not-a-version"])
def test_unsupported_versions_are_refused(version: str) -> None:
    with pytest.raises(bridge.UnsupportedPatroniError) as info:
        check_patroni_version(version)
    assert f"Patroni {version} is not supported" in str(info.value)
    assert bridge.SUPPORTED_PATRONI_RANGE in str(info.value)


@pytest.mark.parametrize("version", ["4.0.0", "4.0.7", "4.1.0", "4.1.5"])
def test_supported_versions(version: str) -> None:
    assert check_patroni_version(version) == version


def test_refusal_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import patroni.postgresql.mpp

    uninstall()
    monkeypatch.setattr("patroni_mpp.bridge._version.installed_patroni_version", lambda: "3.3.1")
    with pytest.raises(bridge.UnsupportedPatroniError):
        bridge.install()
    assert not is_patched(patroni.postgresql.mpp.get_mpp)
    assert installed_version() is None


def test_get_mpp_without_section_is_null(installed: str) -> None:
    import patroni.postgresql.mpp

    engine = patroni.postgresql.mpp.get_mpp({"scope": "x", "patronictl": True})
    assert type(engine).__name__ == "Null"
    assert not engine.is_enabled()


def _write_config(tmp_path: Path, extra: dict[str, Any]) -> Path:
    config = {"scope": "s", "name": "n", "postgresql": {"data_dir": str(tmp_path / "d")}, **extra}
    path = tmp_path / "patroni.yml"
    path.write_text(json.dumps(config))
    return path


def test_config_keeps_engine_section_with_citus_treatment(
    installed: str, probe_importable: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patroni.config import Config

    monkeypatch.setenv("PATRONI_E2EPROBE_GROUP", "3")
    path = _write_config(tmp_path, {"e2eprobe": {"record_dir": "/r"}})
    config = Config(str(path), validator=None)
    assert config["e2eprobe"] == {
        "group": 3,
        "record_dir": "/r",
        "marker": "on",
        "keep_slot_prefix": "probe_",
    }
    assert config["postgresql"]["e2eprobe"]["group"] == 3
    assert config["bootstrap"]["dcs"]["synchronous_mode"] == "quorum"
    engine = routed_get_mpp(config)
    assert type(engine).__name__ == "E2eprobe"
    assert engine.group == 3 and engine.is_worker()


def test_env_group_is_parsed_as_integer(
    installed: str, probe_importable: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patroni.config import Config

    monkeypatch.setenv("PATRONI_E2EPROBE_GROUP", "12")
    monkeypatch.setenv("PATRONI_E2EPROBE_DATABASE", "db")
    env = Config._build_environment_configuration()
    assert env["e2eprobe"] == {"group": 12, "database": "db"}
    monkeypatch.setenv("PATRONI_E2EPROBE_GROUP", "twelve")
    env = Config._build_environment_configuration()
    assert "group" not in env["e2eprobe"]


def test_env_sets_every_key_of_the_engine_model(
    installed: str, probe_importable: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from patroni.config import Config

    monkeypatch.setenv("PATRONI_E2EPROBE_GROUP", "2")
    monkeypatch.setenv("PATRONI_E2EPROBE_RECORD_DIR", "/from-env")
    monkeypatch.setenv("PATRONI_E2EPROBE_KEEP_SLOT_PREFIX", "")
    monkeypatch.setenv("PATRONI_E2EPROBE_NOT_A_KEY", "ignored")
    env = Config._build_environment_configuration()
    # strings, converted by the engine's model; an empty value is set (the model judges it)
    assert env["e2eprobe"] == {"group": 2, "record_dir": "/from-env", "keep_slot_prefix": ""}
    # taken out of the environment, as Patroni does with the variables it reads
    assert "PATRONI_E2EPROBE_RECORD_DIR" not in os.environ
    assert os.environ["PATRONI_E2EPROBE_NOT_A_KEY"] == "ignored"
    # the file's value wins over nothing: the environment overrides it, as for Patroni's own keys
    monkeypatch.setenv("PATRONI_E2EPROBE_MARKER", "envmark")
    path = _write_config(tmp_path, {"e2eprobe": {"group": 1, "record_dir": "/r", "marker": "file"}})
    config = Config(str(path), validator=None)
    assert config["e2eprobe"]["marker"] == "envmark"
    assert config["e2eprobe"]["record_dir"] == "/r"


def test_env_imports_no_engine_without_its_variables(
    installed: str, probe_importable: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from patroni.config import Config
    from patroni_mpp import _discovery
    from patroni_mpp.bridge import _config

    loaded: list[str] = []
    real = _discovery.load_engine

    def recording(name: str) -> Any:
        loaded.append(name)
        return real(name)

    monkeypatch.setattr(_config, "load_engine", recording)
    for variable in [v for v in os.environ if v.startswith(("PATRONI_E2EPROBE_", "PATRONI_CITUS_"))]:
        monkeypatch.delenv(variable)
    Config._build_environment_configuration()
    assert loaded == []  # only the configured engine is ever imported: here, none
    monkeypatch.setenv("PATRONI_E2EPROBE_RECORD_DIR", "/from-env")
    assert Config._build_environment_configuration()["e2eprobe"] == {"record_dir": "/from-env"}
    assert loaded == ["e2eprobe"]


@pytest.mark.skipif("citus" not in installed_engines(), reason="the citus engine plugin is not installed")
def test_env_reaches_the_citus_keys_patroni_does_not_read(
    installed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patroni.config import Config

    monkeypatch.setenv("PATRONI_CITUS_GROUP", "1")
    monkeypatch.setenv("PATRONI_CITUS_DATABASES", "citus, app2")
    monkeypatch.setenv("PATRONI_CITUS_WATCH_PROMOTIONS", "off")
    env = Config._build_environment_configuration()
    assert env["citus"] == {"group": 1, "databases": "citus, app2", "watch_promotions": "off"}
    monkeypatch.setenv("PATRONI_CITUS_GROUP", "1")
    monkeypatch.setenv("PATRONI_CITUS_DATABASES", "citus, app2")
    monkeypatch.setenv("PATRONI_CITUS_WATCH_PROMOTIONS", "off")
    config = Config(str(_write_config(tmp_path, {})), validator=None)
    assert config["citus"] == {"group": 1, "databases": ["citus", "app2"], "watch_promotions": False}
    assert config["postgresql"]["citus"]["databases"] == ["citus", "app2"]
    engine = routed_get_mpp(config)
    assert engine.group == 1 and engine.is_worker()


def test_invalid_section_is_kept_so_that_the_engine_reports_it(
    installed: str, probe_importable: None, tmp_path: Path
) -> None:
    from patroni.config import Config

    path = _write_config(tmp_path, {"e2eprobe": {"group": "x", "record_dir": "/r"}})
    config = Config(str(path), validator=None)
    assert config["e2eprobe"] == {"group": "x", "record_dir": "/r"}
    with pytest.raises(patroni_mpp.EngineConfigError, match=r"e2eprobe\.group"):
        routed_get_mpp(config)


def test_validator_checks_engine_section_with_its_model(installed: str, probe_importable: None) -> None:
    import patroni.validator

    errors = patroni.validator.schema({"e2eprobe": {"group": -2, "record_dir": "/r"}})
    assert "e2eprobe.group: Input should be greater than or equal to 0" in errors
    errors = patroni.validator.schema({"e2eprobe": {"group": 2, "record_dir": "/r"}})
    assert not [e for e in errors if "e2eprobe" in e]


@pytest.mark.skipif("citus" not in installed_engines(), reason="the citus engine plugin is not installed")
def test_validator_leaves_citus_to_the_citus_model(installed: str) -> None:
    import patroni.validator

    errors = patroni.validator.schema({"citus": {"group": "x", "database": "citus"}})
    assert any(e.startswith("citus.group") for e in errors)


def test_slot_dict_gets_the_name_and_patroni_table_stays_unchanged(installed: str) -> None:
    from patroni.postgresql.slots import SlotsHandler

    seen: list[dict[str, Any]] = []

    def keep(slot: dict[str, Any]) -> bool:
        seen.append(slot)
        return True

    handler = SimpleNamespace(ignore_replication_slot=keep)
    slots = {"keep_me": {"type": "logical", "database": "db", "plugin": "pgoutput"}}
    host = SimpleNamespace(_replication_slots=slots, _postgresql=SimpleNamespace(mpp_handler=handler))
    cluster = SimpleNamespace(config=None)
    assert SlotsHandler.ignore_replication_slot(host, cluster, "keep_me") is True
    assert seen == [{"type": "logical", "database": "db", "plugin": "pgoutput", "name": "keep_me"}]
    assert host._replication_slots is slots
    assert "name" not in slots["keep_me"]


@pytest.mark.parametrize("endpoint", ["do_POST_mpp", "do_POST_citus"])
def test_mpp_endpoints_check_access(installed: str, endpoint: str) -> None:
    from patroni.api import RestApiHandler

    calls: list[str] = []
    allow = False

    def check_access(rh: Any, **kwargs: Any) -> bool:
        calls.append("checked")
        return allow

    def read_json_content() -> None:
        calls.append("read")

    server = SimpleNamespace(check_access=check_access)
    request = SimpleNamespace(server=server, _read_json_content=read_json_content)
    getattr(RestApiHandler, endpoint)(request)
    assert calls == ["checked"], "a refused request must not reach the handler"
    allow = True
    getattr(RestApiHandler, endpoint)(request)
    assert calls == ["checked", "checked", "read"], "checked exactly once, then handled"


def test_daemon_install_leaves_patronictl_for_later(installed: str) -> None:
    import patroni.ctl
    import patroni.postgresql.mpp

    uninstall()
    assert bridge.install(ctl=False) == installed
    assert is_patched(patroni.postgresql.mpp.get_mpp)
    assert not is_patched(patroni.ctl.get_dcs)
    bridge.install()
    assert is_patched(patroni.ctl.get_dcs)
    assert is_patched(patroni.ctl.get_mpp)


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ({"e2eprobe": {"group": 1, "record_dir": "/tmp"}}, "E2eprobe"),
        ({"citus": {"group": 0, "database": "d"}}, "Citus"),
        ({}, "Citus"),
    ],
    ids=["probe", "citus", "none"],
)
def test_ctl_names_the_configured_engine(
    installed: str, probe_importable: None, tmp_path: Path, section: dict[str, Any], name: str
) -> None:
    import importlib

    from patroni.ctl import ctl

    CliRunner = importlib.import_module("click.testing").CliRunner  # noqa: N806 - a class

    config = _write_config(tmp_path, {"etcd3": {"hosts": "127.0.0.1:9"}, **section})
    for command in ("list", "mpp-status", "failover"):
        helped = CliRunner().invoke(ctl, ["-c", str(config), command, "--help"])
        assert helped.exit_code == 0, helped.output
        assert "--group INTEGER" in helped.output and f"{name} group" in helped.output, helped.output
        if name != "Citus":
            assert "Citus" not in helped.output


def test_ctl_title_and_group_lines_name_the_engine(
    installed: str, probe_importable: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    import patroni.ctl
    from patroni_mpp.bridge._ctl_names import engine_name

    click = importlib.import_module("click")

    engine = patroni_mpp.get_mpp({"e2eprobe": {"group": 0, "record_dir": "/tmp"}})
    with click.Context(patroni.ctl.ctl, obj={"__mpp": engine}):
        assert engine_name() == "E2eprobe"
        patroni.ctl.print_output(["A"], [["x" * 40]], None, "pretty", " Citus cluster: demo ")
        patroni.ctl.click.echo("Citus group: 1")
    out = capsys.readouterr().out
    assert " E2eprobe cluster: demo " in out and "E2eprobe group: 1" in out
    assert "Citus" not in out
    assert patroni.ctl.click.Choice is click.Choice  # everything else is click's
