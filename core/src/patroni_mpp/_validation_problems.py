"""Field problems from pydantic's validation errors, with key paths as operators read them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from ._errors import FieldProblem


def problems_from_validation(exc: ValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into field problems with dotted locations (never echoing values).

    :param exc: the validation error of a config model.
    :returns: one problem per error, in pydantic's order.
    """
    return [
        FieldProblem(field_location(err["loc"]), err["msg"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def field_location(parts: Iterable[Any]) -> str:
    """A key path as operators read it: ``group``, ``nodes.0.host``.

    A key that is not a plain word (it has a dot, a blank, a control character, or is empty) is
    shown quoted in brackets, ``["a.b"]``, so that the path stays unambiguous and on one line.

    :param parts: the keys and list indices, outermost first.
    """
    text = ""
    for part in parts:
        if isinstance(part, int) or (isinstance(part, str) and _PLAIN_KEY.fullmatch(part)):
            text += f".{part}" if text else str(part)
        else:
            text += "[" + json.dumps(str(part)) + "]"
    return text
