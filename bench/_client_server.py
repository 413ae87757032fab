"""A fast canned HTTP/1.1 server for the client benchmarks (run as a separate process).

Every response is prebuilt so that the server costs the same for raw httpx and for the client:
``POST /apps/run`` answers a created task; ``POST /files`` a file record whose upload URL is
``PUT /bucket`` (the body is read and dropped); ``GET /tasks/status-N-L/stream`` and
``GET /tasks/delta-N-L/stream`` stream N partial updates or N token deltas as NDJSON, L lines per
HTTP chunk: 1 is a server that flushes every line, 256 a busy server or a proxy that batches.
``_client_server.py 20`` answers ``POST /apps/run`` 20 ms late, as a distant server would.
"""

from __future__ import annotations

import asyncio
import json
import sys

NOW = "2026-11-23T12:00:00Z"
TASK = {
    "id": "t1",
    "short_id": "t1",
    "created_at": NOW,
    "updated_at": NOW,
    "team_id": "team",
    "user_id": "user",
    "visibility": "private",
    "app_id": "app",
    "app_version_id": "ver",
    "engine_public_key": None,
    "user_public_key": None,
    "events": [],
    "logs": [],
    "usage_events": [],
    "workers": [],
    "function": "run",
    "infra": "cloud",
    "input": {},
    "output": None,
    "is_featured": False,
    "rating": "safe",
    "status": 7,
}
CREATED = {
    "data": {
        "id": "t1",
        "short_id": "t1",
        "created_at": NOW,
        "updated_at": NOW,
        "status": 1,
        "status_text": "received",
        "output": None,
    },
    "messages": [],
}


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _stream_lines(kind: str, n: int) -> list[bytes]:
    lines = [json.dumps(TASK).encode() + b"\n"]
    for i in range(n):
        if kind == "status":
            obj: object = {"data": {"status": 7, "output": {"progress": i}}, "fields": ["status"]}
        else:
            obj = {"event": "delta", "data": {"delta": {"response": "tok "}, "seq": i + 1}}
        lines.append(json.dumps(obj).encode() + b"\n")
    final = dict(TASK, status=10, output={"done": True} if kind == "status" else None)
    lines.append(json.dumps(final).encode() + b"\n")
    return lines


class _Protocol(asyncio.Protocol):
    created = _response("200 OK", json.dumps(CREATED).encode())
    put_ok = _response("200 OK", b"")
    streams: dict[str, bytes] = {}
    delay = 0.0

    def __init__(self, base: list[str]) -> None:
        self.base = base
        self.buffer = b""
        self.remaining = 0  # body bytes still to skip
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.remaining:
                taken = min(self.remaining, len(self.buffer))
                self.remaining -= taken
                self.buffer = self.buffer[taken:]
                if self.remaining:
                    return
                self._answer_put()
                continue
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            self.buffer = self.buffer[end + 4 :]
            line, *header_lines = head.split("\r\n")
            method, path, _ = line.split(" ", 2)
            headers = {}
            for h in header_lines:
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            if method == "PUT":
                self.remaining = length
                if not length:
                    self._answer_put()
                continue
            if len(self.buffer) < length:
                self.buffer = head.encode("latin-1") + b"\r\n\r\n" + self.buffer
                return
            body, self.buffer = self.buffer[:length], self.buffer[length:]
            self._route(method, path, body)

    def _answer_put(self) -> None:
        assert self.transport is not None
        self.transport.write(self.put_ok)

    def _route(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if method == "POST" and path == "/apps/run":
            if self.delay:  # a server (or a network) that takes a while to answer
                loop = asyncio.get_running_loop()
                loop.call_later(self.delay, self.transport.write, self.created)
            else:
                self.transport.write(self.created)
        elif method == "POST" and path == "/files":
            record = dict(
                TASK,
                id="f1",
                category="uploads",
                content_type="application/octet-stream",
                filename="f",
                path="",
                remote_path="",
                size=0,
                upload_url=f"{self.base[0]}/bucket",
                uri="https://files.example/f1",
            )
            self.transport.write(
                _response("200 OK", json.dumps({"data": [record], "messages": []}).encode())
            )
        elif method == "GET" and path.endswith("/stream"):
            self.transport.write(self._stream(path.split("/")[2]))
        elif method == "GET" and path.startswith("/tasks/"):
            self.transport.write(_response("200 OK", json.dumps(dict(TASK, status=10)).encode()))
        else:
            self.transport.write(_response("404 Not Found", b"{}"))

    def _stream(self, name: str) -> bytes:
        cached = self.streams.get(name)
        if cached is None:
            kind, count, per_chunk = name.split("-")
            lines = _stream_lines(kind, int(count))
            size = int(per_chunk)
            grouped = [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]
            chunks = [b"%x\r\n%s\r\n" % (len(x), x) for x in grouped]
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
            head += b"transfer-encoding: chunked\r\n\r\n"
            cached = head + b"".join(chunks) + b"0\r\n\r\n"
            self.streams[name] = cached
        return cached


async def main() -> None:
    # Seconds before ``POST /apps/run`` is answered: the first argument, in milliseconds.
    _Protocol.delay = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
    loop = asyncio.get_running_loop()
    base: list[str] = [""]
    server = await loop.create_server(lambda: _Protocol(base), "127.0.0.1", 0, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    base[0] = f"http://127.0.0.1:{port}"
    print(port, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # run until the parent closes our stdin


if __name__ == "__main__":
    asyncio.run(main())
