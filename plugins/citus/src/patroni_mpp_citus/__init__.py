"""The Citus MPP engine for patroni-mpp: ``pg_dist_node`` managed from Patroni's DCS view.

Installed as the ``citus`` entry point of the ``patroni.mpp`` group; configure it with a ``citus:``
section
(``group``, ``database``). See the package README for what the engine does on each event and where
it
deliberately differs from Patroni's built-in Citus support.
"""

from importlib import metadata as _metadata

from ._config import CitusConfig, config_problems, parse_group
from ._errors import (
    CitusBootstrapError,
    CitusError,
    CitusEventError,
    MetadataDeadlineError,
    MetadataQueryError,
)
from ._events import CitusEvent, parse_event
from ._handler import CitusHandler
from ._identity import COORDINATOR_GROUP_ID, GROUP_RE, Citus
from ._model import (
    AFTER_PROMOTE,
    BEFORE_DEMOTE,
    BEFORE_PROMOTE,
    DEMOTED,
    KNOWN_ROLES,
    PRIMARY,
    REMOVE,
    SECONDARY,
    Group,
    Outcome,
    Row,
    Task,
)
from ._promotion import PROMOTION_THREAD_PREFIX
from ._store import MetadataStore
from ._transition import transition
from ._worker import METADATA_THREAD_NAME, MetadataWorker

ENGINE_THREAD_PREFIXES = (METADATA_THREAD_NAME, PROMOTION_THREAD_PREFIX)
"""Name prefixes of every thread the engine starts (tests check that none is left running)."""

try:
    __version__ = _metadata.version("patroni-mpp-citus")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "AFTER_PROMOTE",
    "BEFORE_DEMOTE",
    "BEFORE_PROMOTE",
    "COORDINATOR_GROUP_ID",
    "DEMOTED",
    "ENGINE_THREAD_PREFIXES",
    "GROUP_RE",
    "KNOWN_ROLES",
    "PRIMARY",
    "REMOVE",
    "SECONDARY",
    "Citus",
    "CitusBootstrapError",
    "CitusConfig",
    "CitusError",
    "CitusEvent",
    "CitusEventError",
    "CitusHandler",
    "Group",
    "MetadataDeadlineError",
    "MetadataQueryError",
    "MetadataStore",
    "MetadataWorker",
    "Outcome",
    "Row",
    "Task",
    "__version__",
    "config_problems",
    "parse_event",
    "parse_group",
    "transition",
]
