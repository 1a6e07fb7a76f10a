"""The ``patroni-mpp`` dispatcher, ``list`` and ``schema`` (in process, plugins on sys.path)."""

from __future__ import annotations

import json

import pytest
from patroni_mpp.cli import main
from patroni_mpp.testing.distributions import FakeDists

BROKEN = "raise ImportError('missing dependency: nothing_here')\n"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "list" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_list_table(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.engine("acme", version="1.2")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "MODULE", "STATUS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["acme"] == ["acme", "acme-engine", "1.2", installed_dists.module("acme"), "ok"]
    assert rows["null"][1:3] == ["patroni-mpp-null", rows["null"][2]]
    assert rows["null"][-1] == "ok"


def test_list_with_broken_plugin(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN}, version="0.9")
    assert main(["list"]) == 1
    captured = capsys.readouterr()
    line = next(line for line in captured.out.splitlines() if line.startswith("broken"))
    assert "broken-engine" in line
    assert "error: MPP engine 'broken' from broken-engine 0.9" in line
    assert "ImportError: missing dependency: nothing_here" in line
    assert captured.err == ""


def test_list_json(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.engine("acme")
    installed_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN})
    assert main(["list", "--json"]) == 1
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["acme"] == {
        "name": "acme",
        "distribution": "acme-engine",
        "version": "1.0",
        "module": installed_dists.module("acme"),
        "status": "ok",
        "error": None,
    }
    assert rows["broken"]["status"] == "error"
    assert "nothing_here" in rows["broken"]["error"]


def test_list_duplicate_names(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.engine("twin", dist="twin-a")
    installed_dists.add("twin-b", {"twin": "twin_b"}, {"twin_b": "X = 1\n"})
    assert main(["list", "--json"]) == 1
    rows = [row for row in json.loads(capsys.readouterr().out) if row["name"] == "twin"]
    assert sorted(row["distribution"] for row in rows) == ["twin-a", "twin-b"]
    assert all("more than one distribution" in row["error"] for row in rows)


def test_schema(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.engine("acme")
    assert main(["schema", "acme"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert schema["required"] == ["group", "database"]
    assert schema["properties"]["group"]["description"].startswith("group id")


def test_schema_of_null(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "null", "--indent", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out)["additionalProperties"] is False


def test_schema_of_missing_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "citus"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: MPP engine for section 'citus' is not installed: install the wheel that provides "
        "it: pip install patroni-mpp-citus\n"
    )


def test_schema_of_broken_engine(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN})
    assert main(["schema", "broken"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MPP engine 'broken' from broken-engine 1.0")
    assert "Traceback" not in err


def test_verbose_shows_traceback(installed_dists: FakeDists, capsys: pytest.CaptureFixture[str]) -> None:
    installed_dists.add("broken-engine", {"broken": "broken"}, {"broken": BROKEN})
    assert main(["-v", "schema", "broken"]) == 1
    assert "Traceback" in capsys.readouterr().err
