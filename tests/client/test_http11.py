"""The HTTP/1.1 transport's own behaviour against a scripted server on 127.0.0.1: keep-alive and
the pool, uploads and downloads, timeouts and errors, cancellation, TLS settings.

Each test runs once with ``HTTP11Transport`` under ``httpx.Client`` and once with
``AsyncHTTP11Transport`` under ``httpx.AsyncClient`` (see ``tests/hostile/harness.py``). What a
hostile server can do to it is in ``tests/hostile/``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from tests.hostile.harness import (
    CHUNKED_HEAD,
    LAST_CHUNK,
    SHORT,
    TRANSPORTS,
    Client,
    Conn,
    Request,
    Script,
    ScriptServer,
    answer_once,
    chunk,
    clients,
    echo_path,
    eventually,
    free_port,
    response,
    routes,
    serve,
    servers,
)

from inferencesh import _http11 as http11
from inferencesh._http11 import HTTP11Transport

# Fixtures (the harness is shared with the hostile-server suite).

MakeClient = Callable[..., Client]
StartServer = Callable[..., ScriptServer]


@pytest.fixture(params=TRANSPORTS)
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[MakeClient]:
    async for make in clients(str(request.param)):
        yield make


@pytest.fixture
async def make_async_client() -> AsyncIterator[MakeClient]:
    async for make in clients("async"):
        yield make


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    yield from servers()


def digest(request: Request) -> bytes:
    summary = {
        "sha256": request.sha256,
        "length": len(request.body),
        "chunked": request.chunked,
        "content_length": request.headers.get("content-length"),
    }
    return response(json.dumps(summary).encode(), headers=[("Content-Type", "application/json")])


# Keep-alive and connection reuse.


async def test_two_requests_share_one_connection(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(serve(echo_path))
    client = make_client()
    first = await client.get(server.url("/one?q=a%20b&r=%2F"))
    second = await client.post(server.url("/two"), content=b"body")
    assert (first.status_code, first.text) == (200, "GET /one")
    assert (second.status_code, second.text) == (200, "POST /two")
    assert server.accepted == 1
    assert [r.path for r in server.conns[0].requests] == ["/one", "/two"]
    assert server.conns[0].requests[0].target == "/one?q=a%20b&r=%2F"
    assert server.conns[0].requests[0].headers["host"] == f"127.0.0.1:{server.port}"
    assert server.conns[0].requests[1].body == b"body"


CLOSING_RESPONSES = {
    "connection-close": response(b"first", headers=[("Connection", "close")]),
    "http-1.0": response(b"first", version="HTTP/1.0"),
    "http-1.0-close": response(b"first", version="HTTP/1.0", headers=[("Connection", "close")]),
    # h11 keeps no HTTP/1.0 connection alive, whatever the server says.
    "http-1.0-keep-alive": response(
        b"first", version="HTTP/1.0", headers=[("Connection", "keep-alive")]
    ),
}


@pytest.mark.parametrize("kind", list(CLOSING_RESPONSES))
async def test_a_closing_response_is_not_reused(
    make_client: MakeClient, start_server: StartServer, kind: str
) -> None:
    # The server announces the close but leaves the socket open: the client must close it
    # and must not send the next request on it (that one would never be answered).
    def script(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        if conn.index == 0:
            conn.send(CLOSING_RESPONSES[kind])
            conn.wait_closed()
        else:
            conn.send(response(b"second"))

    server = start_server(script)
    client = make_client(timeout=SHORT)
    assert (await client.get(server.url())).text == "first"
    assert (await client.get(server.url())).text == "second"
    assert server.accepted == 2
    assert await eventually(lambda: server.conns[0].done.is_set())
    assert server.conns[0].peer_closed


async def test_close_delimited_response_then_a_new_connection(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def script(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.send(response(b"read until the end", length=False))

    server = start_server(script)
    client = make_client()
    assert (await client.get(server.url())).text == "read until the end"
    assert (await client.get(server.url())).text == "read until the end"
    assert server.accepted == 2


def one_request_per_connection(conn: Conn) -> None:
    """Answer one request without announcing a close, then close the connection."""
    request = conn.read_request()
    if request is not None:
        conn.send(echo_path(request))


async def server_closed(server: ScriptServer, index: int, settle: bool) -> None:
    """Wait until the server has closed connection ``index``. With ``settle`` the event loop
    then runs for a while (an async transport gets the EOF callback); without, the next request
    starts while the FIN sits unprocessed in the socket, as it does when the loop was busy."""
    assert server.wait_for(lambda: server.accepted > index and server.conns[index].done.is_set())
    if settle:
        await asyncio.sleep(0.1)


SETTLE = pytest.mark.parametrize("settle", [True, False], ids=["loop-ran", "close-just-arrived"])


@SETTLE
async def test_idle_connection_closed_by_the_server_is_replaced(
    make_client: MakeClient, start_server: StartServer, settle: bool
) -> None:
    server = start_server(one_request_per_connection)
    client = make_client(timeout=SHORT)
    assert (await client.get(server.url("/a"))).text == "GET /a"
    await server_closed(server, 0, settle)
    assert (await client.get(server.url("/b"))).text == "GET /b"
    await server_closed(server, 1, settle)
    posted = await client.post(server.url("/c"), content=b"not idempotent")
    assert posted.text == "POST /c"
    assert server.accepted == 3
    assert [len(conn.requests) for conn in server.conns] == [1, 1, 1]
    assert server.conns[2].requests[0].body == b"not idempotent"


async def test_idle_connection_after_a_slow_reader_closed_by_the_server_is_replaced(
    make_client: MakeClient, start_server: StartServer
) -> None:
    # The whole body is buffered by the transport before the caller reads it (for the async
    # transport: just past its high-water mark, where it stops reading the socket). The
    # connection then goes back to the pool; the server closes it; a POST must not use it.
    size = getattr(http11, "_HIGH_WATER", 1 << 20) + 1
    server = start_server(serve(lambda r: response(b"x" * size if r.path == "/big" else b"ok")))
    client = make_client(timeout=SHORT)
    async with client.stream("GET", server.url("/big")) as stream:
        await asyncio.sleep(0.2)  # everything arrives before anything is read
        assert len(await stream.rest()) == size
    assert server.wait_for(lambda: server.conns[0].requests != [])
    server.conns[0].sock.shutdown(socket.SHUT_RDWR)  # the server closes the idle connection
    assert server.wait_for(lambda: server.conns[0].done.is_set())
    await asyncio.sleep(0.1)
    assert (await client.post(server.url("/ok"), content=b"x")).text == "ok"
    assert server.accepted == 2


WIRE_VARIANTS: dict[str, tuple[str, bytes, int, bytes]] = {
    "chunked-extensions-trailers": (
        "GET",
        CHUNKED_HEAD + b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        200,
        b"hello world",
    ),
    "interim-100": ("GET", b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"final"), 200, b"final"),
    "head-with-length": (
        "HEAD",
        response(headers=[("Content-Length", "1234")], length=False),
        200,
        b"",
    ),
    "204": ("GET", response(status=204, reason="No Content", length=False), 204, b""),
    "304-with-length": (
        "GET",
        response(
            status=304, reason="Not Modified", headers=[("Content-Length", "99")], length=False
        ),
        304,
        b"",
    ),
    "empty-body": ("GET", response(b""), 200, b""),
}


@pytest.mark.parametrize("kind", list(WIRE_VARIANTS))
async def test_response_framing_over_the_wire_keeps_the_connection(
    make_client: MakeClient, start_server: StartServer, kind: str
) -> None:
    method, wire, status, body = WIRE_VARIANTS[kind]

    def script(conn: Conn) -> None:
        while conn.read_request() is not None:
            conn.send(wire if len(conn.requests) == 1 else response(b"second"))

    server = start_server(script)
    client = make_client(timeout=SHORT)
    first = await client.request(method, server.url())
    assert (first.status_code, first.content) == (status, body)
    assert (await client.get(server.url())).text == "second"
    assert server.accepted == 1


async def test_partially_read_response_closes_its_connection(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def partial(conn: Conn, request: Request) -> bool:
        conn.send(response(headers=[("Content-Length", "1000000")], length=False) + b"x" * 1000)
        conn.wait_closed()
        return False

    server = start_server(
        routes({"/partial": partial, "/ok": lambda conn, r: conn.send(response(b"ok"))})
    )
    client = make_client(timeout=SHORT)
    async with client.stream("GET", server.url("/partial")) as stream:
        assert stream.response.status_code == 200
        assert await stream.read_at_least(1) != b""
    assert (await client.get(server.url("/ok"))).text == "ok"
    assert server.accepted == 2
    assert await eventually(lambda: server.conns[0].done.is_set())
    assert server.conns[0].peer_closed


async def test_idle_connections_beyond_max_keepalive_are_closed(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(serve(echo_path))
    client = make_client(max_keepalive_connections=1)
    async with (
        client.stream("GET", server.url("/a")) as a,
        client.stream("GET", server.url("/b")) as b,
    ):
        assert await a.rest() == b"GET /a"
        assert await b.rest() == b"GET /b"
    assert server.accepted == 2
    assert await eventually(lambda: server.open_connections() == 1)
    assert (await client.get(server.url("/c"))).text == "GET /c"
    assert server.accepted == 2


async def test_no_keepalive_connections_at_all(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(serve(echo_path))
    client = make_client(max_keepalive_connections=0)
    for path in ("/a", "/b", "/c"):
        assert (await client.get(server.url(path))).text == f"GET {path}"
    assert server.accepted == 3
    assert await eventually(lambda: server.open_connections() == 0)


async def test_expired_idle_connection_is_not_reused(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(serve(echo_path))
    client = make_client(keepalive_expiry=0.1)
    assert (await client.get(server.url("/a"))).text == "GET /a"
    await asyncio.sleep(0.3)
    assert (await client.get(server.url("/b"))).text == "GET /b"
    assert server.accepted == 2


async def test_close_closes_pooled_connections(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(serve(echo_path))
    client = make_client()
    async with client.stream("GET", server.url("/a")) as a:
        assert (await client.get(server.url("/b"))).text == "GET /b"
        assert await a.rest() == b"GET /a"
    assert server.accepted == 2 and server.open_connections() == 2
    await client.aclose()
    assert await eventually(lambda: server.open_connections() == 0)


async def test_concurrent_requests_leave_at_most_max_keepalive_idle(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def slow(request: Request) -> bytes:
        time.sleep(0.2)  # keeps the requests in flight together
        return echo_path(request)

    server = start_server(serve(slow))
    client = make_client(max_keepalive_connections=4)
    urls = [server.url(f"/{i}") for i in range(50 if client.mode == "async" else 20)]
    if isinstance(client.http, httpx.AsyncClient):
        responses = await asyncio.gather(*(client.http.get(url) for url in urls))
    else:
        sync_http = client.http
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            responses = list(pool.map(sync_http.get, urls))
    assert [r.text for r in responses] == [f"GET /{i}" for i in range(len(urls))]
    assert server.accepted > 4
    assert await eventually(lambda: server.open_connections() <= 4), server.open_connections()
    assert (await client.get(server.url("/again"))).text == "GET /again"
    await client.aclose()
    assert await eventually(lambda: server.open_connections() == 0)


async def test_connections_are_pooled_per_origin(
    make_client: MakeClient, start_server: StartServer
) -> None:
    one, two = start_server(serve(echo_path)), start_server(serve(echo_path))
    client = make_client()
    for server in (one, two, one, two):
        assert (await client.get(server.url("/x"))).text == "GET /x"
    assert (one.accepted, two.accepted) == (1, 1)
    assert [len(server.requests) for server in (one, two)] == [2, 2]


async def test_max_connections_queues_the_rest(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def slow(request: Request) -> bytes:
        time.sleep(0.05)
        return echo_path(request)

    server = start_server(serve(slow))
    client = make_client(max_connections=2)
    urls = [server.url(f"/{i}") for i in range(10)]
    if isinstance(client.http, httpx.AsyncClient):
        responses = await asyncio.gather(*(client.http.get(url) for url in urls))
    else:
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            responses = list(pool.map(client.http.get, urls))
    assert [r.text for r in responses] == [f"GET /{i}" for i in range(10)]
    assert server.peak <= 2 and server.accepted <= 2


# Streaming.


async def test_streamed_body_arrives_as_it_is_sent(
    make_client: MakeClient, start_server: StartServer
) -> None:
    gate = threading.Event()
    sent_second: list[bool] = []

    def script(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(CHUNKED_HEAD + chunk(b"first"))
        gate.wait(5)
        sent_second.append(True)
        conn.send(chunk(b"second") + LAST_CHUNK)

    server = start_server(script)
    client = make_client()
    async with client.stream("GET", server.url()) as stream:
        assert await stream.read_at_least(5) == b"first"
        assert not sent_second  # it came before the server sent the rest
        gate.set()
        assert await stream.rest() == b"second"


async def test_large_download_arrives_intact(
    make_client: MakeClient, start_server: StartServer
) -> None:
    payload = os.urandom(8 << 20)
    server = start_server(serve(lambda r: response(payload)))
    client = make_client()
    result = await client.get(server.url())
    assert hashlib.sha256(result.content).hexdigest() == hashlib.sha256(payload).hexdigest()


async def test_large_chunked_download_arrives_intact(
    make_client: MakeClient, start_server: StartServer
) -> None:
    payload = os.urandom(8 << 20)
    sizes = itertools.cycle([1, 7, 4096, 65535, 65536, 65537, 200_000])
    pieces, pos = [], 0
    while pos < len(payload):
        size = next(sizes)
        pieces.append(chunk(payload[pos : pos + size]))
        pos += size
    wire = CHUNKED_HEAD + b"".join(pieces) + LAST_CHUNK
    server = start_server(serve(lambda r: wire))
    client = make_client()
    for _ in range(2):
        result = await client.get(server.url())
        assert hashlib.sha256(result.content).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert server.accepted == 1


async def test_response_details_reach_httpx(
    make_client: MakeClient, start_server: StartServer
) -> None:
    raw = response(
        b"nope",
        status=404,
        reason="Not Found Here",
        headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Big", "b" * 30_000)],
    )
    server = start_server(serve(lambda r: raw))
    result = await make_client().get(server.url())
    assert (result.status_code, result.reason_phrase, result.http_version) == (
        404,
        "Not Found Here",
        "HTTP/1.1",
    )
    assert result.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert result.headers["x-big"] == "b" * 30_000 and result.text == "nope"


# Request bodies.


async def test_streamed_upload_is_chunk_encoded(
    make_client: MakeClient, start_server: StartServer
) -> None:
    parts = [os.urandom(n) for n in (1, 100, 0, 65536, 1_000_000, 3)]  # an empty part too
    server = start_server(serve(digest))
    client = make_client()
    result = (await client.post(server.url(), content=client.content(parts))).json()
    assert result == {
        "sha256": hashlib.sha256(b"".join(parts)).hexdigest(),
        "length": sum(map(len, parts)),
        "chunked": True,
        "content_length": None,
    }
    assert (await client.get(server.url())).json()["length"] == 0  # connection still in sync
    assert server.accepted == 1


async def test_big_bytes_upload_is_sent_with_content_length(
    make_client: MakeClient, start_server: StartServer
) -> None:
    payload = os.urandom(8 << 20)
    server = start_server(serve(digest))
    client = make_client()
    result = (await client.post(server.url(), content=payload)).json()
    assert result == {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "length": len(payload),
        "chunked": False,
        "content_length": str(len(payload)),
    }


# Features of httpx on top.


async def test_gzip_json_is_decoded(make_client: MakeClient, start_server: StartServer) -> None:
    packed = gzip.compress(json.dumps({"hello": ["world"] * 100}).encode())
    server = start_server(
        serve(
            lambda r: response(
                packed,
                headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            )
        )
    )
    client = make_client()
    assert (await client.get(server.url())).json() == {"hello": ["world"] * 100}


async def test_redirect_is_followed_on_the_same_connection(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def moved(conn: Conn, request: Request) -> None:
        conn.send(response(status=302, reason="Found", headers=[("Location", "/b")]))

    server = start_server(routes({"/a": moved, "/b": lambda c, r: c.send(echo_path(r))}))
    client = make_client(follow_redirects=True)
    result = await client.get(server.url("/a"))
    assert result.text == "GET /b" and str(result.url) == server.url("/b")
    assert [r.status_code for r in result.history] == [302]
    assert server.accepted == 1


# Errors.


def hold_open(conn: Conn, request: Request) -> bool:
    """Answer with a head and one chunk, then say nothing until the client closes."""
    conn.send(CHUNKED_HEAD + chunk(b"x"))
    conn.wait_closed()
    return False


def send_and_close(raw: bytes) -> Callable[[Conn, Request], bool]:
    def route(conn: Conn, request: Request) -> bool:
        conn.send(raw)
        return False

    return route


def slow_ok(conn: Conn, request: Request) -> None:
    time.sleep(0.1)
    conn.send(response(b"ok"))


async def test_truncated_body_is_a_remote_protocol_error(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(answer_once(response(headers=[("Content-Length", "100")]) + b"x" * 10))
    with pytest.raises(httpx.RemoteProtocolError):
        await make_client(timeout=SHORT).get(server.url())


async def test_truncated_chunked_body_is_a_remote_protocol_error(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(answer_once(CHUNKED_HEAD + chunk(b"some") + b"10\r\npart"))
    with pytest.raises(httpx.RemoteProtocolError):
        await make_client(timeout=SHORT).get(server.url())


async def test_closed_without_an_answer_is_a_remote_protocol_error(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(answer_once(b""))
    with pytest.raises(httpx.RemoteProtocolError):
        await make_client(timeout=SHORT).get(server.url())


async def test_reset_mid_body_is_a_read_error(
    make_client: MakeClient, start_server: StartServer
) -> None:
    raw = response(headers=[("Content-Length", "100000")], length=False) + b"x" * 1000
    server = start_server(answer_once(raw, then="reset"))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await make_client(timeout=SHORT).get(server.url())


@pytest.mark.parametrize(
    "raw",
    [
        b"SPAM SPAM SPAM\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n",
        response(headers=[("X-Huge", "a" * 100_000)]),
        response(headers=[("X-Huge", "a" * 100_000)])[:-4],  # and never finished
    ],
    ids=["garbage-status-line", "bad-header-line", "huge-header", "huge-unfinished-header"],
)
async def test_malformed_response_is_a_remote_protocol_error(
    make_client: MakeClient, start_server: StartServer, raw: bytes
) -> None:
    # The connection stays open: only the parser can turn this into an error (not an EOF).
    server = start_server(answer_once(raw, then="hold"))
    with pytest.raises(httpx.RemoteProtocolError):
        await make_client(timeout=SHORT).get(server.url())


async def test_silent_server_is_a_read_timeout(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(answer_once(b"", then="hold"))
    with pytest.raises(httpx.ReadTimeout):
        await make_client().get(server.url(), timeout=httpx.Timeout(5, read=0.2))


async def test_silence_mid_body_is_a_read_timeout_and_the_connection_is_dropped(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def stall(conn: Conn, request: Request) -> bool:
        conn.send(CHUNKED_HEAD + chunk(b"some"))
        conn.wait_closed()  # whatever comes next on this connection goes unanswered
        return False

    server = start_server(routes({"/stall": stall, "/ok": lambda c, r: c.send(response(b"ok"))}))
    client = make_client(timeout=SHORT)
    timeout = httpx.Timeout(5, read=0.2)
    async with client.stream("GET", server.url("/stall"), timeout=timeout) as stream:
        assert await stream.read_at_least(4) == b"some"
        with pytest.raises(httpx.ReadTimeout):
            await stream.rest()
    assert (await client.get(server.url("/ok"))).text == "ok"
    assert server.accepted == 2


async def test_refused_connection_is_a_connect_error(make_client: MakeClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await make_client().get(f"http://127.0.0.1:{free_port()}/")


async def test_full_backlog_is_a_connect_timeout(make_client: MakeClient) -> None:
    # A listener that never accepts, with its backlog filled: new SYNs go unanswered.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
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
            with pytest.raises(httpx.ConnectTimeout):
                await make_client().get(
                    f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(5, connect=0.2)
                )
        finally:
            for filler in fillers:
                filler.close()


async def test_slow_but_steady_upload_is_not_a_write_timeout(
    make_client: MakeClient, start_server: StartServer
) -> None:
    # httpx: "The write timeout specifies the maximum duration to wait for a chunk of data to be
    # sent (for example, a chunk of the request body)" - not the time to send the whole body.
    # The server reads 64 KiB every 25 ms, so sending 8 MiB takes over 3 s while no single write
    # waits for more than a few tens of milliseconds (2 s of write timeout leaves room for a
    # loaded machine to pause the server thread).
    def script(conn: Conn) -> None:
        request = conn.read_head()
        if request is None:
            return
        left = int(request.headers["content-length"])
        sha = hashlib.sha256()
        while left:
            piece = conn.read_exactly(min(left, 1 << 16))
            if piece is None:
                return
            sha.update(piece)
            left -= len(piece)
            time.sleep(0.025)
        conn.send(response(sha.hexdigest().encode()))

    payload = os.urandom(8 << 20)
    server = start_server(script, rcvbuf=1 << 16)
    client = make_client()
    result = await client.post(server.url(), content=payload, timeout=httpx.Timeout(30, write=2))
    assert result.text == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("kind", ["bytes", "stream"])
async def test_server_not_reading_is_a_write_timeout(
    make_client: MakeClient, start_server: StartServer, kind: str
) -> None:
    # The body is far bigger than what the socket buffers hold (a fixed 64 KiB receive window
    # on the server, at most 4 MiB of send buffer here); the read timeout is long so that only
    # the write timeout can end this.
    server = start_server(lambda conn: conn.hold(), rcvbuf=1 << 16)
    client = make_client()
    block = b"x" * (1 << 20)
    body = block * 32 if kind == "bytes" else client.content(itertools.repeat(block, 512))
    with pytest.raises(httpx.WriteTimeout):
        await client.post(server.url(), content=body, timeout=httpx.Timeout(3, write=0.2))


def refuse_upload(linger: bool) -> Script:
    """Answer 413 after the head, never read the body; then drain what comes, or close at once
    (unread data makes that close a reset)."""

    def script(conn: Conn) -> None:
        if conn.read_head() is None:
            return
        conn.send(response(b"too large", 413, "Payload Too Large", [("Connection", "close")]))
        if linger:
            conn.sock.shutdown(socket.SHUT_WR)
            while conn.fill():
                pass
        conn.sock.close()

    return script


@pytest.mark.parametrize("kind", ["bytes", "stream"])
async def test_an_answer_before_the_whole_upload_is_returned(
    make_client: MakeClient, start_server: StartServer, kind: str
) -> None:
    server = start_server(refuse_upload(linger=True), rcvbuf=1 << 16)
    client = make_client(timeout=SHORT)
    block = b"x" * (1 << 20)
    body = block * 32 if kind == "bytes" else client.content(itertools.repeat(block, 32))
    refused = await client.post(server.url("/upload"), content=body)
    assert (refused.status_code, refused.text) == (413, "too large")
    assert (await client.get(server.url("/next"))).status_code == 413  # on a new connection
    assert server.accepted == 2


@pytest.mark.parametrize("kind", ["bytes", "stream"])
def test_an_answer_before_a_reset_is_returned(start_server: StartServer, kind: str) -> None:
    # Sending fails half-way; the answer already received is what the caller gets. (The asyncio
    # driver cannot do this: an asyncio transport drops unread data when a write fails.)
    server = start_server(refuse_upload(linger=False), rcvbuf=1 << 16)
    block = b"x" * (1 << 20)
    body: Any = block * 32 if kind == "bytes" else itertools.repeat(block, 32)
    with httpx.Client(transport=HTTP11Transport(), timeout=SHORT) as client:
        refused = client.post(server.url("/upload"), content=body)
    assert (refused.status_code, refused.text) == (413, "too large")


async def test_reset_during_upload_is_a_transport_error(
    make_client: MakeClient, start_server: StartServer
) -> None:
    def script(conn: Conn) -> None:
        if conn.read_head() is not None:
            conn.reset()

    server = start_server(script)
    client = make_client(timeout=SHORT)
    body = client.content(itertools.repeat(b"x" * (1 << 20), 512))
    with pytest.raises((httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError)):
        await client.post(server.url(), content=body)


async def test_all_connections_busy_is_a_pool_timeout(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(routes({"/hold": hold_open, "/ok": lambda c, r: c.send(response(b"ok"))}))
    client = make_client(max_connections=1, timeout=SHORT)
    async with client.stream("GET", server.url("/hold")) as stream:
        assert await stream.read_at_least(1) == b"x"
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url("/ok"), timeout=httpx.Timeout(5, pool=0.2))
    assert (await client.get(server.url("/ok"))).text == "ok"  # the slot was given back
    assert server.accepted == 2


async def test_every_failure_gives_its_pool_slot_back(
    make_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(
        routes(
            {
                "/hold": hold_open,
                "/ok": lambda c, r: c.send(response(b"ok")),
                "/truncated": send_and_close(response(headers=[("Content-Length", "9")]) + b"x"),
                "/garbage": send_and_close(b"SPAM\r\n\r\n"),
                "/silent": send_and_close(b""),
            }
        )
    )
    client = make_client(max_connections=1, timeout=httpx.Timeout(5, read=2, pool=0.5))
    for path in ("/truncated", "/garbage", "/silent"):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url(path))
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{free_port()}/")
    async with client.stream("GET", server.url("/hold")) as stream:
        assert await stream.read_at_least(1) == b"x"
        for _ in range(3):
            with pytest.raises(httpx.PoolTimeout):
                await client.get(server.url("/ok"), timeout=httpx.Timeout(5, pool=0.05))

    def failing_body() -> Iterator[bytes]:
        yield b"a"
        raise ValueError("the body generator failed")

    with pytest.raises(ValueError, match="generator failed"):
        await client.post(server.url("/ok"), content=client.content(failing_body()))
    assert (await client.get(server.url("/ok"))).text == "ok"


async def test_cancelled_while_waiting_for_the_pool(
    make_async_client: MakeClient, start_server: StartServer
) -> None:
    server = start_server(routes({"/hold": hold_open, "/ok": slow_ok}))
    client = make_async_client(max_connections=1, timeout=httpx.Timeout(5, pool=2))
    async with client.stream("GET", server.url("/hold")) as stream:
        assert await stream.read_at_least(1) == b"x"
        waiting = asyncio.create_task(client.get(server.url("/ok")))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert (await client.get(server.url("/ok"))).text == "ok"  # the slot is not lost
    both = await asyncio.gather(client.get(server.url("/ok")), client.get(server.url("/ok")))
    assert [r.text for r in both] == ["ok", "ok"]
    assert server.accepted == 2  # and not doubled: the two ran one after the other


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Evil", "a\r\nX-Injected: 1"), ("X-Evil", "a\nX-Injected: 1"), ("X-Evil", "a\x00b")],
    ids=["crlf", "lf", "nul"],
)
async def test_header_injection_is_refused_before_sending(
    make_client: MakeClient, start_server: StartServer, name: str, value: str
) -> None:
    server = start_server(serve(echo_path))
    client = make_client()
    with pytest.raises(httpx.LocalProtocolError):
        await client.get(server.url("/evil"), headers={name: value})
    await asyncio.sleep(0.1)  # anything sent would have reached the server by now
    assert server.received() == b""
    assert (await client.get(server.url("/fine"))).text == "GET /fine"
    assert [r.path for r in server.requests] == ["/fine"]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:21/file", "ws://127.0.0.1:80/socket"])
async def test_unsupported_scheme(make_client: MakeClient, url: str) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await make_client().send_to_transport(httpx.Request("GET", url))


# Cancellation (async only).


async def test_cancelled_request_discards_its_connection(
    make_async_client: MakeClient, start_server: StartServer
) -> None:
    def slow(conn: Conn, request: Request) -> bool:
        conn.send(response(headers=[("Content-Length", "100")], length=False) + b"x" * 10)
        conn.wait_closed()
        return False

    server = start_server(routes({"/slow": slow, "/ok": lambda c, r: c.send(response(b"ok"))}))
    client = make_async_client(timeout=SHORT)
    task = asyncio.create_task(client.get(server.url("/slow")))
    assert await eventually(lambda: server.received() != b"")
    await asyncio.sleep(0.1)  # the head and part of the body have been read
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await client.get(server.url("/ok"))).text == "ok"
    assert server.accepted == 2
    assert await eventually(lambda: server.conns[0].done.is_set())
    assert server.conns[0].peer_closed


async def test_cancelled_stream_read_discards_its_connection(
    make_async_client: MakeClient, start_server: StartServer
) -> None:
    def slow(conn: Conn, request: Request) -> bool:
        conn.send(CHUNKED_HEAD + chunk(b"part"))
        conn.wait_closed()
        return False

    server = start_server(routes({"/slow": slow, "/ok": lambda c, r: c.send(response(b"ok"))}))
    client = make_async_client(timeout=SHORT)

    async def read_all() -> bytes:
        async with client.stream("GET", server.url("/slow")) as stream:
            return await stream.rest()

    task = asyncio.create_task(read_all())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await client.get(server.url("/ok"))).text == "ok"
    assert server.accepted == 2
    assert await eventually(lambda: server.conns[0].done.is_set())


async def test_cancelled_upload_discards_its_connection(
    make_async_client: MakeClient, start_server: StartServer
) -> None:
    def script(conn: Conn) -> None:
        request = conn.read_head()
        if request is None:
            return
        if request.path == "/sink":
            conn.hold()  # never reads the body: the upload blocks
        else:
            conn.send(response(b"ok"))
            serve(echo_path)(conn)

    server = start_server(script)
    client = make_async_client()
    body = client.content(itertools.repeat(b"x" * (1 << 20), 512))
    task = asyncio.create_task(client.post(server.url("/sink"), content=body))
    assert await eventually(lambda: len(server.received()) > 0)
    await asyncio.sleep(0.2)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await client.get(server.url("/ok"))).text == "ok"
    assert server.accepted == 2


# TLS.


@dataclass
class TLS:
    ca: trustme.CA
    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_path: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    ca_path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return TLS(ca, server, client, ca_path)


@pytest.mark.parametrize("verify", ["context", "off"])
async def test_tls_with_a_trusted_certificate(
    make_client: MakeClient, start_server: StartServer, tls: TLS, verify: str
) -> None:
    server = start_server(serve(echo_path), ssl_context=tls.server)
    setting = {"context": tls.client, "off": False}[verify]
    client = make_client(verify=setting)
    assert server.url().startswith("https://")
    assert (await client.get(server.url("/a"))).text == "GET /a"
    assert (await client.post(server.url("/b"), content=b"x")).text == "POST /b"
    assert server.accepted == 1


async def test_tls_with_an_untrusted_certificate_is_a_connect_error(
    make_client: MakeClient, start_server: StartServer, tls: TLS
) -> None:
    server = start_server(serve(echo_path), ssl_context=tls.server)
    with pytest.raises(httpx.ConnectError):
        await make_client().get(server.url())
    assert server.requests == []


@SETTLE
async def test_tls_idle_connection_closed_by_the_server_is_replaced(
    make_client: MakeClient, start_server: StartServer, tls: TLS, settle: bool
) -> None:
    server = start_server(one_request_per_connection, ssl_context=tls.server)
    client = make_client(verify=tls.client, timeout=SHORT)
    assert (await client.get(server.url("/a"))).text == "GET /a"
    await server_closed(server, 0, settle)
    assert (await client.post(server.url("/b"), content=b"x")).text == "POST /b"
    assert server.accepted == 2


async def test_tls_ca_from_ssl_cert_file_when_trusting_the_environment(
    make_client: MakeClient,
    start_server: StartServer,
    tls: TLS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_path))
    server = start_server(serve(echo_path), ssl_context=tls.server)
    assert (await make_client().get(server.url("/a"))).text == "GET /a"
    with pytest.raises(httpx.ConnectError):
        await make_client(trust_env=False).get(server.url("/b"))


async def test_tls_client_certificate(
    make_client: MakeClient, start_server: StartServer, tls: TLS, tmp_path: Path
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.ca.issue_cert("127.0.0.1").configure_cert(server_context)
    tls.ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    identity = tmp_path / "client.pem"
    tls.ca.issue_cert("client.example").private_key_and_cert_chain_pem.write_to_path(str(identity))

    def script(conn: Conn) -> None:
        assert isinstance(conn.sock, ssl.SSLSocket)
        peer = conn.sock.getpeercert() or {}
        while conn.read_request() is not None:
            conn.send(response(repr(peer.get("subjectAltName")).encode()))

    server = start_server(script, ssl_context=server_context)
    client_context = ssl.create_default_context()
    tls.ca.configure_trust(client_context)
    client_context.load_cert_chain(identity)
    client = make_client(verify=client_context)
    assert (await client.get(server.url())).text == repr((("DNS", "client.example"),))


async def test_tls_handshake_never_answered_is_a_connect_timeout(
    make_client: MakeClient, start_server: StartServer, tls: TLS
) -> None:
    server = start_server(lambda conn: conn.hold())  # accepts TCP, never speaks TLS
    client = make_client(verify=tls.client)
    with pytest.raises(httpx.ConnectTimeout):
        await client.get(f"https://127.0.0.1:{server.port}/", timeout=httpx.Timeout(5, connect=0.2))


async def test_tls_to_a_plain_http_server_is_a_connect_error(
    make_client: MakeClient, start_server: StartServer, tls: TLS
) -> None:
    def script(conn: Conn) -> None:
        if conn.fill():  # the ClientHello
            conn.send(response(b"this is not TLS", status=400, reason="Bad Request"))

    server = start_server(script)
    client = make_client(verify=tls.client, timeout=SHORT)
    with pytest.raises(httpx.ConnectError):
        await client.get(f"https://127.0.0.1:{server.port}/")
