"""Checks of the observation hooks (``mpp_status``, ``mpp_metrics``) for the conformance suite.

The bridge turns what the hooks answer into ``GET /mpp`` and the engine's part of ``GET /metrics``; these
checks build both for a running handler exactly as the bridge does and hold them to the contract: the
status is a mapping of JSON values that needed no repair, the metrics parse with prometheus_client's own
text parser, no family was dropped, and a hook did not fail. Engines without the hooks pass with their
identity.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._abstract import AbstractMPPHandler
    from .._loaded_engine import LoadedEngine

logger = logging.getLogger(__name__)


class _Dropped(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def check_observation(loaded_engine: LoadedEngine, handler: AbstractMPPHandler) -> dict[str, Any]:
    """Build the handler's status and metrics as the bridge does and check them.

    :param loaded_engine: the plugin as discovery loaded it.
    :param handler: a running handler of that plugin.
    :returns: the status document (for further checks by the caller).
    :raises AssertionError: with what is wrong.
    """
    from prometheus_client.parser import text_string_to_metric_families

    from ..bridge._metrics import UP_METRIC, render_metrics
    from ..bridge._observe import Observed
    from ..bridge._status import build_status

    observed = Observed(loaded_engine, handler, scope="conformance", member="node1")
    raw = observed.call("mpp_status")
    assert raw is None or hasattr(raw, "items"), f"mpp_status answered {type(raw).__name__}, not a mapping"
    if raw is not None:
        json.dumps(dict(raw), allow_nan=False)  # raises when the answer needs the bridge's repairs
    document = build_status(observed)
    assert "status_error" not in document, document["status_error"]
    assert document["engine"] == loaded_engine.name
    dropped = _Dropped()
    metrics_logger = logging.getLogger("patroni_mpp.bridge._metrics")
    metrics_logger.addHandler(dropped)
    try:
        text = render_metrics(observed)
    finally:
        metrics_logger.removeHandler(dropped)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert not dropped.messages, "; ".join(dropped.messages)
    up = [sample.value for sample in families[UP_METRIC].samples]
    assert up == [1], "the engine's mpp_metrics hook failed (patroni_mpp_engine_metrics_up is 0)"
    return document
