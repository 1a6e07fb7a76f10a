"""Exceptions raised by engine discovery, configuration checks and handler creation."""

from __future__ import annotations

from dataclasses import dataclass


class MPPError(Exception):
    """Base class of every error raised by patroni-mpp."""


@dataclass(frozen=True)
class EngineSource:
    """Where an engine comes from: the installed distribution that declares its entry point.

    :ivar name: distribution name, for example ``patroni-mpp-citus``.
    :ivar version: distribution version, ``"unknown"`` when the metadata does not say.
    :ivar value: the entry point's value (the module holding the hook implementations).
    """

    name: str
    version: str
    value: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class EngineNotInstalledError(MPPError):
    """A configuration section names an engine whose plugin is not installed."""

    def __init__(self, section: str, wheel: str | None) -> None:
        self.section = section
        self.wheel = wheel
        if wheel:
            hint = f"install the wheel that provides it: pip install {wheel}"
        else:
            hint = "no installed distribution declares it in the 'patroni.mpp' entry-point group"
        super().__init__(f"MPP engine for section '{section}' is not installed: {hint}")


class EngineLoadError(MPPError):
    """A configured engine is installed but cannot be used (import failure, broken hooks, ...)."""

    def __init__(self, section: str, source: EngineSource, core_version: str, cause: str) -> None:
        self.section = section
        self.source = source
        self.cause = cause
        super().__init__(
            f"MPP engine '{section}' from {source} (entry point {source.value}) "
            f"is unusable (core: patroni-mpp {core_version}): {cause}"
        )


class EngineConflictError(MPPError):
    """Two installed distributions claim the same engine name."""

    def __init__(self, section: str, sources: list[EngineSource]) -> None:
        self.section = section
        self.sources = sources
        names = " and ".join(f"{s} ({s.value})" for s in sources)
        super().__init__(
            f"MPP engine name '{section}' is claimed by more than one distribution: {names}; "
            "uninstall all but one"
        )


class MultipleEnginesError(MPPError):
    """The configuration has more than one MPP engine section."""

    def __init__(self, sections: list[str]) -> None:
        self.sections = sections
        listed = ", ".join(f"'{s}'" for s in sections)
        super().__init__(
            f"only one MPP engine section may be configured, found {len(sections)}: {listed}"
        )


@dataclass(frozen=True)
class FieldProblem:
    """One problem found in an engine's configuration section.

    :ivar location: dotted path of the offending key inside the section (``""`` for the whole
        section).
    :ivar message: what is wrong, in words meant for an operator.
    """

    location: str
    message: str


class EngineConfigError(MPPError, ValueError):
    """An engine's configuration section is invalid; :attr:`problems` lists every field."""

    def __init__(self, section: str, problems: list[FieldProblem]) -> None:
        self.section = section
        self.problems = problems
        lines = [
            f"  {section}.{p.location}: {p.message}" if p.location else f"  {section}: {p.message}"
            for p in problems
        ]
        super().__init__(f"invalid MPP configuration section '{section}':\n" + "\n".join(lines))


class HandlerNotFoundError(MPPError):
    """An engine could not produce a handler for the host's PostgreSQL object."""
