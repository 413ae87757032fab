"""README's "The whole API" example runs as written, against a loopback server."""

from __future__ import annotations

import pytest
from tests import readme
from tests.endpoints._loopback import Answer, Loopback, Seen, envelope
from tests.endpoints._spec import operation_for, sample_payload


def answer(seen: Seen) -> Answer:
    data = sample_payload(operation_for(seen.method, seen.path))
    return envelope(data, **{"x-request-id": "req-readme"})


def test_the_whole_api_example(capsys: pytest.CaptureFixture[str]) -> None:
    with Loopback(answer) as server:
        code = readme.block("The whole API").replace(
            'inference(api_key="inf_...")',
            f'inference(api_key="inf_x", base_url="{server.base_url}")',
        )
        exec(code, {})
        seen = list(server.seen)
    assert [(request.method, request.path) for request in seen] == [
        ("POST", "/secrets"),
        ("POST", "/secrets"),
        ("POST", "/apps/list"),
    ]
    secret = {"key": "OPENAI_API_KEY", "value": "sk-..."}
    assert seen[0].json() == seen[1].json() == secret  # keyword fields and the dict, the same
    assert seen[2].json() == {"limit": 10}
    count, has_more = capsys.readouterr().out.split()
    assert int(count) >= 0 and has_more in ("True", "False")
