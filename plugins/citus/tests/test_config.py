"""The ``citus`` section, identity properties and discovery through the ``citus`` entry point."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import patroni_mpp
import pytest
from patroni_mpp import EngineConfigError, apply_environment, get_mpp, load_engine
from patroni_mpp.testing.host import LocalPostgresql
from patroni_mpp_citus import Citus, CitusConfig, CitusHandler
from patroni_mpp_citus._config import config_problems, parse_group
from patroni_mpp_citus._identity import GROUP_RE


def test_entry_point_is_installed() -> None:
    (ep,) = metadata.entry_points(group="patroni.mpp", name="citus")
    assert ep.value == "patroni_mpp_citus.hooks"
    assert ep.dist is not None and ep.dist.metadata["Name"] == "patroni-mpp-citus"
    requires = " ".join(ep.dist.requires or [])
    assert "patroni-mpp" in requires and "psycopg" in requires


@pytest.mark.parametrize(
    ("group", "expected"),
    [(0, 0), (1, 1), ("1", 1), (" 2 ", 2), ("007", 7), (2**31 - 1, 2**31 - 1)],
)
def test_valid_groups(group: Any, expected: int) -> None:
    engine = get_mpp({"citus": {"group": group, "database": "citus"}})
    assert isinstance(engine, Citus)
    assert engine.group == expected
    assert Citus.validate_config({"group": group, "database": "citus"})


@pytest.mark.parametrize(
    "group",
    [None, "", "abc", True, False, 1.5, 1.0, "1.5", "0x10", -1, "-1", 2**31, "1 2", [1]],
)
def test_invalid_groups_are_rejected_when_validated(group: Any) -> None:
    """Quirk 5: values ``group`` cannot convert are rejected here, not later."""
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"citus": {"group": group, "database": "citus"}})
    assert "citus.group: group must" in str(info.value)
    assert not Citus.validate_config({"group": group, "database": "citus"})
    with pytest.raises(ValueError, match=r"^group must"):
        parse_group(group)


@pytest.mark.parametrize(
    ("database", "words"),
    [
        ("", "database must not be empty"),
        (None, "Field required"),  # null counts as not given
        (5, "database must be a string"),
        ("x" * 64, "at most 63 bytes"),
        ("bad\x00name", "NUL"),
    ],
)
def test_invalid_databases(database: Any, words: str) -> None:
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"citus": {"group": 1, "database": database}})
    assert f"citus.database: {words}" in str(info.value) or words in str(info.value)
    assert "citus.database" in str(info.value)


def test_missing_keys_and_wrong_shapes() -> None:
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"citus": {}})
    assert "citus.group: Field required" in str(info.value)
    assert "citus.database: Field required: give database (one name) or databases" in str(info.value)
    assert config_problems("group=1") == ["the citus section must be a mapping, not str"]
    assert config_problems({"group": "x", "database": "d"}) == [
        "group: group must be a non-negative integer or a string of decimal digits"
    ]
    assert not Citus.validate_config(None)
    assert not Citus.validate_config([("group", 1)])


@pytest.mark.parametrize("value", [{}, None])
def test_empty_section_is_refused_never_mpp_off(value: Any) -> None:
    # The policy of docs/engine-guide.md ("An empty section"), the same in discovery and here.
    with pytest.raises(EngineConfigError) as info:
        get_mpp({"citus": value})
    locations = {problem.location for problem in info.value.problems}
    assert {"group", "database", ""} <= locations
    assert "citus: the section is empty, and an empty section does not turn MPP off" in str(info.value)
    assert "remove the section to run without MPP" in str(info.value)
    assert Citus.validate_config(value) is False


def test_bare_section_filled_by_the_environment() -> None:
    value, applied = apply_environment(
        None,
        "citus",
        load_engine("citus").section_keys,
        {"PATRONI_CITUS_GROUP": "1", "PATRONI_CITUS_DATABASE": "c"},
    )
    assert set(applied) == {"group", "database"}
    engine = get_mpp({"citus": value})
    assert engine.is_worker()
    assert Citus.validate_config(engine.config)


def test_other_keys_are_ignored() -> None:
    engine = get_mpp({"citus": {"group": 1, "database": "citus", "note": "x"}})
    assert engine.config == {"group": 1, "database": "citus", "watch_promotions": True}


def test_environment_gives_strings() -> None:
    keys = load_engine("citus").section_keys
    assert keys == ("group", "database", "databases", "watch_promotions")
    value, applied = apply_environment(
        {"database": "x"},
        "citus",
        keys,
        {"PATRONI_CITUS_GROUP": "3", "PATRONI_CITUS_DATABASE": "citus"},
    )
    assert applied == {"group": "PATRONI_CITUS_GROUP", "database": "PATRONI_CITUS_DATABASE"}
    assert CitusConfig.model_validate(value).model_dump() == {
        "group": 3,
        "database": "citus",
        "watch_promotions": True,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("false", False), (" Off ", False), ("yes", True), ("1", True)],
)
def test_watch_promotions_is_a_switch(value: object, expected: bool) -> None:
    config = {"group": 0, "database": "citus", "watch_promotions": value}
    assert CitusConfig.model_validate(config).watch_promotions is expected


@pytest.mark.parametrize("value", [1, 0, "maybe", "", None, 2.0])
def test_watch_promotions_refuses_what_is_not_a_switch(value: object) -> None:
    problems = config_problems({"group": 0, "database": "citus", "watch_promotions": value})
    assert problems == ["watch_promotions: must be true or false"]


def test_watch_promotions_from_the_environment() -> None:
    keys = load_engine("citus").section_keys
    value, applied = apply_environment(
        {"group": 0, "database": "citus"}, "citus", keys, {"PATRONI_CITUS_WATCH_PROMOTIONS": "false"}
    )
    assert applied == {"watch_promotions": "PATRONI_CITUS_WATCH_PROMOTIONS"}
    assert CitusConfig.model_validate(value).watch_promotions is False


def test_identity() -> None:
    coordinator = get_mpp({"citus": {"group": 0, "database": "citus"}})
    worker = get_mpp({"citus": {"group": 2, "database": "citus"}})
    assert coordinator.type == worker.type == "Citus"
    assert coordinator.k8s_group_label == "citus-group"
    assert coordinator.coordinator_group_id == 0
    assert coordinator.is_enabled() and coordinator.is_coordinator() and not coordinator.is_worker()
    assert worker.is_worker() and not worker.is_coordinator()
    assert coordinator.group_re is GROUP_RE


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("0", True),
        ("1", True),
        ("10", True),
        ("01", False),
        ("-1", False),
        ("a", False),
        ("", False),
    ],
)
def test_group_regex(text: str, matches: bool) -> None:
    assert bool(GROUP_RE.match(text)) is matches


def test_handler_comes_from_the_plugin_and_by_convention() -> None:
    postgresql = LocalPostgresql("node1", "127.0.0.1", 5432)
    engine = get_mpp({"citus": {"group": 1, "database": "citus"}})
    handler = engine.get_handler_impl(postgresql)
    try:
        assert type(handler) is CitusHandler
        assert handler.type == "Citus"
        assert handler.is_worker()
        # registered the metadata connection without opening it
        params = postgresql.connection_pool.get("citus").params
        assert params["dbname"] == "citus"
        assert params["options"] == (
            "-c statement_timeout=0 -c lock_timeout=30000 -c idle_in_transaction_session_timeout=0 "
            "-c citus.max_cached_conns_per_worker=0"
        )
        assert params["application_name"] == "Patroni citus"
        assert not handler.worker.alive
    finally:
        assert handler.close()  # type: ignore[attr-defined]
    by_convention = Citus({"group": 1, "database": "citus"}).get_handler_impl(postgresql)
    assert type(by_convention) is CitusHandler


def test_listed_as_ok_with_a_schema() -> None:
    reports = {r.name: r for r in patroni_mpp.iter_engine_reports()}
    assert reports["citus"].ok
    schema = load_engine("citus").json_schema()
    assert schema["properties"]["group"]["minimum"] == 0
    assert schema["required"] == ["group"]
    assert schema["oneOf"] == [{"required": ["database"]}, {"required": ["databases"]}]
    assert schema["properties"]["databases"]["anyOf"][0]["uniqueItems"] is True


# -- several Citus databases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("databases", "expected"),
    [
        (["citus", "app2"], ("citus", "app2")),
        (("a", "b", "c"), ("a", "b", "c")),
        ("citus,app2", ("citus", "app2")),
        (" citus , app2 ", ("citus", "app2")),
        ("[citus, app2, app3]", ("citus", "app2", "app3")),
        ("solo", ("solo",)),
    ],
)
def test_databases_as_a_list_or_a_comma_separated_string(databases: Any, expected: tuple[str, ...]) -> None:
    engine = get_mpp({"citus": {"group": 0, "databases": databases}})
    assert isinstance(engine, Citus)
    assert engine.databases == expected
    assert engine.database == expected[0]
    assert engine.config == {"group": 0, "databases": list(expected), "watch_promotions": True}
    # the dump validates again (the bridge validates the section, then the engine does)
    assert CitusConfig.model_validate(engine.config).names == expected


def test_one_database_stays_as_it_was() -> None:
    engine = get_mpp({"citus": {"group": 1, "database": "citus"}})
    assert isinstance(engine, Citus)
    assert engine.databases == ("citus",)
    assert "databases" not in engine.config


@pytest.mark.parametrize(
    ("section", "problems"),
    [
        (
            {"group": 0, "database": "a", "databases": ["a", "b"]},
            ["databases: give either database (one name) or databases (a list of names), not both"],
        ),
        ({"group": 0, "databases": []}, ["databases: databases must name at least one database"]),
        ({"group": 0, "databases": ""}, ["databases: databases must name at least one database"]),
        ({"group": 0, "databases": ["a", "b", "a"]}, ["databases: databases entry 3 repeats entry 1"]),
        ({"group": 0, "databases": "a,,b"}, ["databases: databases entry 2 must not be empty"]),
        (
            {"group": 0, "databases": ["ok", "x" * 64, 7]},
            [
                "databases: databases entry 2 must be at most 63 bytes long (PostgreSQL would truncate "
                "it); databases entry 3 must be a string, not int"
            ],
        ),
        (
            {"group": 0, "databases": {"a": 1}},
            ["databases: databases must be a list of database names or a comma-separated string, not dict"],
        ),
        (
            {"group": "x", "database": "a", "databases": "b"},
            [
                "group: group must be a non-negative integer or a string of decimal digits",
                "databases: give either database (one name) or databases (a list of names), not both",
            ],
        ),
    ],
)
def test_invalid_databases_name_the_key(section: dict[str, Any], problems: list[str]) -> None:
    assert config_problems(section) == problems
    assert not Citus.validate_config(section)


def test_databases_from_the_environment() -> None:
    keys = load_engine("citus").section_keys
    value, applied = apply_environment(
        {"group": 0}, "citus", keys, {"PATRONI_CITUS_DATABASES": "citus, app2"}
    )
    assert applied == {"databases": "PATRONI_CITUS_DATABASES"}
    assert CitusConfig.model_validate(value).names == ("citus", "app2")
    # the variable overrides one key: with database in the file as well, both are given
    both, _ = apply_environment(
        {"group": 0, "database": "citus"}, "citus", keys, {"PATRONI_CITUS_DATABASES": "citus,app2"}
    )
    assert config_problems(both) == [
        "databases: give either database (one name) or databases (a list of names), not both"
    ]


def test_handler_slots_of_every_database() -> None:
    postgresql = LocalPostgresql("m", "127.0.0.1", 1, primary=True)
    handler = CitusHandler(postgresql, {"group": 1, "databases": ["citus", "app2"]}, watch_promotions=False)
    try:
        slot = {"name": "citus_shard_move_slot_1_2_3", "type": "logical", "plugin": "pgoutput"}
        assert handler.ignore_replication_slot({**slot, "database": "citus"})
        assert handler.ignore_replication_slot({**slot, "database": "app2"})
        assert not handler.ignore_replication_slot({**slot, "database": "other"})
        assert handler.managed_databases == ("citus", "app2")
    finally:
        assert handler.close()
        postgresql.close()
