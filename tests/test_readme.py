"""The README's own Python examples run as written (against the local runtime)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from inferencesh import inference
from inferencesh.local import LocalRuntime

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def block_after(heading: str) -> str:
    section = README.split(f"\n## {heading}\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, heading
    return match.group(1)


def test_quick_start(capsys: pytest.CaptureFixture[str]) -> None:
    exec(block_after("Quick start"), {})
    out = capsys.readouterr().out
    assert "{'message': 'hello'}" in out and "COMPLETED" in out


def test_agents_and_tools(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalRuntime() as runtime:
        client = inference(api_key="inf_readme", base_url=runtime.base_url)
        scope: dict[str, Any] = {"client": client}
        exec(block_after("Agents and tools"), scope)
        client.close()
    out = capsys.readouterr().out
    assert "[get_weather {'city': 'Paris'}]" in out
    assert 'get_weather returned {"city": "Paris", "temp": 21}.' in out
    assert scope["reply"].content[0].text == 'get_weather returned {"city": "Paris", "temp": 21}.'


def block_containing(text: str) -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if text in b]
    return block


def test_results_to_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    with LocalRuntime() as runtime:
        client = inference(api_key="inf_readme", base_url=runtime.base_url)
        scope: dict[str, Any] = {"client": client}
        exec(block_containing("json.dumps(result.to_dict())"), scope)
        with pytest.raises(TypeError):
            json.dumps(scope["result"])  # what the README says is why the snippet exists
        client.close()
    assert "{'message': 'hello'}" in capsys.readouterr().out
    assert json.loads(scope["every"])["status"] == 10
    assert json.loads(scope["sent"])["id"] == scope["result"].id


def test_callbacks_and_polling(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalRuntime() as runtime:
        monkeypatch.setenv("INFERENCE_BASE_URL", runtime.base_url)
        callbacks: dict[str, Any] = {}
        exec(block_after("Callbacks and polling"), callbacks)
        polling: dict[str, Any] = {}
        exec(block_containing("stream=False, poll_interval=2.0"), polling)
        for scope in (callbacks, polling):
            scope["client"].close()
        polling["polling"].close()
    out = capsys.readouterr().out.splitlines()
    assert "update COMPLETED" in out and "one two three" in out
    assert any(line.startswith("changed [") for line in out)
    assert "{'text': 'hi'}" in out
    assert "{'text': 'hi'} You said: Hello!" in out
    assert polling["task"].status.name == "COMPLETED"
