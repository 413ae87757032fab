"""Request-side injection and URL parts that must not reach the wire: a field with CR, LF or NUL,
a header name or method that is not a token, userinfo in the URL.

Nothing of a refused request is sent: the server sees no bytes at all, and the next request on
the same client is fine.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from inferencesh import APIConnectionError

from .conftest import MakeApi, MakeClient, StartServer
from .harness import Request, ScriptServer, echo_path, serve, task_response

HEADERS: dict[str, tuple[str, str]] = {
    "value-crlf": ("X-Evil", "a\r\nX-Injected: 1"),
    "value-lf": ("X-Evil", "a\nX-Injected: 1"),
    "value-cr": ("X-Evil", "a\rb"),
    "value-nul": ("X-Evil", "a\x00b"),
    "name-crlf": ("X-Evil\r\nX-Injected", "1"),
    "name-lf": ("X-Evil\n", "1"),
    "name-nul": ("X-E\x00vil", "1"),
    "name-with-a-space": ("X Evil", "1"),
    "name-with-a-colon": ("X-Evil:Injected", "1"),
    "name-with-a-tab": ("X-Evil\t", "1"),
    "name-with-a-slash": ("X/Evil", "1"),
    "name-empty": ("", "1"),
}

METHODS = ["GE\tT", "GET /other HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET", "GE T", "GET\x00", "G(E)T"]


async def nothing_sent(server: ScriptServer) -> bool:
    await asyncio.sleep(0.1)  # let anything that was sent arrive (its absence is the assertion)
    return server.received() == b""


@pytest.mark.parametrize("name", list(HEADERS))
async def test_a_header_that_would_inject_is_refused_before_sending(
    make_client: MakeClient, start_server: StartServer, name: str
) -> None:
    header, value = HEADERS[name]
    server = start_server(serve(echo_path))
    client = make_client()
    with pytest.raises(httpx.LocalProtocolError):
        await client.get(server.url("/evil"), headers={header: value})
    assert await nothing_sent(server)
    assert server.accepted == 0  # refused before a connection was even opened
    assert (await client.get(server.url("/fine"))).text == "GET /fine"


@pytest.mark.parametrize("method", METHODS, ids=["tab", "request-line", "space", "nul", "parens"])
async def test_a_method_that_is_not_a_token_is_refused_before_sending(
    make_client: MakeClient, start_server: StartServer, method: str
) -> None:
    server = start_server(serve(echo_path))
    client = make_client()
    with pytest.raises(httpx.LocalProtocolError):
        await client.request(method, server.url("/evil"))
    assert await nothing_sent(server)
    assert (await client.get(server.url("/fine"))).text == "GET /fine"


@pytest.mark.parametrize("name", ["value-crlf", "value-nul", "name-with-a-space", "name-crlf"])
async def test_extra_client_headers_that_would_inject_are_never_sent(
    make_api: MakeApi, start_server: StartServer, name: str
) -> None:
    header, value = HEADERS[name]
    server = start_server(serve(lambda request: task_response("t1")))
    api = make_api(server.url(""), headers={header: value})
    with pytest.raises(APIConnectionError, match="(?i)header|illegal"):
        await api.get_task()
    assert await nothing_sent(server)


def seen(request: Request) -> bytes:
    return task_response("t1", output={"target": request.target, "host": request.headers["host"]})


async def test_userinfo_never_reaches_the_request_line_or_host(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(serve(seen))
    client = make_client()
    url = f"http://user:s3cret@127.0.0.1:{server.port}/tasks/t1?q=1"
    answer = (await client.get(url)).json()["output"]
    assert answer == {"target": "/tasks/t1?q=1", "host": f"127.0.0.1:{server.port}"}
    assert b"s3cret" not in server.received() and b"user:" not in server.received()


async def test_userinfo_in_the_base_url_never_reaches_the_wire(
    make_api: MakeApi, start_server: StartServer
) -> None:
    server = start_server(serve(seen))
    api = make_api(f"http://user:s3cret@127.0.0.1:{server.port}")
    task = await api.get_task()
    assert task.output == {"target": "/tasks/t1", "host": f"127.0.0.1:{server.port}"}
    assert b"s3cret" not in server.received() and b"user:" not in server.received()
