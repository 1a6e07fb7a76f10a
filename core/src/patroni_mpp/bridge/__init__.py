"""The bridge between Patroni from PyPI and this project's engine plugins.

Patroni 4.x finds MPP implementations only among the modules of its own ``patroni.postgresql.mpp`` package.
:func:`install` replaces, inside the running process, every place where Patroni looks an engine up or treats
the ``citus`` section specially, so that the engine comes from the ``patroni.mpp`` entry points:

* the descriptor lookup of the DCS factory and of ``patronictl`` (``get_mpp``, ``iter_mpp_classes``);
* ``patronictl``'s DCS creation for ``--group`` and the defaults of its ``--group`` options;
* configuration handling: the engine section's pre-filter, defaults and environment parsing, the
  configuration generator and ``--validate-config``;
* the host quirks of the contract: ``POST /mpp`` gets the access check of ``/citus``, and the slot dict
  handed to ``ignore_replication_slot`` carries the slot's name.

Everything else (DCS key paths with the group, ``group_re`` in the cluster loaders, the Kubernetes label,
``/citus`` and ``/mpp``, worker notifications) already goes through the descriptor and keeps working.

:func:`install` checks the Patroni version first and refuses one outside :data:`SUPPORTED_PATRONI`; it is
idempotent. The launcher (``patroni-mpp run`` / ``patroni-mpp ctl``) calls it before handing over to Patroni.
:func:`install_fast_switchover` adds the opt-in fast planned switchover (``run --fast-switchover``).
"""

from __future__ import annotations

from ._errors import BridgeError, PatroniLayoutError, PatroniNotInstalledError, UnsupportedPatroniError
from ._fast_switchover import FastSwitchoverError, install_fast_switchover
from ._install import install
from ._version import SUPPORTED_PATRONI, SUPPORTED_PATRONI_RANGE

__all__ = [
    "SUPPORTED_PATRONI",
    "SUPPORTED_PATRONI_RANGE",
    "BridgeError",
    "FastSwitchoverError",
    "PatroniLayoutError",
    "PatroniNotInstalledError",
    "UnsupportedPatroniError",
    "install",
    "install_fast_switchover",
]
