"""The Citus MPP engine for patroni-mpp: ``pg_dist_node`` managed from Patroni's DCS view.

Installed as the ``citus`` entry point of the ``patroni.mpp`` group; configure it with a ``citus:`` section
(``group``, ``database``). See the package README for what the engine does on each event and where it
deliberately differs from Patroni's built-in Citus support.

The package exports the engine (:class:`Citus`), its handler (:class:`CitusHandler`), the section model
(:class:`CitusConfig`) and the errors. Everything else lives in private modules.
"""

from patroni_mpp import installed_version

from ._config import CitusConfig
from ._errors import (
    CitusBootstrapError,
    CitusError,
    CitusEventError,
    MetadataDeadlineError,
    MetadataQueryError,
)
from ._handler import CitusHandler
from ._identity import Citus

__version__ = installed_version("patroni-mpp-citus")

__all__ = [
    "Citus",
    "CitusBootstrapError",
    "CitusConfig",
    "CitusError",
    "CitusEventError",
    "CitusHandler",
    "MetadataDeadlineError",
    "MetadataQueryError",
    "__version__",
]
