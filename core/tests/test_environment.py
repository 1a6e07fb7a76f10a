"""``PATRONI_<SECTION>_<KEY>`` overrides."""

from __future__ import annotations

import pytest
from patroni_mpp import apply_environment, env_var_name, environment_overrides
from patroni_mpp._environment import (
    StrayVariable,
    _one_edit_apart,
    misspelled_section_variables,
    sections_in_environment,
    unknown_key_variables,
)
from patroni_mpp._sections import PATRONI_SECTIONS


@pytest.mark.parametrize(
    ("section", "key", "name"),
    [
        ("citus", "group", "PATRONI_CITUS_GROUP"),
        ("citus", "database", "PATRONI_CITUS_DATABASE"),
        ("my-engine", "node.port", "PATRONI_MY_ENGINE_NODE_PORT"),
    ],
)
def test_variable_names(section: str, key: str, name: str) -> None:
    assert env_var_name(section, key) == name


def test_overrides_for_known_keys() -> None:
    env = {"PATRONI_CITUS_GROUP": "2", "PATRONI_CITUS_HOST": "x", "PATRONI_NAME": "n"}
    assert environment_overrides("citus", ("group", "database"), env) == {"group": "2"}


def test_overrides_for_any_key() -> None:
    env = {"PATRONI_ACME_GROUP": "2", "PATRONI_ACME_SOME_KEY": "v", "PATRONI_ACME_": "ignored"}
    assert environment_overrides("acme", None, env) == {"group": "2", "some_key": "v"}


def test_empty_value_counts_as_set() -> None:
    assert environment_overrides("citus", ("database",), {"PATRONI_CITUS_DATABASE": ""}) == {"database": ""}


def test_apply_merges_over_file_values() -> None:
    env = {"PATRONI_CITUS_GROUP": "3"}
    merged, applied = apply_environment({"group": 0, "database": "db"}, "citus", ("group",), env)
    assert merged == {"group": "3", "database": "db"}
    assert applied == {"group": "PATRONI_CITUS_GROUP"}


def test_apply_creates_missing_section() -> None:
    env = {"PATRONI_CITUS_GROUP": "1", "PATRONI_CITUS_DATABASE": "citus"}
    merged, applied = apply_environment(None, "citus", ("group", "database"), env)
    assert merged == {"group": "1", "database": "citus"}
    assert set(applied) == {"group", "database"}


def test_apply_leaves_non_mapping_alone() -> None:
    value, applied = apply_environment("oops", "citus", ("group",), {"PATRONI_CITUS_GROUP": "1"})
    assert (value, applied) == ("oops", {})


def test_apply_does_not_mutate_input() -> None:
    original = {"group": 0}
    apply_environment(original, "citus", ("group",), {"PATRONI_CITUS_GROUP": "1"})
    assert original == {"group": 0}


def test_apply_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRONI_ACME_GROUP", "7")
    assert apply_environment({}, "acme", ("group",))[0] == {"group": "7"}


def test_sections_in_environment() -> None:
    env = {"PATRONI_CITUS_GROUP": "1", "PATRONI_SCOPE": "s"}
    assert sections_in_environment(["acme", "citus"], env) == ["citus"]


def test_unknown_key_variables() -> None:
    env = {
        "PATRONI_CITUS_GROUP": "1",
        "PATRONI_CITUS_DATABSE": "db",
        "PATRONI_CITUS_PASSWORD": "user citus",
        "PATRONI_CITUS_ADMIN_OPTIONS": "user citus_admin",
        "PATRONI_CITUS_": "empty key",
        "PATRONI_CITUSX_GROUP": "another prefix",
    }
    assert unknown_key_variables("citus", ("group", "database"), env) == [
        StrayVariable("PATRONI_CITUS_DATABSE", "citus", "PATRONI_CITUS_DATABASE", misspelled_section=False)
    ]


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("CITUS", "CITSU", True),
        ("CITUS", "CITU", True),
        ("CITUS", "CITUSS", True),
        ("CITUS", "CXTUS", True),
        ("CITUS", "CITUS", False),
        ("CITUS", "SUTIC", False),
        ("CITUS", "CI", False),
        ("CITUS", "ETCD3", False),
    ],
)
def test_one_edit_apart(a: str, b: str, near: bool) -> None:
    assert _one_edit_apart(a, b) is near
    assert _one_edit_apart(b, a) is near


def test_misspelled_section_variables_leave_patroni_alone() -> None:
    env = {
        "PATRONI_CITSU_GROUP": "1",
        "PATRONI_CITU_PASSWORD": "a user named citu",
        "PATRONI_CITUS_GROUP": "1",
        "PATRONI_ETCD_HOSTS": "h",
        "PATRONI_NAME": "n",
        "PATRONI_RAFT_DATA_DIR": "d",
        "PATRONI_MPP_PG_BINDIR": "b",
        "PATRONI_REWIND_USERNAME": "r",
        "OTHER_CITSU_GROUP": "not Patroni's",
    }
    found = misspelled_section_variables(["citus", "raft2"], PATRONI_SECTIONS, env)
    assert [(v.variable, v.section, v.suggestion) for v in found] == [
        ("PATRONI_CITSU_GROUP", "citus", "PATRONI_CITUS_GROUP")
    ]
