"""Bad input, property-based (issue part 1): configuration sections, REST events, slot and GUC dicts.

Hypothesis generates JSON-like values of every shape. The properties:

* a configuration section gives a working engine or an ``EngineConfigError`` naming the section and,
  for a mapping, the offending key; never another exception;
* a REST event is handled or rejected with ``CitusEventError`` (a clear, one-line message, no
  traceback logged); a rejected event runs no SQL (the server's statement log shows none from the
  handler), and the handler's thread stays alive; after every accepted event the formation still
  converges to the DCS view;
* slot and GUC dicts with missing keys and odd types never raise.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from patroni_mpp import (
    EngineConfigError,
    EngineNotInstalledError,
    MPPError,
    MultipleEnginesError,
    apply_environment,
    get_mpp,
)
from patroni_mpp_citus import Citus, CitusEventError
from patroni_mpp_citus.testing.fixture_support import assert_metadata_settles, reset_citus
from patroni_mpp_citus.testing.formation import APP, Formation, make_formation, two_node_group
from patroni_mpp_citus.testing.server import CitusTestServer

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any value ``json.loads`` can produce (and a few floats it cannot: nan, inf)."""

GROUPS = st.sampled_from([0, 1, 2, "1", " 7 ", "01", "1.5", "0x10", -1, 2**31, True, 1.0]) | JSON
DATABASES = st.sampled_from(["citus", "", "x" * 64, "a\x00b", "we'ird; db\\", "dé"]) | JSON
SECTIONS = (
    st.fixed_dictionaries(
        {},
        optional={"group": GROUPS, "database": DATABASES, "extra": JSON, "password": st.text(max_size=12)},
    )
    | JSON
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_QUOTED = re.compile(r'^\[("(?:[^"\\]|\\.)*")\]')


def _first_key(location: str) -> str:
    match = _QUOTED.match(location)
    if match:
        return str(json.loads(match.group(1)))
    return location.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0]


def _check_config_error(error: EngineConfigError, section: str, value: Any) -> None:
    assert error.section == section
    text = str(error)
    assert text.startswith(f"invalid MPP configuration section '{section}':\n")
    assert error.problems
    lines = text.splitlines()[1:]
    assert len(lines) == len(error.problems), "one line per problem, no line breaks inside"
    for problem, line in zip(error.problems, lines, strict=True):
        assert line.startswith(f"  {section}"), line
        if isinstance(value, Mapping) and problem.location:
            assert _first_key(problem.location) in {str(k) for k in value} | {"group", "database"}, problem
        else:
            assert not problem.location or not isinstance(value, Mapping)


@SETTINGS
@given(value=SECTIONS)
def test_citus_section_of_any_shape(value: Any) -> None:
    try:
        engine = get_mpp({"scope": "s", "citus": value})
    except EngineConfigError as exc:
        _check_config_error(exc, "citus", value)
        if (
            isinstance(value, Mapping)
            and isinstance(value.get("password"), str)
            and len(value["password"]) > 3
        ):
            secret = value["password"]
            # The fixed text of the error (key names, messages) may contain the secret by chance
            # ('grou' in 'citus.group'); only text that the secret put there counts.
            without_secret = {key: item for key, item in value.items() if key != "password"}
            try:
                get_mpp({"scope": "s", "citus": without_secret})
                fixed_text = ""
            except EngineConfigError as reference:
                fixed_text = str(reference)
            if secret not in fixed_text:
                assert secret not in str(exc)
    else:
        assert isinstance(engine, Citus)
        assert isinstance(engine.group, int) and 0 <= engine.group < 2**31
        assert isinstance(engine.database, str) and engine.database


@SETTINGS
@given(
    value=SECTIONS,
    group=st.one_of(st.none(), st.text(max_size=12)),
    db=st.one_of(st.none(), st.text(max_size=70)),
)
def test_citus_section_with_environment_overrides(value: Any, group: str | None, db: str | None) -> None:
    environ = {}
    if group is not None:
        environ["PATRONI_CITUS_GROUP"] = group
    if db is not None:
        environ["PATRONI_CITUS_DATABASE"] = db
    merged, _applied = apply_environment(value, "citus", ("group", "database"), environ)
    try:
        engine = get_mpp({"citus": merged})
    except EngineConfigError as exc:
        _check_config_error(exc, "citus", merged)
    else:
        assert isinstance(engine, Citus)


@SETTINGS
@given(value=SECTIONS)
def test_null_section_of_any_shape(value: Any) -> None:
    try:
        engine = get_mpp({"null": value})
    except EngineConfigError as exc:
        _check_config_error(exc, "null", value)
    else:
        assert not engine.is_enabled()


TOP_KEYS = st.sampled_from(["citus", "null", "timescaledb", "postgresql", "scope", "foo"]) | st.text(
    max_size=8
)


@SETTINGS
@given(config=st.dictionaries(TOP_KEYS, SECTIONS, max_size=4))
def test_whole_configuration_of_any_shape(config: dict[str, Any]) -> None:
    try:
        get_mpp(config)
    except (EngineConfigError, MultipleEnginesError, EngineNotInstalledError) as exc:
        assert isinstance(exc, MPPError)
        assert "\n" not in str(exc) or isinstance(exc, EngineConfigError)


# -- REST events -------------------------------------------------------------------------------------

TYPES = st.sampled_from(["before_demote", "before_promote", "after_promote"])
EVENT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": TYPES | st.sampled_from(["BEFORE_DEMOTE", "after_promote ", "", "switchover"]) | JSON,
    "group": st.sampled_from([0, 1, 2, 3]) | st.sampled_from(["1", 1.0, True, -1, 2**31, 2**63]) | JSON,
    "leader": st.sampled_from(["n1", "n2", "n3"]) | st.text(max_size=40) | JSON,
    "timeout": st.floats(min_value=0.001, max_value=3600) | st.sampled_from([0, -1, 3601, "30", True]) | JSON,
    "cooldown": st.floats(min_value=0, max_value=3600) | st.sampled_from([-0.5, 1e9, "10", False]) | JSON,
}
EVENTS = (
    st.fixed_dictionaries(EVENT_FIELDS)
    | st.fixed_dictionaries({}, optional=EVENT_FIELDS)
    | st.builds(
        lambda base, extra: {**extra, **base},
        st.fixed_dictionaries(EVENT_FIELDS),
        st.dictionaries(st.text(max_size=8), JSON, max_size=3),
    )
    | JSON
)


@pytest.fixture(scope="module")
def formation(citus_server: CitusTestServer) -> Iterator[Formation]:
    """A coordinator with groups 1 (n1 primary, n2 secondary) and 2 (n3 primary, n4 secondary)."""
    reset_citus(citus_server)
    made = make_formation(citus_server)
    try:
        two_node_group(made, 1, 1)
        two_node_group(made, 2, 3)
        yield made
    finally:
        made.close()
    assert_metadata_settles(citus_server)


def _statements_since(formation: Formation, mark: int) -> list[str]:
    return formation.citus.statement_log.statements(mark, application_name=APP)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=EVENTS)
def test_event_of_any_shape(formation: Formation, event: Any, caplog_module: list[logging.LogRecord]) -> None:
    handler = formation.handler
    assert formation.wait_idle()
    mark = formation.citus.statement_log.mark()
    issued = handler.worker.store.statements
    caplog_module.clear()
    try:
        handler.handle_event(formation.view(), event)
    except CitusEventError as exc:
        text = str(exc)
        assert text.startswith("invalid citus event: ")
        assert "\n" not in text
        assert exc.problems
        # nothing queued, no statement sent, the thread is alive and quiet
        assert formation.idle()
        assert handler.worker.store.statements == issued
        assert _statements_since(formation, mark) == []
        assert handler.worker.alive
        assert not [r for r in caplog_module if r.exc_info], "a rejected event logged a traceback"
        return
    assert handler.worker.alive
    assert not [r for r in caplog_module if r.exc_info and r.levelno >= logging.ERROR]
    # whatever the event did, the group's after_promote and a reconciliation bring the table back
    state = handler.worker.state
    assert formation.wait_idle() or state.in_flight is not None
    with state.cond:
        in_flight = state.in_flight
    if in_flight is not None:
        leader = formation.workers[in_flight.groupid].leader
        assert leader is not None
        formation.event("after_promote", in_flight.groupid, leader.name)
    assert formation.converge(), (formation.rows(), formation.expected_rows())


@pytest.fixture(scope="module")
def caplog_module() -> Iterator[list[logging.LogRecord]]:
    """Records of the engine's loggers (module-wide; each example clears it)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    logger = logging.getLogger("patroni_mpp_citus")
    old = logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(keep)
        logger.setLevel(old)


# -- slot and GUC dicts -------------------------------------------------------------------------------

SLOT_KEYS = st.sampled_from(
    ["name", "type", "plugin", "database", "datoid", "catalog_xmin", "xmin"]
) | st.text(max_size=8)
SLOT_NAMES = (
    st.sampled_from(
        ["citus_shard_move_slot_1_2_3", "citus_shard_split_slot_1_2", "citus_shard_move_slot_0_1", "x"]
    )
    | JSON
)


@SETTINGS
@given(
    slot=st.builds(
        lambda base, extra: {**extra, **base},
        st.fixed_dictionaries(
            {},
            optional={
                "name": SLOT_NAMES,
                "type": st.sampled_from(["logical", "physical"]) | JSON,
                "plugin": st.sampled_from(["pgoutput", "citus"]) | JSON,
                "database": st.sampled_from(["citus", "postgres"]) | JSON,
            },
        ),
        st.dictionaries(SLOT_KEYS, JSON, max_size=3),
    )
)
def test_slot_dict_of_any_shape(formation: Formation, slot: dict[str, Any]) -> None:
    assert formation.handler.ignore_replication_slot(slot) in (True, False)


GUC_KEYS = st.sampled_from(
    [
        "shared_preload_libraries",
        "max_prepared_transactions",
        "max_connections",
        "wal_level",
        "citus.local_hostname",
    ]
) | st.text(max_size=12)


@SETTINGS
@given(gucs=st.dictionaries(GUC_KEYS, SCALARS | st.text(max_size=40), max_size=6))
def test_guc_dict_of_any_shape(formation: Formation, gucs: dict[str, Any]) -> None:
    handler = formation.handler
    before = dict(gucs)
    handler.adjust_postgres_gucs(gucs)
    assert str(gucs["shared_preload_libraries"]).split(",")[0] == "citus"
    assert gucs["wal_level"] == "logical"
    prepared = before.get("max_prepared_transactions", 0)
    connections = before.get("max_connections", 100)
    if type(prepared) is int and prepared == 0 and type(connections) is int:
        assert gucs["max_prepared_transactions"] == 2 * connections
    once = dict(gucs)
    handler.adjust_postgres_gucs(gucs)
    assert gucs == once or _nan_equal(gucs, once), "adjust_postgres_gucs is not idempotent"


def _nan_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(value: Any) -> Any:
        return "nan" if isinstance(value, float) and math.isnan(value) else value

    return {k: norm(v) for k, v in a.items()} == {k: norm(v) for k, v in b.items()}
