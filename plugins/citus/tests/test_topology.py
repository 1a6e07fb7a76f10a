"""Member URLs whose host libpq and the server cannot use: refused when parsed, logged once.

A host that is empty, holds a NUL, a control character or a lone surrogate, or is longer than Citus
keeps (255 bytes) gives no row (for the leader: no task), with one ``Failed to parse connection url``
line per URL while it stays in the DCS view, its password masked and its control characters escaped.
"""

from __future__ import annotations

import logging

import pytest
from patroni_mpp.testing.host import Member, cluster, member
from patroni_mpp.testing.logs import records
from patroni_mpp_citus._model import AFTER_PROMOTE, PRIMARY, SECONDARY
from patroni_mpp_citus._topology import UrlProblems, address_of, build_task, parse_address
from patroni_mpp_citus.testing.formation import Formation, node
from patroni_mpp_citus.testing.handler_statements import handler_statements
from patroni_mpp_citus.testing.statement_log import StatementLogView


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in records(caplog, "ERROR", "Failed to parse connection url")]


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("nul\x00byte", "its host contains a NUL character"),
        ("tab\there", "its host contains the control character U+0009"),
        ("new\nline", "its host contains the control character U+000A"),
        ("del\x7f", "its host contains the control character U+007F"),
        ("c1\x85", "its host contains the control character U+0085"),
        ("lone\ud800", "its host contains the lone surrogate U+D800 (not valid UTF-8)"),
        ("", "it has no host"),
        # Citus truncates longer node names and then cannot find the node it added
        ("h" * 256, "its host is 256 bytes long (Citus keeps at most 255)"),
        ("é" * 128, "its host is 256 bytes long (Citus keeps at most 255)"),
        ("h" * 10_000, "its host is 10000 bytes long (Citus keeps at most 255)"),
    ],
)
def test_unusable_hosts_are_refused(host: str, problem: str) -> None:
    url = f"postgres://admin:pw@{host}:5432/postgres"
    assert parse_address(url) == problem
    assert address_of(url) is None


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("postgres://Host.Example:6432/db", ("host.example", 6432)),
        ("postgres://ünïcødé-名前:5433/db", ("ünïcødé-名前", 5433)),
        ("postgres://a;b'c:5432/db", ("a;b'c", 5432)),
        ("postgres://" + "h" * 255 + "/db", ("h" * 255, 5432)),
        # control characters elsewhere than in the host do not matter
        ("postgres://u:p\x01w@h:5432/d\tb", ("h", 5432)),
    ],
)
def test_usable_hosts(url: str, address: tuple[str, int]) -> None:
    assert address_of(url) == address


def test_an_unusable_replica_is_left_out_and_an_unusable_leader_skips_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    view = cluster(
        member("leader", "10.0.0.5", 5433, role="primary"),
        Member("bad", {"conn_url": "postgres://rep:secret-pw@bad\x00host:5432/postgres", "state": "running"}),
        member("good", "10.0.0.6", 5432),
    )
    made = build_task(AFTER_PROMOTE, 1, view, "leader", "postgres://10.0.0.5:5433/postgres")
    assert made is not None
    assert [(r.host, r.port, r.role) for r in made.group] == [
        ("10.0.0.5", 5433, PRIMARY),
        ("10.0.0.6", 5432, SECONDARY),
    ]
    leader_url = "postgres://rep:secret-pw@lead\x00er:5432/postgres"
    assert build_task(AFTER_PROMOTE, 1, view, "leader", leader_url) is None
    messages = failures(caplog)
    assert messages == [
        "Failed to parse connection url postgres://rep:******@bad\\x00host:5432/postgres: "
        "its host contains a NUL character",
        "Failed to parse connection url postgres://rep:******@lead\\x00er:5432/postgres: "
        "its host contains a NUL character",
    ]


def test_each_unusable_url_is_logged_once_while_it_stays(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="patroni_mpp_citus")
    problems = UrlProblems()
    first, second = "postgres://a\x00:1/x", "postgres://b\x01:1/x"
    for _ in range(3):  # three cycles with the same two bad URLs
        problems.report(first, "p")
        problems.report(second, "p")
        problems.report(first, "p")
        problems.end_cycle()
    assert len(failures(caplog)) == 2
    caplog.clear()
    problems.report(second, "p")
    problems.end_cycle()  # ``first`` disappeared from the view ...
    problems.report(first, "p")  # ... and came back: logged again
    problems.report(second, "p")
    assert failures(caplog) == ["Failed to parse connection url postgres://a\\x00:1/x: p"]


def test_reconciliation_logs_an_unusable_leader_once(
    formation: Formation, statement_log: StatementLogView, caplog: pytest.LogCaptureFixture
) -> None:
    citus = formation.citus
    url = "postgres://x:pw@nul\x00host:5432/postgres"
    bad = Member("w1", {"conn_url": url, "role": "primary", "state": "running"})
    formation.set_group(1, bad, node(citus, 2, "w2"))
    formation.set_group(2, node(citus, 3, "w3", role="primary"))
    for _ in range(3):
        formation.sync()
        assert formation.wait_idle()
    assert formation.group_rows(1) == set()
    assert formation.group_rows(2) == {(*citus.node_address(3), "primary")}
    assert len(failures(caplog)) == 1
    assert not records(caplog, "ERROR", "Exception when executing query")
    # no statement ever carried the bad host
    assert all("nul" not in str(s) for s in handler_statements(statement_log, loads=True))
    # the leader's URL is fixed: the group is registered; broken again: logged again
    formation.set_group(1, node(citus, 1, "w1", role="primary"), node(citus, 2, "w2"))
    formation.sync()
    assert formation.wait_rows(
        1, {(*citus.node_address(1), "primary"), (*citus.node_address(2), "secondary")}
    )
    formation.set_group(1, bad, node(citus, 2, "w2"))
    formation.sync()
    assert formation.wait_idle()
    assert len(failures(caplog)) == 2
