"""``patroni-mpp ctl``: ``patronictl`` with the bridge installed, a drop-in for ``patronictl``.

The arguments, output and exit codes are patronictl's; ``--group`` addresses a group of whatever engine is
configured, and its default comes from that engine's section.
"""

from __future__ import annotations

import sys

from ..bridge import BridgeError, install

PROG = "patroni-mpp ctl"
"""The program name patronictl shows in its usage messages."""

EXIT_LAUNCHER_ERROR = 1
"""Exit code when the bridge cannot be installed (patronictl's own errors exit with 1 too)."""


def main(argv: list[str]) -> int:
    """Run patronictl's command group with the bridge installed.

    :param argv: patronictl's arguments.
    :returns: the exit code (patronictl's own exit passes through as :class:`SystemExit`).
    """
    try:
        install()
    except BridgeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_LAUNCHER_ERROR
    from patroni.ctl import ctl

    ctl.main(args=list(argv), prog_name=PROG)
    return 0
