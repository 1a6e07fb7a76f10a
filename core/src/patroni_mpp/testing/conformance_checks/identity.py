"""Checks of the identity an engine derives from its section: type, label, group and role."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..._abstract import AbstractMPP, AbstractMPPHandler
from ..._protocols import PostgresqlLike
from .failure import fail
from .samples import GROUP_STRINGS

K8S_LABEL_RE = re.compile(r"^(?:[a-z0-9A-Z](?:[-a-z0-9_.A-Z]{0,61}[a-z0-9A-Z])?)$")
"""The name part of a Kubernetes label key (at most 63 characters)."""

CITUS_TYPE = "Citus"
"""The one ``type`` the host treats apart: workers of an engine of this type post to ``/citus``."""

CITUS_SECTION = "citus"
"""The section of Patroni's own Citus support."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_identity(engine: AbstractMPP) -> None:
    """Check the derived identity of a descriptor (or handler).

    :param engine: an engine built from a valid section.
    :raises AssertionError: for a non-string or abstract ``type``, an invalid Kubernetes label,
        non-bool answers, coordinator and worker answers that contradict each other or the group, or
        an enabled engine whose group ids are not integers that its ``group_re`` recognises.
    """
    kind = engine.type
    if not isinstance(kind, str) or not kind or kind.startswith("Abstract"):
        raise fail(f"type {kind!r} must be the engine's class name (check the base-class order)")
    label = engine.k8s_group_label
    if not isinstance(label, str) or not K8S_LABEL_RE.match(label):
        raise fail(f"k8s_group_label {label!r} is not a valid Kubernetes label name")
    answers = {
        "is_enabled()": engine.is_enabled(),
        "is_coordinator()": engine.is_coordinator(),
        "is_worker()": engine.is_worker(),
    }
    for call, answer in answers.items():
        if not isinstance(answer, bool):
            raise fail(f"{call} returned {answer!r}, not a bool")
    enabled, coordinator, worker = answers.values()
    if not enabled:
        if coordinator or worker:
            raise fail("a disabled engine must be neither coordinator nor worker")
        return
    if coordinator == worker:
        raise fail(f"an enabled engine is exactly one of coordinator and worker, got {answers}")
    if coordinator != (engine.group == engine.coordinator_group_id):
        raise fail(
            f"is_coordinator() is {coordinator} but group {engine.group!r} vs coordinator group "
            f"{engine.coordinator_group_id!r} says otherwise"
        )
    for attr in ("group", "coordinator_group_id"):
        value = getattr(engine, attr)
        if not _is_int(value):
            raise fail(f"{attr} of an enabled engine must be an int (DCS keys are read back with "
                       f"int()), got {value!r}")  # fmt: skip
        if not engine.group_re.match(str(value)):
            raise fail(
                f"group_re {engine.group_re.pattern!r} does not match {str(value)!r} ({attr}): the "
                "coordinator would not see this group in the DCS"
            )


def check_group_re(pattern: re.Pattern[str], strings: Iterable[str] = GROUP_STRINGS) -> list[str]:
    """Check that ``pattern`` matches only strings that ``int()`` accepts.

    :param pattern: an engine's ``group_re``.
    :param strings: candidate key components and label values.
    :returns: the strings it matched.
    :raises AssertionError: naming every matched string that ``int()`` rejects.
    """
    matched: list[str] = []
    bad: list[str] = []
    for text in strings:
        if pattern.match(text):
            matched.append(text)
            try:
                int(text)
            except ValueError:
                bad.append(text)
    if bad:
        raise fail(
            f"group_re {pattern.pattern!r} matches {bad!r}, which int() rejects: every DCS loader "
            "converts a matching key or label with int()"
        )
    return matched


def check_handler_identity(
    engine: AbstractMPP, handler: Any, postgresql: PostgresqlLike
) -> AbstractMPPHandler:
    """Check that the handler is an :class:`AbstractMPPHandler` with its descriptor's identity.

    :param engine: the descriptor.
    :param handler: what building the handler gave.
    :param postgresql: the host object it was built for.
    :returns: the handler.
    """
    if not isinstance(handler, AbstractMPPHandler):
        raise fail(f"the handler {handler!r} is not an AbstractMPPHandler")
    check_identity(handler)
    for attr in ("type", "k8s_group_label", "group", "coordinator_group_id", "config"):
        if getattr(handler, attr) != getattr(engine, attr):
            raise fail(
                f"handler.{attr} is {getattr(handler, attr)!r} but the descriptor's is "
                f"{getattr(engine, attr)!r} (subclass the descriptor first: "
                "class MyHandler(MyEngine, AbstractMPPHandler))"
            )
    for call in ("is_enabled", "is_coordinator", "is_worker"):
        if getattr(handler, call)() != getattr(engine, call)():
            raise fail(f"handler.{call}() differs from the descriptor's")
    if handler.postgresql is not postgresql:
        raise fail("handler.postgresql is not the host object the handler was built for")
    return handler


def check_type_fits_section(engine: AbstractMPP, section: str) -> None:
    """Check ``type`` and ``k8s_group_label`` against the section the engine serves.

    ``type`` is ``Citus`` exactly when the section is ``citus``: a worker posts its notifications
    to ``/citus`` when its type is ``Citus`` and to ``/mpp`` otherwise. ``k8s_group_label`` is
    ``type.lower() + "-group"``, the label the host contract gives and operators put on pods.

    :param engine: a descriptor (or handler) of the engine.
    :param section: the section (entry point) name.
    :raises AssertionError: when either does not fit.
    """
    kind = engine.type
    if kind == CITUS_TYPE and section != CITUS_SECTION:
        raise fail(
            f"type is {CITUS_TYPE!r} but the engine serves the section {section!r}: Patroni's "
            f"workers post their events to the coordinator's /citus endpoint when the type is "
            f"exactly {CITUS_TYPE!r}, so this engine's events would be routed as Citus events "
            f"(rename the descriptor class, e.g. after the section)"
        )
    if section == CITUS_SECTION and kind != CITUS_TYPE:
        raise fail(
            f"the engine serves Patroni's {CITUS_SECTION!r} section but its type is {kind!r}, not "
            f"{CITUS_TYPE!r}: its workers would post to /mpp where Patroni's Citus workers post to "
            "/citus, and its Kubernetes label would not be citus-group"
        )
    label = engine.k8s_group_label
    expected = f"{kind.lower()}-group" if isinstance(kind, str) else None
    if label != expected:
        raise fail(
            f"k8s_group_label is {label!r}, not {expected!r} (type lower-cased + '-group'): "
            "operators label pods with the group by that rule, and a Kubernetes DCS reading "
            "another label finds no group"
        )


def check_coordinator_mark(engine: AbstractMPP, marked: bool) -> None:
    """Check a descriptor built from a valid sample against the author's coordinator mark.

    :param engine: the descriptor.
    :param marked: whether the sample was marked ``Coordinator(...)``.
    :raises AssertionError: when a marked sample is not the coordinator (``is_coordinator()``
        false, or ``group != coordinator_group_id``) or an unmarked one is.
    """
    group, coordinator_id = engine.group, engine.coordinator_group_id
    if marked and not (engine.is_coordinator() and group == coordinator_id):
        raise fail(
            f"the sample marked Coordinator(...) is not the coordinator: is_coordinator() is "
            f"{engine.is_coordinator()}, group {group!r}, coordinator_group_id {coordinator_id!r}. "
            "Patroni would treat this cluster as a worker: it reads only its own group from the "
            "DCS, never calls sync_meta_data effectively, and its leader answers workers' events "
            "without processing them; the DCS reads the coordinator under group "
            f"{coordinator_id!r}"
        )
    if not marked and engine.is_coordinator():
        raise fail(
            f"a sample not marked Coordinator(...) gives the coordinator (group {group!r} == "
            f"coordinator_group_id {coordinator_id!r}): mark it, or check group and "
            "coordinator_group_id"
        )
