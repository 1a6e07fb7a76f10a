"""The report of ``bench/e2e_citus.py``: its BENCHMARKS.md and RELIABILITY.md sections from the raw results.

``results`` maps ``<flavour>-<mode>`` (e.g. ``fast-quorum``) to one run's figures, in the order the
sections list them: modes outer, flavours inner, plain Patroni first.
"""

from __future__ import annotations

import argparse
import platform
import statistics
from typing import Any

from _common import host, run_at
from patroni_mpp.testing.postgres import find_bindir
from patroni_mpp_citus.testing.cluster import GROUPS

TITLE = (
    "## Citus under client load on real Citus: plain Patroni vs launcher vs fast switchover "
    "(`bench/e2e_citus.py`)"
)

LABELS = {
    "plain": "plain `patroni`",
    "launcher": "`patroni-mpp run`",
    "fast": "`patroni-mpp run --fast-switchover`",
}


def _values(result: dict[str, Any], kind: str, key: str) -> list[Any]:
    events = [event for event in result.get("events", []) if event["kind"] == kind]
    if key == "demote_to_metadata_s":
        return [
            None if e["metadata_s"] is None or e["demote_s"] is None else e["metadata_s"] - e["demote_s"]
            for e in events
        ]
    return [event[key] for event in events]


def spread(values: list[Any], digits: int = 2) -> str:
    """``median / max`` of the values; None (not reached within the wait) is counted apart."""
    reached = [float(v) for v in values if v is not None]
    missing = len(values) - len(reached)
    if not reached:
        return f"not reached ({missing})" if missing else "-"
    if len(reached) == 1:
        text = f"{reached[0]:.{digits}f}"
    else:
        text = f"{statistics.median(reached):.{digits}f} / {max(reached):.{digits}f}"
    return text + (f" ({missing} not reached)" if missing else "")


def one(values: list[Any], digits: int = 2) -> str:
    return spread(values, digits) if values else "-"


ROWS: list[tuple[str, str, str, int]] = [
    # label, event kind, event key, digits
    ("switchover: failed writes", "switchover", "failed_writes", 0),
    ("switchover: failed reads", "switchover", "failed_reads", 0),
    ("switchover: longest write pause, s", "switchover", "write_pause_s", 2),
    ("switchover: read-error window, s", "switchover", "read_error_window_s", 2),
    ("switchover → `pg_dist_node` committed, s", "switchover", "metadata_s", 2),
    ("switchover → old primary first a `secondary` row, s", "switchover", "secondary_first_s", 2),
    ("switchover → old primary a `secondary` row for good, s", "switchover", "secondary_s", 2),
    ("(switchover → old primary streaming again, s)", "switchover", "rejoined_s", 2),
    ("(switchover command run time, s)", "switchover", "ctl_s", 2),
    ("(switchover command → old leader starts demoting, s)", "switchover", "demote_s", 2),
    ("demote → `pg_dist_node` committed, s", "switchover", "demote_to_metadata_s", 2),
    ("failover: failed writes", "failover", "failed_writes", 0),
    ("failover: failed reads", "failover", "failed_reads", 0),
    ("failover: longest write pause, s", "failover", "write_pause_s", 2),
    ("failover: read-error window, s", "failover", "read_error_window_s", 2),
    ("kill → `pg_dist_node` committed, s", "failover", "metadata_s", 2),
    ("kill → old primary first a `secondary` row, s", "failover", "secondary_first_s", 2),
    ("kill → old primary a `secondary` row for good, s", "failover", "secondary_s", 2),
    ("(kill → restart of the killed node, s)", "failover", "restarted_s", 2),
    ("(kill → old primary streaming again, s)", "failover", "rejoined_s", 2),
]


def figures_table(results: dict[str, dict[str, Any]]) -> list[str]:
    labels = list(results)
    head = [f"{LABELS[label.split('-')[0]]}, sync {label.split('-')[1]}" for label in labels]
    lines = ["| measure | " + " | ".join(head) + " |", "|---|" + "---|" * len(labels)]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("`synchronous_mode` (DCS, groups 0/1/2)", [
        "/".join(str(r.get("sync_modes", {}).get(str(g), "?")) for g in GROUPS)
        for r in results.values()
    ])  # fmt: skip
    row("switchovers / failovers measured", [
        f"{len(_values(r, 'switchover', 'ctl_s'))} / {len(_values(r, 'failover', 'metadata_s'))}"
        for r in results.values()
    ])  # fmt: skip
    for name, kind, key, digits in ROWS:
        row(name, [one(_values(r, kind, key), digits) for r in results.values()])
    row(
        "**lost acknowledged writes**",
        [f"**{r.get('lost_acknowledged_writes', '?')}**" for r in results.values()],
    )
    row("acknowledged writes / successful reads", [
        f"{r.get('acknowledged_writes', '?')} / {r.get('ok_reads', '?')}" for r in results.values()
    ])  # fmt: skip
    row(
        "writers' failed read-backs (all events)",
        [str(r.get("failed_read_backs", "?")) for r in results.values()],
    )
    row("failed ops outside events / wrong read results", [
        f"{r.get('failed_before_events', '?')} / {r.get('wrong_reads', '?')}" for r in results.values()
    ])  # fmt: skip
    row("`pg_dist_node` = DCS leaders at the end", [
        "yes" if r.get("metadata_consistent_at_end") else "**no**" for r in results.values()
    ])  # fmt: skip
    row("formation start-up / whole run, s", [
        f"{r.get('startup_s', 0):.0f} / {r.get('wall_s', 0):.0f}" for r in results.values()
    ])  # fmt: skip
    for label, result in results.items():
        if "error" in result:
            lines.append(f"\n**{label} failed**: {result['error']}")
    return lines


def benchmarks_section(
    results: dict[str, dict[str, Any]], args: argparse.Namespace, versions: dict[str, str], wall: float
) -> str:
    lines = [
        TITLE,
        "",
        f"Machine: {host(platform.machine())}; Python {versions['python']}; Patroni {versions['patroni']}; "
        f"Citus {versions['citus']}; PostgreSQL {find_bindir().parent.name}. Run at {run_at()}; "
        f"the {len(results)} runs took {wall / 60:.1f} min; load average {versions['load']} at the start.",
        "",
        "Method: one etcd and, for each run, a fresh coordinator and two worker groups of two members on "
        f"127.0.0.1 (`loop_wait` {args.loop_wait}, `ttl` 20, `retry_timeout` 5), the same generated "
        "configuration for plain `patroni` (its built-in Citus support), `patroni-mpp run` (the "
        "`citus` engine wheel) and `patroni-mpp run --fast-switchover` (the same with "
        "`PATRONI_MPP_FAST_SWITCHOVER=1` on every member), under Patroni's default for a `citus` section "
        "(`synchronous_mode: quorum`) and with "
        f"`synchronous_mode: false`. Clients through the coordinator: {args.writers} writer threads "
        "(inserts, one read-back every ten, whose failures count apart from the writes) and one reader "
        "(a row on each worker group per `SELECT`). "
        f"Events: {args.switchovers} planned switchovers of worker group 1 (`ctl switchover --group 1`, "
        "alternating direction), then `kill -9` of the leader of worker group 2 (Patroni, then its "
        f"postmaster), restarted once `pg_dist_node` names the new leader; {args.settle:g} s of load after "
        "each event, which starts once the group has a streaming (quorum) standby. `pg_dist_node` is polled "
        "on the coordinator every 25 ms. Client figures of an event count from its start to the next "
        "event's start. *Longest write pause*: longest gap between two successful writes of one writer "
        "thread. *Read-error window*: from the reader's first failure to its first success after the last "
        "one. *→ committed*: from starting the switchover command (the kill) until `pg_dist_node` names the "
        "new leader as primary; *first a `secondary` row*: until it first holds the old leader as a "
        "`secondary` row (such a row may name a node that is not running yet); *for good*: since when it "
        "holds that row without a break up to the next event (the scenario waits, after the old leader "
        "streams again, up to 45 s for the row); *streaming again*: until the old leader is a replica "
        "again (a quorum standby under synchronous replication). *Demote →*: from the old leader's "
        "log line `switchover: demoting myself` (so without the start-up of the `ctl` process and the wait "
        "for the leader's next HA cycle, which the command-based rows include). Cells: median / max over the "
        "switchovers; one value for the failover. Details: the docstring of `bench/e2e_citus.py`.",
        "",
        *figures_table(results),
        *ratios(results),
        *notes(results),
    ]
    return "\n".join(lines)


RATIOS = [
    # label, event key
    ("longest write pause", "write_pause_s"),
    ("read-error window", "read_error_window_s"),
    ("old primary streaming again", "rejoined_s"),
    ("`pg_dist_node` committed", "metadata_s"),
]


def ratios(results: dict[str, dict[str, Any]]) -> list[str]:
    """Medians of the switchover figures of every flavour against plain Patroni's, per synchronous mode."""
    modes = list(dict.fromkeys(label.split("-")[1] for label in results))
    flavours = [f for f in dict.fromkeys(label.split("-")[0] for label in results) if f != "plain"]
    if not flavours or not any(k.startswith("plain-") for k in results):
        return []
    lines = [
        "",
        "Switchover medians against plain `patroni` (ratio = flavour / plain; lower is better):",
        "",
        "| median, s | sync | plain `patroni` | " + " | ".join(LABELS[f] for f in flavours) + " |",
        "|---|---|---|" + "---|" * len(flavours),
    ]
    for name, key in RATIOS:
        for mode in modes:
            base = _median(results.get(f"plain-{mode}", {}), key)
            cells = []
            for flavour in flavours:
                value = _median(results.get(f"{flavour}-{mode}", {}), key)
                ratio = "" if value is None or not base else f" ({value / base:.2f}x)"
                cells.append("-" if value is None else f"{value:.2f}{ratio}")
            lines.append(
                f"| {name} | {mode} | {'-' if base is None else f'{base:.2f}'} | " + " | ".join(cells) + " |"
            )
    return lines


def _median(result: dict[str, Any], key: str) -> float | None:
    values = [float(v) for v in _values(result, "switchover", key) if v is not None]
    return statistics.median(values) if values else None


def notes(results: dict[str, dict[str, Any]]) -> list[str]:
    """Observations that hold for the data: when the old leader's secondary row appeared; lost writes."""
    found = []
    events = [e for r in results.values() for e in r.get("events", [])]
    if events and all(
        e["secondary_first_s"] is not None and e["secondary_first_s"] == e["metadata_s"] for e in events
    ):
        found.append(
            "In every event of every run the old leader's first `secondary` row appeared in the same "
            "observed `pg_dist_node` change that named the new primary, that is before the old leader ran "
            "again."
        )
    for label, r in results.items():
        flavour, mode = label.split("-")
        run = f"{LABELS[flavour]}, sync {mode}"
        own = r.get("events", [])
        readded = [e for e in own if e["secondary_s"] != e["secondary_first_s"]]
        if readded:
            kinds = ", ".join(sorted({e["kind"] for e in readded}))
            found.append(
                f"{run}: in {len(readded)} of {len(own)} events ({kinds}) the old leader's `secondary` "
                "row was removed after it first appeared and added again later (or was missing at the next "
                "event)."
            )
        for lost in r.get("lost_ids", []):
            found.append(
                f"{run}: lost id {lost['id']} (worker group {lost['group']}), acknowledged "
                f"{lost['acknowledged_s_after_previous_event']} s after the start of the "
                f"{lost['previous_event']}."
            )
    return ["", *[f"- {line}" for line in found]] if found else []


def reliability_section(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "### Citus on real Citus under client load: client errors and lost writes (`bench/e2e_citus.py`)",
        "",
        f"Run at {run_at()}: a coordinator and two worker groups of two members, {args.writers} writers and "
        f"one reader through the coordinator, {args.switchovers} planned switchovers of a worker group and "
        "one `kill -9` of a worker leader (Patroni and postmaster) per run, each run on a fresh formation. "
        "Timings and method: [BENCHMARKS.md](BENCHMARKS.md) (`bench/e2e_citus.py`). Lost acknowledged writes "
        "must be 0 under synchronous (quorum) replication; with `synchronous_mode` off, a write acknowledged "
        "in the last milliseconds before the killed postmaster died may be missing on the promoted replica "
        "(asynchronous replication), in either flavour.",
        "",
        "| run | failed writes (switchovers / failover) | failed reads (switchovers / failover) "
        "| wrong read results | lost acknowledged writes | `pg_dist_node` = DCS at the end |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        flavour, mode = label.split("-")
        if "error" in r:
            lines.append(f"| {LABELS[flavour]}, sync {mode} | run failed: {r['error'][:120]} | | | | |")
            continue
        writes = [sum(_values(r, kind, "failed_writes")) for kind in ("switchover", "failover")]
        reads = [sum(_values(r, kind, "failed_reads")) for kind in ("switchover", "failover")]
        lines.append(
            f"| {LABELS[flavour]}, sync {mode} | {writes[0]} / {writes[1]} | {reads[0]} / {reads[1]} "
            f"| {r.get('wrong_reads')} | **{r.get('lost_acknowledged_writes')}** "
            f"| {'yes' if r.get('metadata_consistent_at_end') else 'no'} |"
        )
    return "\n".join(lines)
