"""The Citus descriptor: identity questions the DCS layer asks before PostgreSQL exists."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from patroni_mpp import GROUP_RE, AbstractMPP

from ._config import config_problems, parse_group, section_databases
from ._model import COORDINATOR_GROUP_ID

__all__ = ["GROUP_RE", "SECTION", "Citus"]

SECTION = "citus"
"""The configuration section (the ``patroni.mpp`` entry point name) of this engine; the host also keeps
a copy of it in its ``postgresql`` section."""


class Citus(AbstractMPP):
    """Descriptor of the Citus engine, built from the validated ``citus`` section.

    Its :attr:`type` is ``Citus``, so Patroni workers notify the coordinator on ``/citus``.
    """

    group_re: ClassVar[re.Pattern[str]] = GROUP_RE

    @staticmethod
    def validate_config(config: Any) -> bool:
        """True when ``config`` is a mapping that :class:`~patroni_mpp_citus.CitusConfig` accepts.

        An empty section (``{}``, or None for a bare ``citus:``) is refused, as discovery refuses it
        (the engine guide's policy for an empty section): unlike in Patroni, it never means "MPP off".

        :param config: the raw section value, of any type.
        :returns: whether the section is usable.
        """
        return isinstance(config, Mapping) and not config_problems(config)

    @property
    def group(self) -> int:
        """Citus group id of this cluster.

        :raises ValueError: when the section was not validated and holds an unusable group.
        """
        return parse_group(self.config["group"])

    @property
    def coordinator_group_id(self) -> int:
        """Always ``0``."""
        return COORDINATOR_GROUP_ID

    @property
    def database(self) -> str:
        """The first (with ``database``: the only) database holding the citus extension."""
        return self.databases[0]

    @property
    def databases(self) -> tuple[str, ...]:
        """Every database holding the citus extension, in the configured order."""
        return section_databases(self.config)
