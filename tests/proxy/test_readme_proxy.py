"""The README's proxy snippets (FastAPI and Flask) run as written, in front of the local runtime."""

from __future__ import annotations

from typing import Any

import pytest
from tests import readme

from inferencesh import AuthenticationError, inference
from inferencesh.local import LocalRuntime
from inferencesh.proxy import PROXY_PATH

from .conftest import PROXY_KEY
from .servers import ASGIServer, WSGIServerThread


@pytest.mark.parametrize("kind", ["fastapi", "flask"])
def test_the_readme_proxy_snippets_serve_signed_in_users(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("INFERENCE_API_KEY", PROXY_KEY)
    monkeypatch.setenv("INFERENCE_BASE_URL", runtime.base_url)
    scope: dict[str, Any] = {"__name__": f"readme_{kind}"}
    server: ASGIServer | WSGIServerThread
    if kind == "fastapi":
        exec(readme.block("Browser apps: a proxy on your backend", 0), scope)
        server = ASGIServer(scope["app"])
    else:
        exec(readme.block("Browser apps: a proxy on your backend", 1), scope)
        server = WSGIServerThread(scope["app"])
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
