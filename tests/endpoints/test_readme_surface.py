"""README's "The whole API" example runs as written, against a loopback server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.endpoints._loopback import Answer, Loopback, Seen, envelope
from tests.endpoints._spec import operation_for, sample_payload

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def answer(seen: Seen) -> Answer:
    data = sample_payload(operation_for(seen.method, seen.path))
    return envelope(data, **{"x-request-id": "req-readme"})


def test_the_whole_api_example(capsys: pytest.CaptureFixture[str]) -> None:
    section = README.split("\n## The whole API\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    with Loopback(answer) as server:
        code = match.group(1).replace(
            'inference(api_key="inf_...")',
            f'inference(api_key="inf_x", base_url="{server.base_url}")',
        )
        exec(code, {})
        routes = [(seen.method, seen.path) for seen in server.seen]
    assert ("POST", "/tasks/list") in routes and ("POST", "/secrets") in routes
    out = capsys.readouterr().out
    assert "200 req-readme" in out
