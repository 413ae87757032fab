"""Consumers that do something between chunks (forward to a websocket, update a UI) while the
rest of a streamed body arrives: everything already received is handed over, in order, before
the stream waits, ends, or reports a read timeout; a task stream needs no extra ``GET``.

The server sends the rest only after the consumer said it got the first part, and the consumer
goes on only after the server sent it and the event loop handled it: the bytes are buffered
while the consumer is away.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from .conftest import MakeApi, MakeClient, StartServer
from .harness import CHUNKED_HEAD, LAST_CHUNK, Conn, Script, chunk, response, settle, task_body


class Steps:
    """The consumer tells the server to go on; the server tells the consumer it has sent."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.sent = threading.Event()

    async def away(self) -> None:
        """What a consumer does between chunks: let the server send the rest, wait until it
        has, and let the loop take the bytes in."""
        self.go.set()
        assert await asyncio.to_thread(self.sent.wait, 5)
        await settle()


def in_two_parts(first: bytes, rest: bytes, steps: Steps, then: str = "close") -> Script:
    def script(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(first)
        if steps.go.wait(5):
            conn.send(rest)
        steps.sent.set()
        if then == "hold":
            conn.wait_closed()

    return script


BODIES = {
    "chunked": (
        CHUNKED_HEAD + chunk(b"0123456789"),
        chunk(b"a" * 10) + chunk(b"b" * 10) + LAST_CHUNK,
    ),
    "content-length": (
        response(headers=[("Content-Length", "30")], length=False) + b"0123456789",
        b"a" * 10 + b"b" * 10,
    ),
    "read-to-close": (response(length=False) + b"0123456789", b"a" * 10 + b"b" * 10),
}


@pytest.mark.parametrize("framing", list(BODIES))
async def test_bytes_that_arrive_while_the_consumer_is_away_are_all_delivered(
    make_client: MakeClient, start_server: StartServer, framing: str
) -> None:
    steps = Steps()
    first, rest = BODIES[framing]
    server = start_server(in_two_parts(first, rest, steps))
    received: list[bytes] = []
    async with make_client().stream("GET", server.url("/stream")) as stream:
        received.append(await stream.next_raw())
        await steps.away()
        while piece := await stream.next_raw():
            received.append(piece)
    assert b"".join(received) == b"0123456789" + b"a" * 10 + b"b" * 10


async def test_aiter_bytes_with_an_await_between_chunks(
    make_async_client: MakeClient, start_server: StartServer
) -> None:
    steps = Steps()
    first, rest = BODIES["chunked"]
    server = start_server(in_two_parts(first, rest, steps))
    http = make_async_client().http
    assert isinstance(http, httpx.AsyncClient)
    total = b""
    async with http.stream("GET", server.url("/stream")) as answer:
        async for piece in answer.aiter_bytes():
            total += piece
            if len(total) == 10:
                await steps.away()
    assert total == b"0123456789" + b"a" * 10 + b"b" * 10


async def test_a_buffered_update_is_delivered_before_the_read_timeout(
    make_client: MakeClient, start_server: StartServer
) -> None:
    steps = Steps()
    server = start_server(
        in_two_parts(CHUNKED_HEAD + chunk(b"one\n"), chunk(b"two\n"), steps, then="hold")
    )
    timeout = httpx.Timeout(5, read=0.5)
    received: list[bytes] = []
    async with make_client().stream("GET", server.url("/stream"), timeout=timeout) as stream:
        received.append(await stream.next_raw())
        await steps.away()
        with pytest.raises(httpx.ReadTimeout):
            while True:
                received.append(await stream.next_raw())
    assert received == [b"one\n", b"two\n"]


# Through the clients: a task stream whose NDJSON lines arrive while the consumer awaits.


def line(status: int, step: str) -> bytes:
    return task_body("t1", status=status, output={"step": step}) + b"\n"


def task_stream(steps: Steps, gets: list[str]) -> Script:
    """``GET /tasks/t1/stream``: update 1, then (once told) updates 2 and 3 (terminal) and the
    end. ``GET /tasks/t1`` answers too, but is recorded: it should never be needed."""

    def script(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if request.path == "/tasks/t1":
                gets.append(request.path)
                conn.send(
                    response(line(10, "fetched"), headers=[("Content-Type", "application/json")])
                )
                continue
            conn.send(CHUNKED_HEAD + chunk(line(7, "one")))
            if steps.go.wait(5):
                conn.send(chunk(line(7, "two")) + chunk(line(10, "three")) + LAST_CHUNK)
            steps.sent.set()

    return script


async def test_a_task_stream_consumer_awaiting_between_updates_gets_every_update(
    make_api: MakeApi, start_server: StartServer
) -> None:
    steps, gets = Steps(), list[str]()
    server = start_server(task_stream(steps, gets))
    api = make_api(server.url(""))

    async def consume(client: Any) -> list[str]:
        seen: list[str] = []
        stream = client.tasks.stream("t1")
        if hasattr(stream, "__aiter__"):
            async with stream as updates:
                async for update in updates:
                    seen.append(update.output["step"])
                    if len(seen) == 1:
                        await steps.away()
            return seen
        with stream as updates:
            for update in updates:
                seen.append(update.output["step"])
                if len(seen) == 1:
                    steps.go.set()
                    assert steps.sent.wait(5)
        return seen

    assert await api.call(consume) == ["one", "two", "three"]
    assert gets == []
    assert server.accepted == 1
