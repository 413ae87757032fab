"""A misspelled body key, keyword field or per-call option is a type error for mypy and pyright.

The snippet is checked by the pinned tools with the project's configuration; the lines marked
``# wrong`` must be the only errors.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

SNIPPET = """\
from inferencesh import async_inference, inference

client = inference(api_key="inf_test")
client.tasks.create({"app": "a/b", "inptu": {}})  # wrong
client.tasks.list(limt=5)  # wrong
client.tasks.get("t1", tiemout=3)  # wrong
page = client.tasks.list(limit=5, timeout=3.0, extra_headers={"X-A": "1"})
status = page.items[0].status
client.secrets.create(key="K", value="v", extra_body={"label": "x"})
client.tasks.create({"app": "a/b", "input": {"text": "hi"}}, session="new", session_timeout=60)


async def walk() -> list[str]:
    aclient = async_inference(api_key="inf_test")
    first = await aclient.tasks.list(limit=2)
    raw = await aclient.tasks.with_raw_response.get("t1", extra_query={"x": "1"})
    return [task.id async for task in first] + [raw.parsed.id]
"""


def wrong_lines() -> set[int]:
    return {n for n, line in enumerate(SNIPPET.splitlines(), 1) if line.endswith("# wrong")}


def test_mypy_and_pyright_flag_exactly_the_misspellings(tmp_path: Path) -> None:
    source = tmp_path / "usage.py"
    source.write_text(SNIPPET)
    mypy = subprocess.run(
        [str(BIN / "mypy"), "--cache-dir", str(tmp_path / "cache"), str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    flagged = {int(n) for n in re.findall(r"usage\.py:(\d+): error", mypy.stdout)}
    assert flagged == wrong_lines(), mypy.stdout
    pyright = subprocess.run(
        [str(BIN / "pyright"), str(source)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    flagged = {int(n) for n in re.findall(r"usage\.py:(\d+):\d+ - error", pyright.stdout)}
    assert flagged == wrong_lines(), pyright.stdout
