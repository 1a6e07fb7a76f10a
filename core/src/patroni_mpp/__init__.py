"""patroni-mpp: pluggable MPP (sharded PostgreSQL) engines for Patroni.

The public API: the engine base classes, discovery (:func:`get_mpp`, :func:`iter_mpp_classes`), the
structural types of the host objects engines receive, and the errors. Hook markers and
specifications live in :mod:`patroni_mpp.hookspecs`.
"""

from importlib import metadata as _metadata

from ._abstract import GROUP_RE, AbstractMPP, AbstractMPPHandler
from ._discovery import (
    EngineReport,
    LoadedEngine,
    clear_caches,
    configured_section,
    get_mpp,
    iter_engine_reports,
    iter_mpp_classes,
    load_engine,
)
from ._environment import apply_environment, env_var_name, environment_overrides
from ._errors import (
    EngineConfigError,
    EngineConflictError,
    EngineLoadError,
    EngineNotInstalledError,
    EngineSource,
    FieldProblem,
    HandlerNotFoundError,
    MPPError,
    MultipleEnginesError,
)
from ._protocols import (
    ClusterLike,
    ConnectionPoolLike,
    LeaderLike,
    MemberLike,
    NamedConnectionLike,
    PostgresConfigLike,
    PostgresqlLike,
)
from ._sections import ENTRY_POINT_GROUP, KNOWN_ENGINE_WHEELS, NULL_ENGINE
from .hookspecs import hookimpl

try:
    __version__ = _metadata.version("patroni-mpp")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ENTRY_POINT_GROUP",
    "GROUP_RE",
    "KNOWN_ENGINE_WHEELS",
    "NULL_ENGINE",
    "AbstractMPP",
    "AbstractMPPHandler",
    "ClusterLike",
    "ConnectionPoolLike",
    "EngineConfigError",
    "EngineConflictError",
    "EngineLoadError",
    "EngineNotInstalledError",
    "EngineReport",
    "EngineSource",
    "FieldProblem",
    "HandlerNotFoundError",
    "LeaderLike",
    "LoadedEngine",
    "MPPError",
    "MemberLike",
    "MultipleEnginesError",
    "NamedConnectionLike",
    "PostgresConfigLike",
    "PostgresqlLike",
    "__version__",
    "apply_environment",
    "clear_caches",
    "configured_section",
    "env_var_name",
    "environment_overrides",
    "get_mpp",
    "hookimpl",
    "iter_engine_reports",
    "iter_mpp_classes",
    "load_engine",
]
