"""Events POSTed by workers: validated before anything else, with clear errors (issue 3, item 5)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from patroni_mpp_citus import CitusEvent, CitusEventError, parse_event
from patroni_mpp_citus.testing.handler_formation import Formation, node
from patroni_mpp_citus.testing.statement_log import StatementLogView
from tests._helpers import handler_statements, records

GOOD: dict[str, Any] = {
    "type": "before_demote",
    "group": 1,
    "leader": "node1",
    "timeout": 30,
    "cooldown": 10,
}


def bad(**changes: Any) -> dict[str, Any]:
    event = dict(GOOD)
    for key, value in changes.items():
        if value is KeyError:
            del event[key]
        else:
            event[key] = value
    return event


def test_a_good_event() -> None:
    event = parse_event(GOOD)
    assert (event.type, event.group, event.leader, event.timeout) == (
        "before_demote",
        1,
        "node1",
        30,
    )
    assert event.cooldown_ms == 10000
    assert parse_event({**GOOD, "cooldown": 0.25}).cooldown_ms == 250
    assert parse_event({**GOOD, "cooldown": 0}).cooldown_ms == 10000, "zero means the default"
    assert parse_event({**GOOD, "extra": "ignored"}).leader == "node1"


@pytest.mark.parametrize(
    ("event", "field", "words"),
    [
        (bad(type="after_demote"), "type", "'before_demote', 'before_promote' or 'after_promote'"),
        (bad(type=KeyError), "type", "Field required"),
        (bad(group="1"), "group", "valid integer"),
        (bad(group=True), "group", "valid integer"),
        (bad(group=-1), "group", "greater than or equal to 0"),
        (bad(group=1.0), "group", "valid integer"),
        (bad(group=KeyError), "group", "Field required"),
        (bad(leader=""), "leader", "at least 1 character"),
        (bad(leader=7), "leader", "valid string"),
        (bad(leader=KeyError), "leader", "Field required"),
        (bad(timeout=-5), "timeout", "greater than 0"),
        (bad(timeout=0), "timeout", "greater than 0"),
        (bad(timeout=10**9), "timeout", "less than or equal to 3600"),
        (bad(timeout="30"), "timeout", "valid"),
        (bad(timeout=float("nan")), "timeout", "finite"),
        (bad(timeout=KeyError), "timeout", "Field required"),
        (bad(cooldown=-1), "cooldown", "greater than or equal to 0"),
        (bad(cooldown=86400), "cooldown", "less than or equal to 3600"),
        (bad(cooldown=None), "cooldown", "valid"),
        (bad(cooldown=KeyError), "cooldown", "Field required"),
    ],
)
def test_a_bad_field_is_named(event: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(CitusEventError) as info:
        parse_event(event)
    assert isinstance(info.value, ValueError)
    problems = {p.location: p.message for p in info.value.problems}
    assert field in problems, problems
    assert words in problems[field], problems
    assert str(info.value).startswith("invalid citus event: ")
    assert f"{field}: " in str(info.value)


def test_every_problem_is_reported_and_no_value_echoed() -> None:
    with pytest.raises(CitusEventError) as info:
        parse_event({"type": "nope", "group": "s3cr3t-value", "leader": ""})
    locations = {p.location for p in info.value.problems}
    assert locations == {"type", "group", "leader", "timeout", "cooldown"}
    assert "s3cr3t-value" not in str(info.value)


@pytest.mark.parametrize("event", [None, [], "before_demote", 3, {}])
def test_not_an_object(event: Any) -> None:
    with pytest.raises(CitusEventError):
        parse_event(event)


def test_model_schema_documents_the_payload() -> None:
    schema = CitusEvent.model_json_schema()
    assert set(schema["required"]) == {"type", "group", "leader", "timeout", "cooldown"}


def test_malformed_event_queues_nothing_and_runs_no_sql(
    formation: Formation, statement_log: StatementLogView
) -> None:
    formation.set_group(1, node(formation.citus, 1, "node1", role="primary"))
    formation.sync()
    assert formation.wait_idle()
    assert formation.wait_rows(1, {(*formation.citus.node_address(1), "primary")})
    mark = statement_log.mark()
    statements = formation.handler.worker.store.statements
    for event in (
        bad(type="switchover"),
        bad(group="1"),
        bad(timeout=-1),
        bad(leader=KeyError),
        {},
    ):
        with pytest.raises(CitusEventError):
            formation.handler.handle_event(formation.view(), event)
    assert not formation.handler.worker.state.queue
    assert formation.handler.worker.store.statements == statements
    assert handler_statements(statement_log, mark, loads=True) == []


def test_malformed_event_is_an_error_even_before_the_first_sync(formation: Formation) -> None:
    """Deliberate difference: the reference ignored anything, even ``{}``, before the first sync."""
    with pytest.raises(CitusEventError):
        formation.handler.handle_event(formation.view(), {})
    formation.handler.handle_event(formation.view(), GOOD)  # well-formed: ignored, no error
    assert not formation.handler.worker.alive


def test_event_not_matching_the_dcs_is_discarded(
    formation: Formation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="patroni_mpp_citus")
    formation.set_group(1, node(formation.citus, 1, "node1", role="primary"))
    formation.sync()
    assert formation.wait_idle()
    formation.event("after_promote", 2, "node9")  # unknown group
    formation.event("after_promote", 1, "node9")  # not the leader
    formation.set_group(3, None, node(formation.citus, 3, "node3"))
    formation.event("after_promote", 3, "node3")  # group without leader
    discarded = records(caplog, "INFO", "Discarding event ")
    assert len(discarded) == 3
    assert not formation.handler.worker.state.queue
