"""A generated module passes mypy --strict and pyright strict, and with it both checkers know
``result.output`` is the app's ``Output`` (sync, async, streams): the lines marked ``# wrong``
are the only errors either reports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from inferencesh._cli import main
from inferencesh.local import LocalRuntime

from .conftest import KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

USAGE = """\
from __future__ import annotations

from typing_extensions import assert_type

import gallery_types as g
from inferencesh import (
    AsyncInference,
    AsyncTypedTaskStream,
    File,
    Inference,
    TypedTask,
    TypedTaskStream,
)


def sync(client: Inference) -> None:
    frames = [g.Frame(corner=g.Point(x=1), color=g.Color.BLUE)]
    result = g.app.run(client, g.Input(prompt="a cat", frames=frames), setup=g.Setup(model="m"))
    assert_type(result, TypedTask[g.Output])
    assert_type(result.output, g.Output)
    assert_type(result.output.image, File)
    assert_type(result.output.colors, list[g.Color])
    assert_type(result.output.center.label, str | None)
    with g.app.run(client, {"prompt": "x"}, stream=True, auto_reconnect=False) as stream:
        assert_type(stream, TypedTaskStream[g.Output])
        for update in stream:
            assert_type(update.output, g.Output | None)
    created = g.app.run(client, g.Input(prompt="x"), wait=False)
    assert_type(g.app.typed(client.tasks.get(created.id)), TypedTask[g.Output])
    g.Input(promt="a cat")  # wrong
    count: int = result.output.note  # wrong
    result.output.caption  # wrong
    g.app.run(client, g.Input(prompt="x"), setup=g.Input(prompt="y"))  # wrong
    g.app.run(client, g.Input(prompt="x"), auto_reconect=False)  # wrong
    g.app.run(client, g.Input(prompt="x"), max_reconnects="5")  # wrong


async def run_async(client: AsyncInference) -> None:
    result = await g.app.run(client, g.Input(prompt="a cat", mode="slow"))
    assert_type(result, TypedTask[g.Output])
    assert_type(result.output.frames, int)
    stream = await g.app.run(client, g.Input(prompt="x"), stream=True)
    assert_type(stream, AsyncTypedTaskStream[g.Output])
    async with stream:
        async for update in stream:
            assert_type(update.output, g.Output | None)
    await g.app.run(client, g.Setup(model="m"))  # wrong
    text: str = result.output.masks  # wrong
"""


def wrong_lines() -> set[int]:
    return {n for n, line in enumerate(USAGE.splitlines(), 1) if line.endswith("# wrong")}


def flagged(output: str, pattern: str, name: str) -> set[int]:
    return {int(n) for n in re.findall(pattern.format(name=re.escape(name)), output)}


def test_generated_module_and_its_use_type_check_strictly(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    module = tmp_path / "gallery_types.py"
    argv = ["types", "tests/gallery", "-o", str(module), "-q", "--base-url", runtime.base_url]
    assert main([*argv, "--api-key", KEY]) == 0
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)

    mypy = subprocess.run(
        [str(BIN / "mypy"), "--strict", "--cache-dir", str(tmp_path / "cache"), str(usage)],
        cwd=ROOT,  # the project's configuration (and its pydantic plugin), as in any user setup
        capture_output=True,
        text=True,
        check=False,
    )
    pattern = r"{name}:(\d+): error"
    assert flagged(mypy.stdout, pattern, "gallery_types.py") == set(), mypy.stdout
    assert flagged(mypy.stdout, pattern, "usage.py") == wrong_lines(), mypy.stdout

    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.10"})
    )
    pyright = subprocess.run(
        [str(BIN / "pyright"), "--pythonpath", sys.executable, str(usage), str(module)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    pattern = r"{name}:(\d+):\d+ - error"
    assert flagged(pyright.stdout, pattern, "gallery_types.py") == set(), pyright.stdout
    assert flagged(pyright.stdout, pattern, "usage.py") == wrong_lines(), pyright.stdout
