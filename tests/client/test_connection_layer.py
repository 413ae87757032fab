"""Which way a request goes: straight to our transport, via a proxy, or via the user's client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .drive import MODES, call
from .fault_server import FaultServer, Handler, Reply
from .wire import created, task, v3

Start = Callable[[Handler], FaultServer]
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def run_and_get(c: Any) -> Any:
    async def both() -> Any:
        await c.tasks.run({"app": "a/b", "input": {}}, wait=False)
        return await c.tasks.get("t1")

    if hasattr(c, "__aenter__"):
        return both()
    c.tasks.run({"app": "a/b", "input": {}}, wait=False)
    return c.tasks.get("t1")


def api(request: Any) -> Reply:
    if request.method == "POST":
        return Reply.json(v3(created()))
    return Reply.json(v3(task(status=10)))


def test_a_proxy_from_the_environment_is_used(
    mode: str, fault: Start, no_proxies: pytest.MonkeyPatch
) -> None:
    # The "proxy" answers like the API; what proves the route is the absolute URL it receives.
    proxy = fault(api)
    no_proxies.setenv("HTTP_PROXY", proxy.base_url)
    target = "http://api.invalid:8080"
    assert call(mode, target, run_and_get).id == "t1"
    assert [r.path for r in proxy.requests] == [f"{target}/apps/run", f"{target}/tasks/t1"]
    assert all(r.headers.get("authorization") == "Bearer inf_test" for r in proxy.requests)


def test_without_a_proxy_requests_go_straight_to_the_server(
    mode: str, fault: Start, no_proxies: pytest.MonkeyPatch
) -> None:
    server = fault(api)
    assert call(mode, server.base_url, run_and_get).id == "t1"
    assert [r.path for r in server.requests] == ["/apps/run", "/tasks/t1"]


def test_a_client_passed_in_is_used_as_given(mode: str, fault: Start) -> None:
    server = fault(api)
    seen: list[str] = []

    def hook(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    async def ahook(request: httpx.Request) -> None:
        hook(request)

    http: Any = (
        httpx.Client(event_hooks={"request": [hook]}, headers={"X-Team": "blue"})
        if mode == "sync"
        else httpx.AsyncClient(event_hooks={"request": [ahook]}, headers={"X-Team": "blue"})
    )
    assert call(mode, server.base_url, run_and_get, http_client=http).id == "t1"
    assert seen == ["POST /apps/run", "GET /tasks/t1"]
    assert all(r.headers.get("x-team") == "blue" for r in server.requests)
