"""``GET /mpp`` and ``GET /metrics`` as the bridge installs them, on a request object shaped like Patroni's.

Patroni is not installed in core's test venv: the replacements are built from stand-ins of Patroni's
originals (a health check, a metrics handler writing one text response). The e2e tests check the same
endpoints on real Patroni nodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from patroni_mpp import get_mpp
from patroni_mpp.bridge._rest import wrap_get, wrap_metrics
from patroni_mpp.testing.host import LocalPostgresql
from prometheus_client.parser import text_string_to_metric_families

PATRONI_TEXT = (
    "# HELP patroni_version Patroni semver without periods.\n"
    "# TYPE patroni_version gauge\n"
    'patroni_version{scope="demo",name="node1"} 040105\n'
    "# HELP patroni_primary Value is 1 if this node is the leader, 0 otherwise.\n"
    "# TYPE patroni_primary gauge\n"
    'patroni_primary{scope="demo",name="node1"} 1'
)


@dataclass
class Request:
    """The part of Patroni's ``RestApiHandler`` the replacements use."""

    path: str
    server: Any
    written: list[tuple[int, str, str]] = field(default_factory=list)

    def write_response(
        self, status: int, body: str, content_type: str = "text/html", headers: Any = None
    ) -> None:
        self.written.append((status, body, content_type))

    def _write_json_response(self, status: int, response: Any) -> None:
        self.write_response(status, json.dumps(response), "application/json")


def health_check(self: Request, write_status_code_only: bool = False) -> None:
    self.write_response(503 if write_status_code_only else 200, "health", "application/json")


def patroni_metrics(self: Request) -> None:
    self.write_response(200, PATRONI_TEXT + "\n", content_type="text/plain")


def _request(path: str, config: dict[str, Any] | None = None) -> Request:
    postgresql = LocalPostgresql("node1", "127.0.0.1", 5432)
    handler = get_mpp(config or {}).get_handler_impl(postgresql)
    host = SimpleNamespace(mpp_handler=handler, name="node1", scope="demo")
    return Request(path, SimpleNamespace(patroni=SimpleNamespace(config=config or {}, postgresql=host)))


def test_get_mpp_serves_the_status() -> None:
    request = _request("/mpp")
    wrap_get(health_check)(request)
    [(status, body, content_type)] = request.written
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["engine"] == "null"


def test_other_paths_and_head_keep_the_health_check() -> None:
    for path, only_code in (("/citus", False), ("/", False), ("/mpp", True)):
        request = _request(path)
        wrap_get(health_check)(request, only_code)
        assert [body for _, body, _ in request.written] == ["health"]


def test_status_lookup_failure_is_503() -> None:
    request = Request("/mpp", SimpleNamespace(patroni=None))
    wrap_get(health_check)(request)
    assert [(s, c) for s, _, c in request.written] == [(503, "text/plain")]


def test_metrics_are_appended_to_patronis() -> None:
    request = _request("/metrics")
    wrap_metrics(patroni_metrics)(request)
    [(status, body, content_type)] = request.written
    assert (status, content_type) == (200, "text/plain")
    assert body.startswith(PATRONI_TEXT + "\n")
    names = [family.name for family in text_string_to_metric_families(body)]
    assert names == [
        "patroni_version",
        "patroni_primary",
        "patroni_mpp_engine_info",
        "patroni_mpp_engine_metrics_up",
    ]
    assert "write_response" not in vars(request)  # the catching stand-in is gone


def test_metrics_failure_serves_patronis_text_unchanged() -> None:
    request = _request("/metrics")
    request.server.patroni = SimpleNamespace(config={}, postgresql=None)
    wrap_metrics(patroni_metrics)(request)
    assert [body for _, body, _ in request.written] == [PATRONI_TEXT + "\n"]
