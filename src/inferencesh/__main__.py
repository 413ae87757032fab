"""``python -m inferencesh``: the ``inferencesh`` command (``inferencesh._cli``)."""

from __future__ import annotations

import sys

from inferencesh._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
