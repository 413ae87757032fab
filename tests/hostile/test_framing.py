"""Body framing a server can get wrong, or forge: Content-Length and Transfer-Encoding fights,
broken chunks, bytes past the end of a response, bodies where none may be, interim responses.

A refused response is a ``RemoteProtocolError`` (an ``APIConnectionError`` through the clients).
Bytes after a complete response never reach the next request: the connection is dropped, and
the next answer comes on a new one.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from .conftest import MakeClient, StartServer
from .harness import (
    CHUNKED_HEAD,
    Conn,
    Script,
    Way,
    answer_once,
    chunk,
    first_then,
    task_body,
    task_response,
)

BODY = task_body("t1")
FORGED = task_response("forged")


def head(*headers: str, status: str = "200 OK", version: str = "HTTP/1.1") -> bytes:
    lines = [f"{version} {status}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes, size: int = 100) -> bytes:
    return b"".join(chunk(body[i : i + size]) for i in range(0, len(body), size)) + b"0\r\n\r\n"


# Refused: the connection stays open, so only the framing can make this an error.

REFUSED: dict[str, bytes] = {
    "content-length-conflict": head("Content-Length: 5", f"Content-Length: {len(BODY)}") + BODY,
    "content-length-conflicting-list": head(f"Content-Length: {len(BODY)}, 5") + BODY,
    "content-length-negative": head("Content-Length: -1") + BODY,
    "content-length-plus-sign": head(f"Content-Length: +{len(BODY)}") + BODY,
    "content-length-not-a-number": head("Content-Length: lots") + BODY,
    "content-length-hex": head(f"Content-Length: 0x{len(BODY):x}") + BODY,
    "content-length-huge": head("Content-Length: " + "9" * 40) + BODY,
    "transfer-encoding-unknown": head("Transfer-Encoding: gzip, chunked") + chunked(BODY),
    "transfer-encoding-twice": head("Transfer-Encoding: chunked", "Transfer-Encoding: chunked")
    + chunked(BODY),
    "chunk-size-overflow": head("Transfer-Encoding: chunked") + b"1" + b"0" * 40 + b"\r\n" + BODY,
    "chunk-size-not-hex": head("Transfer-Encoding: chunked") + b"zz\r\n" + BODY,
    "chunk-size-negative": head("Transfer-Encoding: chunked") + b"-5\r\nhello\r\n0\r\n\r\n",
    "chunk-without-crlf": head("Transfer-Encoding: chunked")
    + b"%x\r\n%sXX0\r\n\r\n" % (len(BODY), BODY),
    "chunk-size-bare-lf": head("Transfer-Encoding: chunked")
    + b"%x\n%s\r\n0\r\n\r\n" % (len(BODY), BODY),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_malformed_framing_is_refused(way: Way, start_server: StartServer, name: str) -> None:
    server = start_server(answer_once(REFUSED[name], then="hold"))
    with pytest.raises(way.error(httpx.RemoteProtocolError)):
        await way.task_id(server.url(""))


# Cut short: the server closes before the framing is satisfied.

CUT: dict[str, bytes] = {
    "content-length-longer-than-body": head(f"Content-Length: {len(BODY) + 10}") + BODY,
    "content-length-20-digits": head("Content-Length: " + "9" * 20) + BODY,
    "chunk-size-2-to-the-64": head("Transfer-Encoding: chunked") + b"ffffffffffffffff\r\n" + BODY,
    "chunked-without-last-chunk": head("Transfer-Encoding: chunked") + chunked(BODY)[:-5],
    "head-unfinished": head()[:-2],
}


@pytest.mark.parametrize("name", list(CUT))
async def test_a_response_cut_short_is_refused(
    way: Way, start_server: StartServer, name: str
) -> None:
    server = start_server(answer_once(CUT[name], then="close"))
    with pytest.raises(way.error(httpx.RemoteProtocolError)):
        await way.task_id(server.url(""))


# Read as framed; whether the connection is kept is checked by the second answer.

READ: dict[str, tuple[bytes, bool]] = {  # the first answer, and whether it may be reused
    "content-length-duplicate-equal": (
        head(f"Content-Length: {len(BODY)}", f"Content-Length: {len(BODY)}") + BODY,
        True,
    ),
    "chunk-extensions-and-trailers": (
        head("Transfer-Encoding: chunked")
        + b"%x;name=value;flag\r\n%s\r\n0\r\nX-Trailer: dropped\r\n\r\n" % (len(BODY), BODY),
        True,
    ),
    "chunk-size-with-leading-zeros": (
        head("Transfer-Encoding: chunked") + b"0000%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY),
        True,
    ),
    "interim-100-and-103": (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        + head(f"Content-Length: {len(BODY)}")
        + BODY,
        True,
    ),
    # Both framings: Transfer-Encoding wins (RFC 9112 6.3), and such a response is a warning
    # sign of smuggling, so its connection is not trusted again.
    "transfer-encoding-then-content-length": (
        head("Transfer-Encoding: chunked", "Content-Length: 5") + chunked(BODY) + FORGED,
        False,
    ),
    "content-length-then-transfer-encoding": (
        head("Content-Length: 5", "Transfer-Encoding: chunked") + chunked(BODY) + FORGED,
        False,
    ),
    "content-length-then-transfer-encoding-alone": (
        head("Content-Length: 5", "Transfer-Encoding: chunked") + chunked(BODY),
        False,
    ),
    "body-longer-than-content-length-with-a-forged-response": (
        head(f"Content-Length: {len(BODY)}") + BODY + FORGED,
        False,
    ),
    "chunked-body-followed-by-a-forged-response": (
        head("Transfer-Encoding: chunked") + chunked(BODY) + FORGED,
        False,
    ),
    "http-1.0-with-length": (
        head(f"Content-Length: {len(BODY)}", version="HTTP/1.0") + BODY,
        False,
    ),
    "http-1.0-keep-alive-with-length": (
        head(f"Content-Length: {len(BODY)}", "Connection: keep-alive", version="HTTP/1.0") + BODY,
        False,
    ),
    "connection-close": (head(f"Content-Length: {len(BODY)}", "Connection: close") + BODY, False),
}


@pytest.mark.parametrize("name", list(READ))
async def test_framing_read_and_reuse(way: Way, start_server: StartServer, name: str) -> None:
    first, reusable = READ[name]
    server = start_server(first_then(first))
    assert await way.task_id(server.url("")) == "t1"
    assert await way.task_id(server.url("")) == "t2"  # never "forged"
    assert server.accepted == (1 if reusable else 2)


def read_to_close(version: str) -> Script:
    def script(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.send(head(version=version) + BODY)  # no length: the body ends with the connection

    return script


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
async def test_body_read_to_close(way: Way, start_server: StartServer, version: str) -> None:
    server = start_server(read_to_close(version))
    assert await way.task_id(server.url("")) == "t1"
    assert await way.task_id(server.url("")) == "t1"
    assert server.accepted == 2


def later(first: bytes, forged: bytes, release: threading.Event, sent: threading.Event) -> Script:
    """Answer ``first``; once ``release`` is set, send ``forged`` on the same (idle) connection.
    Later requests, on any connection, get task t2."""

    def script(conn: Conn) -> None:
        while conn.read_request() is not None:
            if len(conn.server.requests) > 1:
                conn.send(task_response("t2"))
                continue
            conn.send(first)
            if release.wait(5):
                conn.send(forged)
            sent.set()

    return script


@pytest.mark.parametrize(
    "first",
    [
        head(f"Content-Length: {len(BODY)}") + BODY,
        head("Transfer-Encoding: chunked") + chunked(BODY),
    ],
    ids=["content-length", "chunked"],
)
async def test_a_forged_response_a_little_later_is_never_read(
    way: Way, start_server: StartServer, first: bytes
) -> None:
    release, sent = threading.Event(), threading.Event()
    server = start_server(later(first, FORGED, release, sent))
    assert await way.task_id(server.url("")) == "t1"
    release.set()
    assert sent.wait(5)
    assert await way.task_id(server.url("")) == "t2"
    assert server.accepted == 2


# No body may follow HEAD, 204 and 304: one that does ends the connection (transports only: the
# API has no such calls).

NO_BODY: dict[str, tuple[str, bytes, int]] = {
    "head": ("HEAD", head(f"Content-Length: {len(BODY)}") + BODY, 200),
    "head-chunked": ("HEAD", head("Transfer-Encoding: chunked") + chunked(BODY), 200),
    "204": ("GET", head(status="204 No Content") + BODY, 204),
    "304": ("GET", head("Content-Length: 5", status="304 Not Modified") + b"hello", 304),
    "204-with-a-forged-response": ("GET", head(status="204 No Content") + FORGED, 204),
}


@pytest.mark.parametrize("name", list(NO_BODY))
async def test_a_body_where_none_may_be_ends_the_connection(
    make_client: MakeClient, start_server: StartServer, name: str
) -> None:
    method, first, status = NO_BODY[name]
    server = start_server(first_then(first))
    client = make_client()
    answer = await client.request(method, server.url("/tasks/t1"))
    assert (answer.status_code, answer.content) == (status, b"")
    assert (await client.get(server.url("/tasks/t1"))).json()["id"] == "t2"
    assert server.accepted == 2


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
async def test_an_empty_204_or_304_keeps_the_connection(
    make_client: MakeClient, start_server: StartServer, status: str
) -> None:
    server = start_server(first_then(head(status=status)))
    client = make_client()
    assert (await client.get(server.url("/tasks/t1"))).content == b""
    assert (await client.get(server.url("/tasks/t1"))).json()["id"] == "t2"
    assert server.accepted == 1


async def test_chunked_body_split_everywhere_arrives_whole(
    make_client: MakeClient, start_server: StartServer
) -> None:
    # One byte per write: every chunk boundary, CRLF and size line split across reads.
    def script(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.trickle(CHUNKED_HEAD + chunked(BODY, size=7))

    server = start_server(script)
    answer = await make_client().get(server.url("/tasks/t1"))
    assert answer.content == BODY
