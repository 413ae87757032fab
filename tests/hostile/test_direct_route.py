"""The client's own API requests are put together without an ``httpx.Request`` (see
``DirectRoute``): what they send must be byte for byte what httpx would have built, and
anything the route does not cover (a query, a call's own headers, a path httpx would rewrite,
a base URL with a path) must still go out right."""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from inferencesh import AsyncInference, Inference, InvalidResponseError

from .conftest import StartServer
from .harness import ScriptServer, serve, task_response

Call = Callable[[Any], Any]

CALLS: dict[str, Call] = {
    "run": lambda c: c.tasks.run({"app": "infsh/echo", "input": {"k": "v"}}, wait=False),
    "get": lambda c: c.tasks.get("t1"),
    "cancel": lambda c: c.tasks.cancel("t1"),
    "a query": lambda c: c.chats.list_messages("c1", limit=3),
    "own headers": lambda c: c.tasks.get("t1", extra_headers={"X-Trace": "1"}),
    "a path with a dot": lambda c: c.tasks.get("t1.x"),
    "a path with a space": lambda c: c.tasks.get("t 1"),
}


async def sent(server: ScriptServer, mode: str, call: Call, route: bool, **options: Any) -> bytes:
    """The bytes ``call`` sent on a fresh client, with the direct route or without it."""
    before = len(server.received())
    options.setdefault("base_url", server.url(""))
    client: Inference | AsyncInference = (
        Inference(api_key="inf_test", max_retries=0, **options)
        if mode == "sync"
        else AsyncInference(api_key="inf_test", max_retries=0, **options)
    )
    if not route:
        client._transport.route = None
    try:
        result = call(client)
        if isinstance(result, Awaitable):
            await result
    except InvalidResponseError:
        pass  # a task where a page was expected: what was sent is the point
    finally:
        closed = client.close()
        if isinstance(closed, Awaitable):
            await closed
    return server.received()[before:]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", list(CALLS))
async def test_a_call_sends_what_httpx_would_have_built(
    start_server: StartServer, mode: str, name: str
) -> None:
    server = start_server(serve(lambda request: task_response("t1")))
    direct = await sent(server, mode, CALLS[name], route=True)
    built = await sent(server, mode, CALLS[name], route=False)
    assert direct == built
    assert direct.startswith((b"GET ", b"POST "))


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_base_url_with_a_path_and_client_headers(
    start_server: StartServer, mode: str
) -> None:
    server = start_server(serve(lambda request: task_response("t1")))
    options = {
        "base_url": server.url("/api/v1/"),
        "headers": {"x-extra": "1", "accept": "text/plain", "user-agent": "mine"},
    }
    direct = await sent(server, mode, CALLS["run"], route=True, **options)
    built = await sent(server, mode, CALLS["run"], route=False, **options)
    assert direct == built
    assert direct.startswith(b"POST /api/v1/apps/run HTTP/1.1\r\n")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_response_carries_the_request_httpx_would_have_built(
    start_server: StartServer, mode: str
) -> None:
    server = start_server(serve(lambda request: task_response("t1")))
    seen: list[httpx.Request] = []
    for route in (True, False):
        client: Inference | AsyncInference = (
            Inference(api_key="inf_test", base_url=server.url(""))
            if mode == "sync"
            else AsyncInference(api_key="inf_test", base_url=server.url(""))
        )
        if not route:
            client._transport.route = None
        raw = client.tasks.with_raw_response.get("t1")
        if isinstance(raw, Awaitable):
            raw = await raw
        seen.append(raw.http_response.request)
        closed = client.close()
        if isinstance(closed, Awaitable):
            await closed
    direct, built = seen
    assert isinstance(direct, httpx.Request)
    assert repr(direct) == repr(built)
    assert (direct.method, direct.url, direct.headers.raw, direct.content, direct.extensions) == (
        built.method,
        built.url,
        built.headers.raw,
        built.content,
        built.extensions,
    )
    assert pickle.loads(pickle.dumps(direct)).headers.raw == built.headers.raw
