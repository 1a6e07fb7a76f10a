"""Server parameters Citus needs, set in every ``postgresql.conf`` the host writes."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

__all__ = ["adjust_gucs"]


def _as_int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def adjust_gucs(parameters: MutableMapping[str, Any], local_host: str | None) -> None:
    """Change the parameters the host is about to write, in place; idempotent.

    * ``shared_preload_libraries``: ``citus`` first (once), then the others, no blanks;
    * ``max_prepared_transactions``: twice ``max_connections`` when it is 0 (Citus uses two-phase commit);
    * ``wal_level``: ``logical`` (shard moves and splits use logical replication);
    * ``citus.local_hostname``: the host of the local superuser connection (``localhost`` when unknown).

    :param parameters: the (case-insensitive) GUC dict.
    :param local_host: the ``host`` of the local superuser connection parameters, if known.
    """
    libraries = str(parameters.get("shared_preload_libraries") or "").split(",")
    others = [lib.strip() for lib in libraries if lib.strip() and lib.strip() != "citus"]
    parameters["shared_preload_libraries"] = ",".join(["citus", *others])
    if _as_int(parameters.get("max_prepared_transactions", 0), -1) == 0:
        parameters["max_prepared_transactions"] = 2 * _as_int(parameters.get("max_connections", 100), 100)
    parameters["wal_level"] = "logical"
    parameters["citus.local_hostname"] = local_host or "localhost"
