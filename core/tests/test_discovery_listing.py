"""Discovery: configuration containers, listing engines, caching and the ``null`` fallback, in process,
with fake distributions."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import patroni_mpp
import pytest
from patroni_mpp import (
    EngineConfigError,
    EngineLoadError,
    EngineNotInstalledError,
    get_mpp,
    iter_engine_reports,
    iter_mpp_classes,
    load_engine,
)
from patroni_mpp.testing.distributions import FakeDists

VALID = {"group": 1, "database": "db"}

BROKEN_ON_IMPORT = "raise RuntimeError('plugin exploded at import')\n"


class ReadOnlyMapping(Mapping[str, Any]):
    """A Mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class HostConfig:
    """Shaped like Patroni's Config: ``in``, ``[...]`` and ``copy()``, but no Mapping."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def copy(self) -> dict[str, Any]:
        return dict(self._data)


@pytest.mark.parametrize("wrap", [dict, ReadOnlyMapping, HostConfig])
def test_config_containers(fake_dists: FakeDists, wrap: Any) -> None:
    fake_dists.engine("acme")
    engine = get_mpp(wrap({"scope": "s", "acme": VALID}), entry_points=fake_dists.entry_points())
    assert engine.group == 1


def test_config_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="must be a mapping"):
        get_mpp(["acme"])


def test_iter_mpp_classes_with_config(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    eps = fake_dists.entry_points()
    found = [(name, cls.__name__) for name, cls in iter_mpp_classes({"acme": VALID}, entry_points=eps)]
    assert found == [("acme", "Acme")]
    assert list(iter_mpp_classes({"scope": "x"}, entry_points=eps)) == []
    with pytest.raises(EngineLoadError):
        list(iter_mpp_classes({"broken": {}}, entry_points=eps))


def test_iter_mpp_classes_without_config_lists_all_usable(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    found = [name for name, _ in iter_mpp_classes(entry_points=fake_dists.entry_points())]
    assert found == ["acme", "null"]


def test_engine_reports(fake_dists: FakeDists, caplog: pytest.LogCaptureFixture) -> None:
    fake_dists.engine("acme")
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        reports = {r.name: r for r in iter_engine_reports(fake_dists.entry_points())}
    assert sorted(reports) == ["acme", "broken", "null"]
    assert reports["acme"].ok and reports["acme"].engine is not None
    assert not reports["broken"].ok
    assert reports["broken"].error is not None
    assert "plugin exploded at import" in reports["broken"].error
    assert "\n" not in reports["broken"].error
    assert [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]


def test_engine_reports_quiet(fake_dists: FakeDists, caplog: pytest.LogCaptureFixture) -> None:
    fake_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN_ON_IMPORT})
    with caplog.at_level(logging.WARNING, logger="patroni_mpp"):
        list(iter_engine_reports(fake_dists.entry_points(), quiet=True))
    assert caplog.records == []


def test_plugin_is_imported_once(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    eps = fake_dists.entry_points()
    first = load_engine("acme", eps)
    assert load_engine("acme", eps) is first
    patroni_mpp.clear_caches()
    assert load_engine("acme", eps) is not first


def test_installed_plugins_are_found_on_sys_path(installed_dists: FakeDists) -> None:
    installed_dists.engine("acme", version="3.0")
    engine = get_mpp({"acme": VALID})
    assert type(engine).__name__ == "Acme"
    loaded = load_engine("acme")
    assert (loaded.source.name, loaded.source.version) == ("acme-engine", "3.0")
    assert loaded.source.value == installed_dists.module("acme")


def test_section_keys_and_schema(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    loaded = load_engine("acme", fake_dists.entry_points())
    assert loaded.section_keys == ("group", "database")
    schema = loaded.json_schema()
    assert schema["required"] == ["group", "database"]
    assert schema["properties"]["group"]["minimum"] == 0


def test_explicit_null_section(fake_dists: FakeDists) -> None:
    eps = fake_dists.entry_points()
    assert type(get_mpp({"null": {}}, entry_points=eps)).__name__ == "Null"
    assert type(get_mpp({"null": None}, entry_points=eps)).__name__ == "Null"
    with pytest.raises(EngineConfigError, match=r"null\.group"):
        get_mpp({"null": {"group": 1}}, entry_points=eps)


def test_null_missing_says_which_wheel() -> None:
    with pytest.raises(EngineNotInstalledError, match="pip install patroni-mpp-null"):
        get_mpp({}, entry_points=[])


def test_one_distribution_seen_twice_is_no_conflict(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    eps = fake_dists.entry_points()
    engine = get_mpp({"acme": VALID}, entry_points=eps + eps)
    assert type(engine).__name__ == "Acme"
