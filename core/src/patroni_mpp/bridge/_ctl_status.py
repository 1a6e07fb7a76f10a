"""``patroni-mpp ctl mpp-status``: the engine status (``GET /mpp``) of every member of the formation.

The command reads the members from the DCS as ``list`` does (every group of an MPP formation unless
``--group`` is given) and asks each member's REST API with patronictl's own request helper, so the
``ctl`` section's credentials and TLS settings apply. A member that does not answer is shown with the error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import yaml

logger = logging.getLogger(__name__)

COMMAND = "mpp-status"
"""The command's name."""

COLUMNS = ["Group", "Member", "Engine", "Version", "Role", "Status"]
"""Columns of the ``pretty`` and ``tsv`` formats."""


def _ctl() -> Any:
    import patroni.ctl

    return patroni.ctl


def formation_members(cluster: Any, group: int | None, mpp_enabled: bool) -> list[tuple[int | None, Any]]:
    """``(group, member)`` of every member to ask, groups in order, as ``list`` shows them.

    :param cluster: the cluster read from the DCS (its ``workers`` hold the other groups of a formation).
    :param group: the group asked for with ``--group``, or None.
    :param mpp_enabled: whether an MPP engine is configured.
    """
    if not mpp_enabled:
        return [(None, member) for member in cluster.members]
    clusters = {group if group is not None else 0: cluster}
    if group is None:
        clusters.update(cluster.workers)
    return [(g, member) for g, c in sorted(clusters.items()) for member in c.members]


def member_status(member: Any) -> dict[str, Any]:
    """The ``GET /mpp`` document of one member, or ``{"error": ...}`` when it cannot be had."""
    try:
        response = _ctl().request_patroni(member, "get", "mpp")
        body = response.data.decode("utf-8")
        if response.status != 200:
            return {"error": f"HTTP {response.status}: {body.strip()[:200]}"}
        document = json.loads(body)
    except Exception as exc:
        logger.debug("GET /mpp of %s failed", member.name, exc_info=True)
        return {"error": f"{type(exc).__name__}: {exc}"}
    return document if isinstance(document, dict) else {"error": "the answer is not a JSON object"}


def _status_cell(document: dict[str, Any]) -> str:
    if "error" in document:
        return f"error: {document['error']}"
    shown = {k: document[k] for k in ("status", "status_error") if k in document}
    if not shown:
        return ""
    return yaml.safe_dump(shown.get("status", shown), default_flow_style=False, sort_keys=True).strip()


def show(cluster_name: str, group: int | None, fmt: str) -> None:
    """Print the status of every member of ``cluster_name`` (the command's body).

    :param cluster_name: the cluster (scope).
    :param group: only this group, or None for the whole formation.
    :param fmt: ``pretty``, ``tsv``, ``json`` or ``yaml``.
    """
    ctl = _ctl()
    dcs = ctl.get_dcs(cluster_name, group)
    cluster = dcs.get_cluster()
    mpp_enabled = ctl.is_citus_cluster()
    rows = []
    for member_group, member in formation_members(cluster, group, mpp_enabled):
        rows.append({"group": member_group, "member": member.name, **member_status(member)})
    if fmt in ("json", "yaml", "yml"):
        if fmt == "json":
            ctl.click.echo(json.dumps(rows, indent=2, sort_keys=True))
        else:
            ctl.click.echo(yaml.safe_dump(rows, default_flow_style=False, sort_keys=True), nl=False)
        return
    table = [
        [
            "" if row["group"] is None else row["group"],
            row["member"],
            row.get("engine", ""),
            row.get("version", ""),
            row.get("role", ""),
            _status_cell(row),
        ]
        for row in rows
    ]
    from ._ctl_names import engine_name

    name = engine_name()
    title = f" {name} cluster: {cluster_name} " if mpp_enabled and name else f" Cluster: {cluster_name} "
    ctl.print_output(COLUMNS, table, {"Group": "r", "Status": "l"}, fmt, title)


def make_command() -> Any:
    """The click command ``mpp-status [CLUSTER_NAME] [--group N] [--format F]``."""
    ctl = _ctl()
    click = ctl.click  # patronictl's click: core does not depend on click itself

    def mpp_status(cluster_name: str | None, group: int | None, fmt: str) -> None:
        if not cluster_name:
            raise ctl.PatroniCtlException("no cluster name given and none configured (scope)")
        show(cluster_name, group, fmt)

    formats = click.Choice(["pretty", "tsv", "json", "yaml", "yml"])
    params = [
        click.Argument(
            ["cluster_name"], required=False, default=lambda: ctl._get_configuration().get("scope")
        ),
        click.Option(["--group"], required=False, type=int, help="Citus group"),
        click.Option(["--format", "-f", "fmt"], help="Output format", default="pretty", type=formats),
    ]
    return click.Command(
        COMMAND,
        callback=mpp_status,
        params=params,
        help="Show the MPP engine status (GET /mpp) of every member",
    )


class _Commands(dict[str, Any]):
    """patronictl's table of commands plus ours (a dict that can carry the bridge's marker)."""


def add_status_command(ctl_group: Any) -> bool:
    """Add ``mpp-status`` to patronictl's command group (undone by ``uninstall``).

    :returns: True when it was added now.
    """
    from ._patching import replace

    def with_command(commands: Any) -> Any:
        return _Commands({**commands, COMMAND: make_command()})

    return replace(ctl_group, "commands", with_command)
