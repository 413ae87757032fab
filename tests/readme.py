"""The README's code blocks, found by the heading they sit under, for the tests that run them.

A test asks for a block with ``readme.block("Heading", n)`` (the n-th block of that language under
the ``##`` or ``###`` heading), written literally: ``tests/test_readme.py`` checks that every
Python block of the README is asked for by some test this way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
_HEADING = re.compile(r"^#{2,3} (.+)$", re.M)


@dataclass(frozen=True)
class Block:
    heading: str
    index: int
    language: str
    code: str


def blocks() -> list[Block]:
    """Every fenced block of the README, in order, with its heading and its index there."""
    text = README.read_text()
    found: list[Block] = []
    counts: dict[tuple[str, str], int] = {}
    for fence in _FENCE.finditer(text):
        headings = _HEADING.findall(text, 0, fence.start())
        heading = headings[-1] if headings else ""
        language = fence.group(1)
        index = counts.get((heading, language), 0)
        counts[(heading, language)] = index + 1
        found.append(Block(heading, index, language, fence.group(2)))
    return found


def block(heading: str, index: int = 0, language: str = "python") -> str:
    """The code of the ``index``-th block of ``language`` under ``heading``."""
    for found in blocks():
        if (found.heading, found.index, found.language) == (heading, index, language):
            return found.code
    raise LookupError(f"README has no {language} block {index} under {heading!r}")


def section(heading: str) -> str:
    """The text under a ``##`` heading, up to the next one."""
    text = README.read_text()
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
