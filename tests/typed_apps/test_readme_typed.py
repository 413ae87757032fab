"""The README's typed app clients section runs as written: its commands write and check the
module against a local runtime, and its Python block runs with that module."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from inferencesh._cli import main
from inferencesh.local import LocalRuntime

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section() -> str:
    return README.split("\n## Typed app clients\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_commands_and_snippet_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = section()
    commands = re.search(r"```sh\n(.*?)```", text, re.S)
    snippet = re.search(r"```python\n(.*?)```", text, re.S)
    assert commands is not None and snippet is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # A runtime of its own: the counter's warm workers keep their count between tasks.
    with LocalRuntime() as runtime:
        connection = ["--base-url", runtime.base_url, "--api-key", "inf_readme"]
        for line in commands.group(1).splitlines():
            argv = shlex.split(line.split("#", 1)[0])
            assert argv[0] == "inferencesh"
            assert main([*argv[1:], *connection]) == 0, line
        assert (tmp_path / "counter_app.py").exists()
        monkeypatch.setenv("INFERENCE_BASE_URL", runtime.base_url)
        scope: dict[str, Any] = {}
        try:
            exec(snippet.group(1), scope)
            scope["client"].close()
        finally:
            sys.modules.pop("counter_app", None)
    assert capsys.readouterr().out == "42\n"
