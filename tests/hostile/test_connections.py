"""What a server does to a connection: closes it while it is idle (FIN or RST), drops a request
it was sent, answers an upload before reading it, goes silent, never accepts; and what a client
does to one: stops reading a stream half-way.

A request that may have reached the server is never sent twice by the transport; each timeout is
its own httpx exception (an ``APITimeoutError`` through the clients).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inferencesh import APITimeoutError

from .conftest import MakeApi, MakeClient, StartServer
from .harness import (
    CHUNKED_HEAD,
    Conn,
    Script,
    ScriptServer,
    Way,
    chunk,
    eventually,
    response,
    task_body,
    task_response,
)


def close_when_idle(kind: str) -> Script:
    """Answer one request per connection, then close it with a FIN or an RST; say nothing."""

    def script(conn: Conn) -> None:
        request = conn.read_request()
        if request is None:
            return
        conn.send(task_response(request.path.rsplit("/", 1)[-1]))
        if kind == "rst":
            conn.reset()

    return script


async def closed_by_server(server: ScriptServer, index: int, settle: bool) -> None:
    """Wait until the server closed connection ``index``. With ``settle`` the event loop runs a
    while (an async transport gets the close callback); without, the next request starts while
    the close sits unread in the socket, as it does when the loop was busy."""
    assert server.wait_for(lambda: server.accepted > index and server.conns[index].done.is_set())
    if settle:
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("settle", [True, False], ids=["loop-ran", "close-just-arrived"])
@pytest.mark.parametrize("kind", ["fin", "rst"])
async def test_an_idle_connection_closed_by_the_server_is_replaced_before_a_post(
    make_client: MakeClient, start_server: StartServer, kind: str, settle: bool
) -> None:
    server = start_server(close_when_idle(kind))
    client = make_client()
    assert (await client.get(server.url("/tasks/a"))).json()["id"] == "a"
    await closed_by_server(server, 0, settle)
    posted = await client.post(server.url("/tasks/b"), content=b"{}")
    assert posted.json()["id"] == "b"
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/tasks/a"),
        ("POST", "/tasks/b"),
    ]
    assert server.accepted == 2


@pytest.mark.parametrize("kind", ["fin", "rst"])
async def test_the_api_posts_once_after_the_server_closed_an_idle_connection(
    make_api: MakeApi, start_server: StartServer, kind: str
) -> None:
    def script(conn: Conn) -> None:
        request = conn.read_request()
        if request is None:
            return
        task_id = "t9" if request.method == "POST" else "t1"
        conn.send(task_response(task_id, status=1, status_text="received"))
        if kind == "rst":
            conn.reset()

    server = start_server(script)
    api = make_api(server.url(""))
    assert (await api.get_task()).id == "t1"
    await closed_by_server(server, 0, settle=False)
    task = await api.call(lambda c: c.tasks.run({"app": "a/b", "input": {}}, wait=False))
    assert task.id == "t9"
    assert [r.method for r in server.requests] == ["GET", "POST"]


def drop_the_second_request(conn: Conn) -> None:
    """Answer the first request on the first connection; read the second and close without an
    answer (the server had already decided to close). Later connections answer normally."""
    if conn.index > 0:
        while (request := conn.read_request()) is not None:
            conn.send(task_response(request.path.rsplit("/", 1)[-1]))
        return
    request = conn.read_request()
    if request is not None:
        conn.send(task_response("a"))
        conn.read_request()


async def test_a_get_dropped_on_a_reused_connection_is_sent_again_once(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(drop_the_second_request)
    client = make_client()
    assert (await client.get(server.url("/tasks/a"))).json()["id"] == "a"
    assert (await client.get(server.url("/tasks/b"))).json()["id"] == "b"
    assert [r.path for r in server.requests] == ["/tasks/a", "/tasks/b", "/tasks/b"]


async def test_a_post_dropped_on_a_reused_connection_is_never_sent_again(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(drop_the_second_request)
    client = make_client()
    assert (await client.get(server.url("/tasks/a"))).json()["id"] == "a"
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(server.url("/tasks/b"), content=b"{}")
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/tasks/a"),
        ("POST", "/tasks/b"),
    ]


# The early answer: 413 before the upload is read.


def refuse_upload(then: str) -> Script:
    """Answer 413 right after the request head, never read the body; then hold the connection
    open without reading, or close it (a reset, with unread data), or drain what comes."""

    def script(conn: Conn) -> None:
        if conn.read_head() is None:
            return
        extra = [("Connection", "close")] if then != "hold" else []
        conn.send(response(b"too large", 413, "Payload Too Large", extra))
        if then == "hold":
            conn.hold()
        elif then == "drain":
            conn.sock.shutdown(socket.SHUT_WR)
            while conn.fill():
                pass

    return script


@pytest.mark.parametrize("then", ["hold", "close", "drain"])
@pytest.mark.parametrize("kind", ["bytes", "stream"])
async def test_413_before_the_upload_is_read_is_the_answer(
    make_client: MakeClient, start_server: StartServer, kind: str, then: str
) -> None:
    server = start_server(refuse_upload(then), rcvbuf=1 << 16)
    client = make_client()
    if then == "close" and client.mode == "async":
        pytest.skip("an asyncio transport drops unread bytes when a write fails (the reset)")
    block = b"x" * (1 << 20)
    body = block * 32 if kind == "bytes" else client.content(itertools.repeat(block, 32))
    # The write timeout is long: the answer must end the upload, not the timeout.
    refused = await client.post(server.url("/upload"), content=body, timeout=httpx.Timeout(30))
    assert (refused.status_code, refused.text) == (413, "too large")
    assert server.accepted == 1


# A stream read partly and closed, then the next request.


def partial_then_answer(conn: Conn) -> None:
    while (request := conn.read_request()) is not None:
        if request.path.endswith("/stream"):
            line = task_body("t1", status=7) + b"\n"
            conn.send(CHUNKED_HEAD + chunk(line) + chunk(line))
            conn.wait_closed()
            return
        conn.send(task_response("t2"))


async def test_a_stream_read_partly_and_closed_is_not_reused(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(partial_then_answer)
    client = make_client()
    async with client.stream("GET", server.url("/tasks/t1/stream")) as stream:
        assert await stream.read_at_least(1) != b""
    assert (await client.get(server.url("/tasks/t1"))).json()["id"] == "t2"
    assert server.accepted == 2
    assert await eventually(lambda: server.conns[0].done.is_set())
    assert server.conns[0].peer_closed


async def test_a_task_stream_left_early_then_a_call(
    make_api: MakeApi, start_server: StartServer
) -> None:
    server = start_server(partial_then_answer)
    api = make_api(server.url(""))

    async def first_update(client: Any) -> Any:
        stream = client.tasks.stream("t1")
        if hasattr(stream, "__aiter__"):
            async with stream as updates:
                return await anext(aiter(updates))
        with stream as updates:
            return next(iter(updates))

    assert (await api.call(first_update)).id == "t1"
    assert (await api.get_task()).id == "t2"
    assert server.accepted == 2
    assert await eventually(lambda: server.conns[0].done.is_set())


# Every timeout.


def silent(conn: Conn) -> None:
    conn.read_request()
    conn.wait_closed()


async def test_read_timeout_on_a_silent_server(way: Way, start_server: StartServer) -> None:
    server = start_server(silent)
    with pytest.raises(way.error(httpx.ReadTimeout)):
        await way.task_id(server.url(""))


async def test_read_timeout_between_chunks_drops_the_connection(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def stall(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if request.path == "/stall":
                conn.send(CHUNKED_HEAD + chunk(b"some"))
                conn.wait_closed()
                return
            conn.send(task_response("t2"))

    server = start_server(stall)
    client = make_client()
    async with client.stream("GET", server.url("/stall"), timeout=httpx.Timeout(5, read=0.2)) as s:
        assert await s.read_at_least(4) == b"some"
        with pytest.raises(httpx.ReadTimeout):
            await s.rest()
    assert (await client.get(server.url("/tasks/t1"))).json()["id"] == "t2"
    assert server.accepted == 2


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port on 127.0.0.1 whose listener never accepts and whose backlog is full: a new
    connection attempt goes unanswered."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = int(listener.getsockname()[1])
        fillers: list[socket.socket] = []
        try:
            for _ in range(8):
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.fail("could not fill the listen backlog")
            yield port
        finally:
            for filler in fillers:
                filler.close()


async def test_connect_timeout(
    make_client: MakeClient, make_api: MakeApi, full_backlog: int
) -> None:
    url = f"http://127.0.0.1:{full_backlog}"
    with pytest.raises(httpx.ConnectTimeout):
        await make_client().get(url + "/", timeout=httpx.Timeout(5, connect=0.2))
    api = make_api(url, timeout=httpx.Timeout(5, connect=0.2))
    with pytest.raises(APITimeoutError):
        await api.get_task()


async def test_tls_handshake_timeout(
    make_client: MakeClient, make_api: MakeApi, start_server: StartServer
) -> None:
    server = start_server(lambda conn: conn.hold())  # takes the connection, never speaks TLS
    url = f"https://127.0.0.1:{server.port}"
    client = make_client(verify=ssl.create_default_context())
    with pytest.raises(httpx.ConnectTimeout):
        await client.get(url + "/", timeout=httpx.Timeout(5, connect=0.2))
    api = make_api(url, timeout=httpx.Timeout(5, connect=0.2))
    with pytest.raises(APITimeoutError):
        await api.get_task()


@pytest.mark.parametrize("kind", ["bytes", "stream"])
async def test_write_timeout_when_the_server_stops_reading(
    make_client: MakeClient, start_server: StartServer, kind: str
) -> None:
    server = start_server(lambda conn: conn.hold(), rcvbuf=1 << 16)
    client = make_client()
    block = b"x" * (1 << 20)
    body = block * 32 if kind == "bytes" else client.content(itertools.repeat(block, 512))
    with pytest.raises(httpx.WriteTimeout):
        await client.post(server.url(), content=body, timeout=httpx.Timeout(3, write=0.2))


async def test_pool_timeout_when_every_connection_is_busy(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def script(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if request.path == "/hold":
                conn.send(CHUNKED_HEAD + chunk(b"x"))
                conn.wait_closed()
                return
            conn.send(task_response("t2"))

    server = start_server(script)
    client = make_client(max_connections=1)
    async with client.stream("GET", server.url("/hold")) as stream:
        assert await stream.read_at_least(1) == b"x"
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url("/tasks/t1"), timeout=httpx.Timeout(5, pool=0.2))
    assert (await client.get(server.url("/tasks/t1"))).json()["id"] == "t2"
