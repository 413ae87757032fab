"""A small HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose.

A handler gets each parsed request and returns a :class:`Reply`: a normal response, raw bytes,
a chunked stream that may be cut mid-way, or a dropped connection. Written on asyncio streams
(not a framework) so that every failure is exact: a cut in the middle of a line, a connection
closed after the request was read, a truncated body.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes | None = None  # written as is, then the connection is closed
    chunks: Iterable[bytes] | None = None  # chunked body
    cut: bytes | None = None  # with chunks: bytes sent after them, then the connection drops
    drop: bool = False  # close without answering
    delay: float = 0.0
    gate: threading.Event | None = None  # answer only once set; 504 if it stays unset 10 s

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(obj).encode(),
        )

    @classmethod
    def problem(
        cls,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Reply:
        body = {
            "type": f"https://api.inference.sh/errors/{code}",
            "title": code,
            "status": status,
            "detail": detail,
            **extra,
        }
        return cls(
            status=status,
            headers={"content-type": "application/problem+json", **(headers or {})},
            body=json.dumps(body).encode(),
        )


Handler = Callable[[Request], Reply]

_REASONS = {200: "OK", 204: "No Content", 404: "Not Found", 429: "Too Many Requests"}


class FaultServer:
    """Run ``handler`` behind a real socket in a background thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self.handler(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.gate is not None:
                    opened = await asyncio.get_running_loop().run_in_executor(
                        None, reply.gate.wait, 10
                    )
                    if not opened:
                        reply = Reply(status=504, body=b"gate never opened")
                if not await self._write(writer, reply):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readline()).strip(), 16)
                if size == 0:
                    await reader.readline()
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(parts)
        return Request(method, target.split("?", 1)[0], headers, body)

    async def _write(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        if reply.drop:
            return False
        if reply.raw is not None:
            writer.write(reply.raw)
            await writer.drain()
            return False
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        headers = dict(reply.headers)
        if reply.chunks is None:
            headers["content-length"] = str(len(reply.body))
        else:
            headers["transfer-encoding"] = "chunked"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode())
        if reply.chunks is None:
            writer.write(reply.body)
            await writer.drain()
            return True
        for chunk in reply.chunks:
            if chunk:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        if reply.cut is not None:
            if reply.cut:
                writer.write(b"%x\r\n%s" % (len(reply.cut) + 10, reply.cut))
                await writer.drain()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def ndjson(*objects: Any) -> list[bytes]:
    return [json.dumps(o).encode() + b"\n" for o in objects]
