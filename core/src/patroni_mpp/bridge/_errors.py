"""Errors of the Patroni bridge."""

from __future__ import annotations

from .._errors import MPPError


class BridgeError(MPPError):
    """The bridge cannot be installed into this Patroni."""


class PatroniNotInstalledError(BridgeError):
    """Patroni is not importable in this environment."""

    def __init__(self) -> None:
        super().__init__(
            "Patroni is not installed in this environment: install it with "
            "pip install 'patroni-mpp[patroni]' (or patroni[etcd3,psycopg3] in a supported version)"
        )


class UnsupportedPatroniError(BridgeError):
    """The installed Patroni is outside the range this bridge supports."""

    def __init__(self, version: str, supported: str, core_version: str) -> None:
        self.version = version
        self.supported = supported
        super().__init__(
            f"Patroni {version} is not supported by patroni-mpp {core_version}: the bridge supports "
            f"Patroni {supported}; install a supported version, for example "
            f"pip install 'patroni[etcd3,psycopg3]{supported}'"
        )


class PatroniLayoutError(BridgeError):
    """A place the bridge hooks into is missing from the installed Patroni."""

    def __init__(self, version: str, where: str, cause: str) -> None:
        super().__init__(
            f"Patroni {version} does not have the layout the patroni-mpp bridge expects "
            f"({where}: {cause}); it cannot route MPP lookups through the engine plugins"
        )
