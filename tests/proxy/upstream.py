"""A scriptable upstream API for the proxy tests (an ASGI app served on 127.0.0.1).

Paths: ``/echo`` answers with what it received (and echoes the Authorization header back in a
response header and the body, as a careless server might); ``/gated/ndjson`` and ``/gated/sse``
send one event, wait for the test to open the gate, then send the rest; ``/upload`` reports the
moment its first body chunk arrived; ``/bytes/<n>`` and ``/chunked/<n>`` send n bytes with and
without a Content-Length; ``/problem`` answers 409 problem+json; ``/redirect`` answers 302.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# A gate opens within milliseconds when the proxy streams; this only bounds a failing run.
GATE_GUARD_SECONDS = 60.0
PROBLEM = (
    b'{"type":"https://api.inference.sh/errors/conflict","title":"Conflict",'
    b'"status":409,"detail":"worker leased","meta":{"k":[1,2]}}'
)


class Upstream:
    """The app; ``requests`` records (method, path, headers, body size) of each request."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.sent_rest = threading.Event()
        self.first_chunk = threading.Event()

    def release(self) -> None:
        self.gate.set()
        self.first_chunk.set()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        digest = hashlib.sha256()
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk and not self.first_chunk.is_set():
                self.first_chunk.set()
            digest.update(chunk)
            size += len(chunk)
            if not message.get("more_body"):
                break
        record = {"method": scope["method"], "path": path, "headers": headers, "size": size}
        record["query"] = scope.get("query_string", b"").decode()
        self.requests.append(record)
        if path == "/echo":
            auth = headers.get("authorization", "")
            body = json.dumps({**record, "echo": auth, "sha256": digest.hexdigest()}).encode()
            extra = [(b"x-echo-auth", auth.encode()), (b"set-cookie", b"sid=upstream; Path=/")]
            await _respond(send, 200, body, "application/json", extra)
        elif path.startswith("/gated/"):
            await self._gated(send, path.rsplit("/", 1)[1])
        elif path == "/upload":
            await _respond(send, 200, json.dumps({"size": size}).encode(), "application/json")
        elif path.startswith("/bytes/"):
            await _respond(send, 200, b"x" * int(path.rsplit("/", 1)[1]), "text/plain")
        elif path.startswith("/chunked/"):
            await _start(send, 200, "application/octet-stream")
            left = int(path.rsplit("/", 1)[1])
            while left > 0:
                part = min(left, 65536)
                left -= part
                await send({"type": "http.response.body", "body": b"y" * part, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif path == "/problem":
            await _respond(send, 409, PROBLEM, "application/problem+json")
        elif path == "/redirect":
            await _respond(send, 302, b"", "text/plain", [(b"location", b"/echo")])
        else:
            await _respond(send, 404, b'{"detail":"no such path"}', "application/json")

    async def _gated(self, send: Send, kind: str) -> None:
        if kind == "sse":
            first, rest = b'data: {"n":1}\n\n', b'data: {"n":2}\n\n'
            content_type = "text/event-stream"
        else:
            first, rest = b'{"n":1}\n', b'{"n":2}\n'
            content_type = "application/x-ndjson"
        await _start(send, 200, content_type)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await anyio.to_thread.run_sync(self.gate.wait, GATE_GUARD_SECONDS)
        self.sent_rest.set()
        await send({"type": "http.response.body", "body": rest, "more_body": False})


async def _start(
    send: Send, status: int, content_type: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", content_type.encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await _start(send, status, content_type, [*length, *(extra or [])])
    await send({"type": "http.response.body", "body": body, "more_body": False})
