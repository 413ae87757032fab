"""Response heads a server can get wrong, or use to smuggle: status lines, header lines with
control characters, bare CR/LF, folded lines, heads too large, heads that trickle in.

A refused head is a ``RemoteProtocolError`` (an ``APIConnectionError`` through the clients). The
server keeps the connection open after it, so only the parsing can end these requests.
"""

from __future__ import annotations

import httpx
import pytest

from .conftest import MakeClient, StartServer
from .harness import Conn, Script, Way, answer_once, task_body

BODY = task_body("t1")
LENGTH = f"Content-Length: {len(BODY)}\r\n".encode()


def head(status_line: bytes, *lines: bytes) -> bytes:
    return status_line + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + LENGTH + b"\r\n"


OK = b"HTTP/1.1 200 OK"

REFUSED: dict[str, bytes] = {
    # Status lines.
    "status-000": head(b"HTTP/1.1 000 Zero"),
    "status-099": head(b"HTTP/1.1 099 Below"),
    "status-101-unasked": head(b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket"),
    "status-four-digits": head(b"HTTP/1.1 2000 OK"),
    "status-not-a-number": head(b"HTTP/1.1 2x0 OK"),
    "status-line-garbage": head(b"SPAM SPAM SPAM"),
    "status-line-http-2": head(b"HTTP/2 200 OK"),
    "status-line-icy": head(b"ICY 200 OK"),
    "status-line-two-spaces": head(b"HTTP/1.1  200 OK"),
    "status-line-nul": head(b"HTTP/1.1 200 O\x00K"),
    # Header values.
    "value-nul": head(OK, b"X-A: a\x00b"),
    "value-bare-cr": head(OK, b"X-A: a\rb"),
    "value-bare-cr-before-a-second-header": head(OK, b"X-A: a\rContent-Length: 0"),
    "value-bare-lf": head(OK, b"X-A: a\nb"),
    "value-bare-lf-smuggling-a-content-length": head(OK, b"X-A: a\nContent-Length: 0"),
    "line-ends-with-bare-lf": b"HTTP/1.1 200 OK\nX-A: a\n" + LENGTH + b"\r\n",
    "head-ends-with-bare-lfs": OK + b"\r\n" + LENGTH[:-2] + b"\n\n",
    # Header names.
    "name-with-a-control-character": head(OK, b"X-\x01A: 1"),
    "name-with-del": head(OK, b"X-\x7fA: 1"),
    "name-with-a-space": head(OK, b"X A: 1"),
    "name-with-a-space-before-the-colon": head(OK, b"X-A : 1"),
    "name-with-a-tab": head(OK, b"X-\tA: 1"),
    "name-empty": head(OK, b": nameless"),
    "no-colon": head(OK, b"no colon here"),
    "fold-on-the-first-line": head(OK, b" folded: 1"),
    # Size.
    "a-1-mib-header-line": head(OK, b"X-Huge: " + b"a" * (1 << 20)),
    "100k-headers": head(OK, *(b"X-%d: 1" % i for i in range(100_000))),
    "a-1-mib-header-never-finished": OK + b"\r\nX-Huge: " + b"a" * (1 << 20),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_malformed_head_is_refused(way: Way, start_server: StartServer, name: str) -> None:
    server = start_server(answer_once(REFUSED[name] + BODY, then="hold"))
    with pytest.raises(way.error(httpx.RemoteProtocolError)):
        await way.task_id(server.url(""))


ACCEPTED: dict[str, tuple[bytes, dict[str, str]]] = {
    "no-reason-phrase": (head(b"HTTP/1.1 200"), {}),
    "reason-with-spaces-and-latin-1": (head(b"HTTP/1.1 200 Fine \xe9t\xe9 today"), {}),
    # RFC 9112 5.2: a client replaces an obs-fold with a space.
    "obs-fold": (head(OK, b"X-Folded: first", b" \t second"), {"x-folded": "first second"}),
    "value-with-obs-text": (head(OK, b"X-Bytes: caf\xc3\xa9"), {"x-bytes": "café"}),
    "value-with-padding": (head(OK, b"X-Padded: \t  value \t "), {"x-padded": "value"}),
    "repeated-header": (head(OK, b"X-Twice: a", b"X-Twice: b"), {"x-twice": "a, b"}),
    "name-in-any-case": (head(OK, b"x-MiXeD: 1"), {"x-mixed": "1"}),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
async def test_unusual_but_valid_head_is_read(
    make_client: MakeClient, start_server: StartServer, name: str
) -> None:
    raw, expected = ACCEPTED[name]
    server = start_server(answer_once(raw + BODY, then="hold"))
    answer = await make_client().get(server.url("/tasks/t1"))
    assert answer.json()["id"] == "t1"
    for key, value in expected.items():
        assert answer.headers[key] == value


@pytest.mark.parametrize("name", ["no-reason-phrase", "obs-fold", "repeated-header"])
async def test_unusual_but_valid_head_reaches_the_clients(
    way: Way, start_server: StartServer, name: str
) -> None:
    server = start_server(answer_once(ACCEPTED[name][0] + BODY, then="hold"))
    assert await way.task_id(server.url("")) == "t1"


# Slow-loris: a head that trickles in one byte per write. A valid one is read (each byte is looked
# at once, however the head is split); an endless one is refused at the head limit, whose bytes
# come in well inside any read timeout.


def trickled(raw: bytes, limit: int | None = None) -> Script:
    def script(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.trickle(raw, limit)
            conn.wait_closed()

    return script


async def test_a_head_trickled_byte_by_byte_is_read(
    make_client: MakeClient, start_server: StartServer
) -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + head(OK, b"Content-Type: application/json", *(b"X-%d: %d" % (i, i) for i in range(50)))
        + BODY
    )
    server = start_server(trickled(raw))
    answer = await make_client().get(server.url("/tasks/t1"))
    assert answer.json()["id"] == "t1"
    assert answer.headers["x-49"] == "49"


@pytest.mark.parametrize("lf", [False, True], ids=["endless-header", "bare-lf-late"])
async def test_a_trickled_head_is_refused_at_the_limit_or_at_a_bare_lf(
    make_client: MakeClient, start_server: StartServer, lf: bool
) -> None:
    if lf:
        raw = OK + b"\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"X-A: a\nb\r\n\r\n"
        limit = None
    else:
        raw = OK + b"\r\nX-Endless: " + b"a" * (1 << 17)
        limit = 1 << 17  # twice the head limit: the client must give up first
    server = start_server(trickled(raw, limit))
    with pytest.raises(httpx.RemoteProtocolError):
        await make_client(timeout=httpx.Timeout(10.0)).get(server.url("/tasks/t1"))
