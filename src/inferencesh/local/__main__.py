"""``python -m inferencesh.local``: the local runtime, with the options of ``inferencesh serve``."""

from __future__ import annotations

import sys

from inferencesh.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
