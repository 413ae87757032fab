"""The README's proxy snippet runs as written: served by uvicorn in front of the local runtime."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from inferencesh import AuthenticationError, inference
from inferencesh.local import LocalRuntime
from inferencesh.proxy import PROXY_PATH

from .conftest import PROXY_KEY
from .servers import ASGIServer

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_proxy_snippet_serves_signed_in_users(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = README.split("\n## Browser apps: a proxy on your backend\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    monkeypatch.setenv("INFERENCE_API_KEY", PROXY_KEY)
    monkeypatch.setenv("INFERENCE_BASE_URL", runtime.base_url)
    scope: dict[str, Any] = {}
    exec(match.group(1), scope)
    server = ASGIServer(scope["app"])
    try:
        proxy_url = server.url + PROXY_PATH
        with (
            inference(proxy_url=proxy_url, base_url=runtime.base_url) as anonymous,
            pytest.raises(AuthenticationError),
        ):
            anonymous.tasks.run({"app": "infsh/echo", "input": {}})
        cookie = {"Cookie": "session=s1"}
        with inference(proxy_url=proxy_url, base_url=runtime.base_url, headers=cookie) as client:
            assert client.tasks.run({"app": "infsh/echo", "input": {"a": 1}})["output"] == {"a": 1}
    finally:
        server.stop()
