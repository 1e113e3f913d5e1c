"""``python -m pchat``: the same as the ``pchat`` command."""

import sys

from pchat.cli import main

if __name__ == "__main__":
    sys.exit(main())
