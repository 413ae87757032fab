"""``python -m inferencesh``: the ``inferencesh`` command (``inferencesh.cli``)."""

from __future__ import annotations

import sys

from inferencesh.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
