"""``patroni-mpp run``: Patroni's daemon with the bridge installed, a drop-in for ``patroni``.

The arguments are Patroni's own (``CONFIG.yml``, ``--validate-config``, ``--generate-config``, ...); signals,
output and exit codes are Patroni's, since Patroni runs in this very process. Before handing over, the
launcher loads the configuration the way Patroni will and builds the configured engine, so that a missing
engine or an invalid section stops it with a clear message and a non-zero exit before PostgreSQL is touched.

``--fast-switchover`` (or ``PATRONI_MPP_FAST_SWITCHOVER=1``), the launcher's only option of its own, turns on
the fast planned switchover patches (:func:`patroni_mpp.bridge.install_fast_switchover`); it is taken out of
the arguments before Patroni sees them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence

from .._errors import MPPError
from ..bridge import BridgeError, install, install_fast_switchover

logger = logging.getLogger(__name__)

PROG = "patroni-mpp run"
"""What Patroni's argument parser calls the program in its messages."""

EXIT_LAUNCHER_ERROR = 1
"""Exit code when the launcher itself refuses to start Patroni (the code Patroni uses for a bad config)."""

NO_PRECHECK_OPTIONS = (
    "--help",
    "--version",
    "--validate-config",
    "--generate-config",
    "--generate-sample-config",
)
"""Options after which Patroni does not start the daemon, so there is nothing to check first."""

FAST_SWITCHOVER_OPTION = "--fast-switchover"
"""The launcher's option that turns on the fast planned switchover."""

FAST_SWITCHOVER_ENV = "PATRONI_MPP_FAST_SWITCHOVER"
"""The environment variable that turns it on (``1``, ``true``, ``yes``, ``on``; off: ``0``, ``false``,
``no``, ``off``, empty)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def fast_switchover_requested(args: list[str], environ: Mapping[str, str]) -> bool:
    """Whether the fast switchover is asked for; removes the option from ``args`` (before a ``--``).

    :raises ValueError: the environment variable holds something other than a yes or a no.
    """
    end = args.index("--") if "--" in args else len(args)
    requested = FAST_SWITCHOVER_OPTION in args[:end]
    args[:end] = [arg for arg in args[:end] if arg != FAST_SWITCHOVER_OPTION]
    value = environ.get(FAST_SWITCHOVER_ENV, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError(
            f"{FAST_SWITCHOVER_ENV}={environ[FAST_SWITCHOVER_ENV]!r} is neither yes (1, true, yes, on) "
            "nor no (0, false, no, off)"
        )
    return requested or value in _TRUE


def _starts_daemon(args: Sequence[str]) -> bool:
    """False when the arguments ask Patroni for help, its version, or a config tool (abbreviations too)."""
    for arg in args:
        if arg in ("-h", "--"):
            return arg != "-h"
        if arg.startswith("--") and len(arg) > 2:
            option = arg.split("=", 1)[0]
            if any(full.startswith(option) for full in NO_PRECHECK_OPTIONS):
                return False
    return True


def _config_path(args: Sequence[str]) -> str:
    """The positional configuration path, as Patroni's parser reads it (``''`` when none)."""
    for arg in args:
        if not arg.startswith("-"):
            return arg
    return ""


def precheck(configfile: str) -> str | None:
    """Load the configuration as Patroni will and build its engine; return what is wrong, if anything.

    Problems that are Patroni's to report (an unreadable file, a YAML error) are left to Patroni. The
    ``PATRONI_*`` environment variables that Patroni's loader consumes are put back for the real start.

    :param configfile: the configuration path given to ``patroni`` (may be empty: the environment is used).
    :returns: the error message, or None when the engine can be built.
    """
    from patroni.config import Config

    from ..bridge._lookup import routed_get_mpp

    saved = dict(os.environ)
    try:
        config = Config(configfile, validator=None)
    except Exception as exc:
        logger.debug("Configuration precheck left to Patroni: %s", exc)
        return None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        routed_get_mpp(config)
    except MPPError as exc:
        return str(exc)
    return None


def main(argv: list[str]) -> int:
    """Run Patroni's daemon entry point with the bridge installed.

    :param argv: Patroni's arguments.
    :returns: 0 when Patroni returns normally; a non-zero code when the launcher refuses to start. Patroni's
        own exits (``sys.exit``) pass through unchanged.
    """
    args = list(argv)
    try:
        fast = fast_switchover_requested(args, os.environ)
        version = install(ctl=False)
        if fast:
            install_fast_switchover(version)
    except (BridgeError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_LAUNCHER_ERROR
    if _starts_daemon(args):
        problem = precheck(_config_path(args))
        if problem is not None:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
            return EXIT_LAUNCHER_ERROR
    from patroni.__main__ import main as patroni_main

    sys.argv = [PROG, *args]
    patroni_main()
    return 0
