"""``python -m patroni_mpp``: the same as the ``patroni-mpp`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
