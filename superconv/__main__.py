"""``python -m superconv``: see :mod:`superconv.cli`."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a spawned worker process re-imports this module
    sys.exit(main())
