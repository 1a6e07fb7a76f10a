"""Validation of the events workers POST to the coordinator (``/citus``, ``/mpp``).

Everything is checked before the engine looks at the event: a malformed event raises
:class:`~patroni_mpp_citus.CitusEventError` (a ``ValueError``) naming every offending field, and nothing is
queued and no SQL is run. Values are never echoed in the messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from patroni_mpp import FieldProblem
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from ._config import MAX_GROUP
from ._errors import CitusEventError
from ._model import DEFAULT_COOLDOWN_MS

__all__ = ["MAX_COOLDOWN", "MAX_TIMEOUT", "CitusEvent", "parse_event"]

MAX_TIMEOUT = 3600.0
"""Largest accepted ``timeout`` (seconds, the sender's ``ttl``): an hour-long pause is a mistake."""

MAX_COOLDOWN = 3600.0
"""Largest accepted ``cooldown`` (seconds): the sender's ``retry_timeout``."""

_Seconds = StrictFloat
"""A JSON number (integer or not); strings and booleans are refused."""


class CitusEvent(BaseModel):
    """One event: a worker primary tells the coordinator about a demotion or a promotion.

    Unknown keys are ignored (a newer sender may add some).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    type: Literal["before_demote", "before_promote", "after_promote"] = Field(
        description="What happens on the sending worker."
    )
    group: Annotated[StrictInt, Field(ge=0, le=MAX_GROUP)] = Field(
        description="The sender's Citus group (an integer)."
    )
    leader: Annotated[StrictStr, Field(min_length=1)] = Field(
        description="The sender's member name; must be its group's leader in the DCS."
    )
    timeout: Annotated[_Seconds, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] = Field(
        description="Seconds the coordinator may keep the group paused (the sender's ttl)."
    )
    cooldown: Annotated[_Seconds, Field(ge=0, le=MAX_COOLDOWN, allow_inf_nan=False)] = Field(
        description="Seconds before citus_update_node cancels blocking queries (retry_timeout)."
    )

    @property
    def cooldown_ms(self) -> int:
        """``cooldown`` in milliseconds, 10000 when zero."""
        return round(self.cooldown * 1000) or DEFAULT_COOLDOWN_MS

    def describe(self) -> str:
        """One line for logs."""
        return (
            f"{self.type} for group {self.group} from {self.leader!r} "
            f"(timeout {self.timeout}s, cooldown {self.cooldown}s)"
        )


def parse_event(event: Any) -> CitusEvent:
    """Validate a parsed JSON request body.

    :param event: the body as the host parsed it.
    :returns: the validated event.
    :raises CitusEventError: with one problem per offending field.
    """
    if not isinstance(event, Mapping):
        raise CitusEventError([FieldProblem("", f"must be a JSON object, not {type(event).__name__}")])
    try:
        return CitusEvent.model_validate(event)
    except ValidationError as exc:
        problems = [
            FieldProblem(".".join(str(part) for part in err["loc"]), err["msg"])
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise CitusEventError(problems) from None
