"""TimescaleDB engine for patroni-mpp, and the template for engine authors.

It preloads the ``timescaledb`` library and creates the extension when a cluster is bootstrapped;
see the package README for what it does not do. The hook implementations live in
:mod:`patroni_mpp_timescaledb.hooks`, the module the ``timescaledb`` entry point names.
"""

from patroni_mpp import installed_version

from ._config import COORDINATOR_GROUP_ID, TimescaleDBConfig
from ._engine import TimescaleDB, TimescaleDBHandler, TimescaleDBNotInstalledError

__version__ = installed_version("patroni-mpp-timescaledb")

__all__ = [
    "COORDINATOR_GROUP_ID",
    "TimescaleDB",
    "TimescaleDBConfig",
    "TimescaleDBHandler",
    "TimescaleDBNotInstalledError",
    "__version__",
]
