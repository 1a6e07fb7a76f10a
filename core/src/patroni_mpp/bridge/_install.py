"""Installing the bridge into the running Patroni, step by step, and undoing it (for tests)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ._errors import PatroniLayoutError
from ._fast_switchover import forget_fast_switchover
from ._patching import original_of, replace, restore_all
from ._version import check_patroni_version

logger = logging.getLogger(__name__)


_lock = threading.Lock()
_installed_version: str | None = None
_done: set[str] = set()


def installed_version() -> str | None:
    """The Patroni version the bridge is installed into, or None when it is not installed."""
    return _installed_version


def _patch_lookup() -> None:
    import patroni.postgresql.mpp as host_mpp

    from ._lookup import routed_get_mpp, routed_iter_mpp_classes

    replace(host_mpp, "get_mpp", lambda _original: routed_get_mpp)
    replace(host_mpp, "iter_mpp_classes", lambda _original: routed_iter_mpp_classes)


def _patch_config() -> None:
    import patroni.config as host_config
    import patroni.config_generator as host_generator
    import patroni.validator as host_validator

    from ._config import (
        EngineAwareSchema,
        wrap_effective_configuration,
        wrap_environment_configuration,
        wrap_format_config_section,
    )

    config_class = host_config.Config
    replace(config_class, "_build_effective_configuration", wrap_effective_configuration)
    replace(config_class, "_build_environment_configuration", wrap_environment_configuration, static=True)
    replace(
        host_generator.AbstractConfigGenerator,
        "_format_config_section",
        wrap_format_config_section,
    )
    replace(host_validator, "schema", EngineAwareSchema)


def _patch_rest_and_slots() -> None:
    import patroni.api as host_api
    import patroni.postgresql.slots as host_slots

    from ._rest import checked_mpp_endpoint, wrap_get, wrap_ignore_replication_slot, wrap_metrics

    handler = host_api.RestApiHandler
    unchecked = original_of(handler.__dict__["do_POST_mpp"])
    checked = checked_mpp_endpoint(host_api.check_access, unchecked)

    def use_checked(_original: Any) -> Any:
        return checked

    # /citus runs the checked handler directly, so a request is checked once, not twice.
    replace(handler, "do_POST_mpp", use_checked)
    replace(
        handler, "do_POST_citus", lambda _original: checked_mpp_endpoint(host_api.check_access, unchecked)
    )
    replace(host_slots.SlotsHandler, "ignore_replication_slot", wrap_ignore_replication_slot)
    replace(handler, "do_GET", wrap_get)  # GET /mpp: the engine status
    replace(handler, "do_GET_metrics", wrap_metrics)  # the engine's metrics after Patroni's


def _patch_ctl() -> None:
    import patroni.ctl as host_ctl

    from ._ctl import ctl_get_dcs, ctl_get_mpp, set_group_defaults

    replace(host_ctl, "get_mpp", lambda _original: ctl_get_mpp)
    replace(host_ctl, "get_dcs", lambda _original: ctl_get_dcs)
    set_group_defaults(host_ctl.ctl)
    from ._ctl_names import install_names
    from ._ctl_status import add_status_command

    add_status_command(host_ctl.ctl)  # patroni-mpp ctl mpp-status
    install_names(host_ctl)  # the configured engine's name where patronictl writes "Citus"


_STEPS = (
    ("MPP lookup", _patch_lookup),
    ("configuration handling", _patch_config),
    ("REST API and replication slots", _patch_rest_and_slots),
    ("patronictl", _patch_ctl),
)


def install(*, ctl: bool = True) -> str:
    """Route Patroni's MPP lookups through the ``patroni.mpp`` entry points; idempotent.

    :param ctl: also adapt ``patronictl`` (its DCS creation per group and ``--group`` defaults). The daemon
        launcher passes False to spare importing ``patroni.ctl``; a later ``install()`` adds it.
    :returns: the Patroni version the bridge is installed into.
    :raises PatroniNotInstalledError: Patroni is not importable.
    :raises UnsupportedPatroniError: the installed Patroni is outside ``SUPPORTED_PATRONI``; nothing is
        changed then.
    :raises PatroniLayoutError: a place the bridge hooks into is missing; every change made is undone.
    """
    global _installed_version  # noqa: PLW0603 - one bridge per process
    with _lock:
        version = _installed_version or check_patroni_version()
        steps = [(where, step) for where, step in _STEPS if ctl or step is not _patch_ctl]
        for where, step in steps:
            if where in _done:
                continue
            try:
                step()
            except (ImportError, AttributeError, KeyError) as exc:
                restore_all()
                _done.clear()
                _installed_version = None
                raise PatroniLayoutError(version, where, f"{type(exc).__name__}: {exc}") from exc
            _done.add(where)
        if _installed_version is None:
            logger.debug("patroni-mpp bridge installed into Patroni %s", version)
        _installed_version = version
        return version


def uninstall() -> None:
    """Undo :func:`install` (for tests of the bridge; a running Patroni keeps what it already built)."""
    global _installed_version  # noqa: PLW0603
    with _lock:
        restore_all()
        from ._ctl import clear_dcs_cache

        clear_dcs_cache()
        forget_fast_switchover()
        _done.clear()
        _installed_version = None
