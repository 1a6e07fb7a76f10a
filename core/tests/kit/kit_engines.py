"""The engine source of the kit's own tests, and the installer that writes it as a fake distribution.

:data:`GOOD_ENGINE` passes the whole conformance suite; tests break one thing in it (with
:func:`broken`) and check that the suite notices.
"""

from __future__ import annotations

import itertools
import textwrap
from typing import Any

import patroni_mpp
from patroni_mpp import AbstractMPP, AbstractMPPHandler, LoadedEngine, PostgresqlLike
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.distributions import DEFAULT_REQUIRES, FakeDists
from patroni_mpp.testing.host import LocalPostgresql

_counter = itertools.count()

GOOD_ENGINE = """
import re
import threading
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patroni_mpp import AbstractMPP, AbstractMPPHandler, hookimpl

NAME = "@NAME@"


class KitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database: str = Field(min_length=1, description="The engine's database.")
    group: int = Field(default=0, ge=0, description="The group id; 0 is the coordinator.")


def accepted(config):
    try:
        KitConfig.model_validate(config)
    except ValidationError:
        return False
    return True


class Kit(AbstractMPP):
    group_re: ClassVar[re.Pattern[str]] = re.compile(r"^(0|[1-9][0-9]*)$")

    @staticmethod
    def validate_config(config: Any) -> bool:
        return isinstance(config, dict) and isinstance(config.get("database"), str) and accepted(config)

    @property
    def group(self) -> Any:
        return self.config["group"]

    @property
    def coordinator_group_id(self) -> int:
        return 0


class KitHandler(Kit, AbstractMPPHandler):
    def __init__(self, postgresql, config):
        super().__init__(postgresql, config)
        self.stopped = threading.Event()
        if self.is_coordinator():
            self.thread = threading.Thread(
                target=self.stopped.wait, name=NAME + "-worker", daemon=True
            )
            self.thread.start()

    def stop(self):
        self.stopped.set()

    def handle_event(self, cluster, event):
        return None

    def sync_meta_data(self, cluster):
        return None

    def on_demote(self):
        return None

    def schedule_cache_rebuild(self):
        return None

    def bootstrap(self):
        return None

    def adjust_postgres_gucs(self, parameters):
        value = parameters.get("shared_preload_libraries") or ""
        libraries = [part.strip() for part in str(value).split(",") if part.strip()]
        if NAME not in libraries:
            libraries.append(NAME)
        parameters["shared_preload_libraries"] = ",".join(libraries)

    def ignore_replication_slot(self, slot):
        return slot.get("plugin") == NAME


@hookimpl
def mpp_config_model(name):
    return KitConfig if name == NAME else None


@hookimpl
def mpp_engine_class(name):
    return Kit if name == NAME else None
"""
"""An engine that passes the conformance suite; ``@NAME@`` is replaced by the engine name. Its
coordinator handler runs a daemon thread until ``stop()``."""

VALID = ({"database": "app"}, {"database": "app", "group": 2})
"""Valid sections of :data:`GOOD_ENGINE` (coordinator, worker)."""

INVALID = ({"database": ""}, {"database": "app", "group": -1}, {"group": 1}, {"database": 5})
"""Invalid sections of :data:`GOOD_ENGINE`."""


def broken(*replacements: tuple[str, str]) -> str:
    """:data:`GOOD_ENGINE` with each ``(old, new)`` replacement applied (``old`` must occur)."""
    source = GOOD_ENGINE
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    return source


class EngineInstaller:
    """Installs engines named ``kit<n>`` (module ``kit<n>_engine``) as fake distributions."""

    def __init__(self, dists: FakeDists) -> None:
        self.dists = dists

    def install(
        self,
        source: str = GOOD_ENGINE,
        *,
        requires: tuple[str, ...] = DEFAULT_REQUIRES,
        entry_point_value: str | None = None,
    ) -> str:
        """Install one engine distribution and return the engine name (unique per call)."""
        name = f"kit{next(_counter)}"
        module = f"{name}_engine"
        source = textwrap.dedent(source).replace("@NAME@", name)
        self.dists.add(
            f"{name}-engine", {name: entry_point_value or module}, {module: source}, requires=requires
        )
        patroni_mpp.clear_caches()
        return name

    def load(self, source: str = GOOD_ENGINE) -> LoadedEngine:
        """Install an engine and load it through discovery."""
        return patroni_mpp.load_engine(self.install(source))


def handler_of(loaded: LoadedEngine, config: Any, postgresql: LocalPostgresql) -> Any:
    """The handler of ``loaded``'s descriptor built from ``config``, on ``postgresql``."""
    return loaded.create(config).get_handler_impl(postgresql)


def stop_handler(handler: AbstractMPPHandler) -> None:
    """Stop a kit engine's handler (its coordinator thread), as a conformance class's ``stop_handler``."""
    handler.stop()  # type: ignore[attr-defined]


def build_handler(engine: AbstractMPP, postgresql: PostgresqlLike) -> AbstractMPPHandler:
    """Build the handler as the host does, as a conformance class's ``make_handler``."""
    return engine.get_handler_impl(postgresql)


def start_up(loaded: LoadedEngine, config: Any) -> None:
    """Run :func:`~patroni_mpp.testing.conformance_checks.check_start_up` on ``loaded``'s engine."""
    checks.check_start_up(loaded.create(config), build_handler, stop_handler)
