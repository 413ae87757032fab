"""The README's typed app clients section runs as written: its commands write and check the
module against a local runtime, and its Python block runs with that module."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from tests import readme

from inferencesh._cli import main
from inferencesh.local import LocalRuntime


def test_the_readme_commands_and_snippet_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = readme.block("Typed app clients", 0, "sh")
    snippet = readme.block("Typed app clients")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # A runtime of its own: the counter's warm workers keep their count between tasks.
    with LocalRuntime() as runtime:
        connection = ["--base-url", runtime.base_url, "--api-key", "inf_readme"]
        for line in commands.splitlines():
            argv = shlex.split(line.split("#", 1)[0])
            assert argv[0] == "inferencesh"
            assert main([*argv[1:], *connection]) == 0, line
        assert (tmp_path / "counter_app.py").exists()
        monkeypatch.setenv("INFERENCE_BASE_URL", runtime.base_url)
        scope: dict[str, Any] = {}
        try:
            exec(snippet, scope)
            scope["client"].close()
        finally:
            sys.modules.pop("counter_app", None)
    assert capsys.readouterr().out == "42\n"
