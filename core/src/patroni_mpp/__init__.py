"""patroni-mpp: pluggable MPP (sharded PostgreSQL) engines for Patroni.

The public API: the engine base classes, discovery (:func:`get_mpp`, :func:`iter_mpp_classes`,
:func:`installed_engines`, :func:`load_engine`), the
structural types of the host objects engines receive, and the errors. Hook markers and
specifications live in :mod:`patroni_mpp.hookspecs`.
"""

from ._abstract import GROUP_RE, AbstractMPP, AbstractMPPHandler
from ._core_version import core_version, installed_version
from ._discovery import (
    EngineReport,
    clear_caches,
    configured_section,
    get_mpp,
    iter_engine_reports,
    iter_mpp_classes,
    load_engine,
)
from ._entry_points import EngineCandidate, installed_engines
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
from ._loaded_engine import LoadedEngine
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

__version__ = core_version()
"""The installed core's version (``0+unknown`` when run from a source tree)."""

__all__ = [
    "ENTRY_POINT_GROUP",
    "GROUP_RE",
    "KNOWN_ENGINE_WHEELS",
    "NULL_ENGINE",
    "AbstractMPP",
    "AbstractMPPHandler",
    "ClusterLike",
    "ConnectionPoolLike",
    "EngineCandidate",
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
    "core_version",
    "env_var_name",
    "environment_overrides",
    "get_mpp",
    "hookimpl",
    "installed_engines",
    "installed_version",
    "iter_engine_reports",
    "iter_mpp_classes",
    "load_engine",
]
