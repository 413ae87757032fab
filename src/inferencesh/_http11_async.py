"""The asyncio driver of the HTTP/1.1 transport: one plain ``asyncio.Protocol`` per connection,
on the pool, wire and request plan of ``inferencesh._http11``.

A module of its own so that the blocking client, which never needs it, does not import asyncio.
"""

# The other half of inferencesh._http11, sharing its private parts.
# pyright: reportPrivateUsage=false

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

from inferencesh._http11 import (
    _HIGH_WATER,
    _WRITE_SIZE,
    Origin,
    _Body,
    _Plan,
    _Pool,
    _readable,
    _response,
    _Wire,
)

__all__ = ["AsyncHTTP11Transport"]


class _AsyncConnection(asyncio.Protocol):
    """One TCP (or TLS) connection; while a request is in flight, the protocol callbacks feed
    its wire and wake whoever waits for it."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.wire = _Wire()
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.active = False  # a request is in flight on this connection
        self.broken = False
        self._error: BaseException | None = None
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._lost = False

    # Protocol callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.active:
            self.broken = True  # bytes nobody asked for
            return
        if self._error is not None:
            return
        wire = self.wire
        try:
            wire.feed(data)
        except httpx.TransportError as exc:
            self._fail(exc)
            return
        if wire.buffered > _HIGH_WATER and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.broken = True
        self._feed_eof()
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        self._lost = True
        if exc is not None:
            self._fail(httpx.ReadError(f"the connection was lost: {exc}"))
        else:
            self._feed_eof()
        self._wake()
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        if self._write_waiter is None or self._write_waiter.done():
            self._write_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Used by the transport.

    def usable(self) -> bool:
        transport = self.transport
        if self.broken or transport is None or transport.is_closing():
            return False
        sock = transport.get_extra_info("socket")
        return sock is None or not _readable(sock)

    def begin(self) -> _Wire:
        self.active = True
        self._error = None
        return self.wire

    def finish(self) -> None:
        """The response is over: stop feeding the wire, and read again if a slow reader paused
        it (so that a close by the server while idle is seen)."""
        self.active = False
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def write(self, data: bytes | memoryview) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        transport.write(data)

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write ``data`` a slice at a time (the write timeout bounds each stalled slice); stop
        when the server answers first (say, 413 before it read the whole upload)."""
        if len(data) <= _WRITE_SIZE:
            self.write(data)
            await self.drain(timeout)
            return
        view = memoryview(data)
        for start in range(0, len(view), _WRITE_SIZE):
            if self.wire.head is not None:
                return
            self.write(view[start : start + _WRITE_SIZE])
            await self.drain(timeout)

    async def drain(self, timeout: float | None) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            await _wait_for(waiter, timeout, httpx.WriteTimeout, "sending the request timed out")
        if self.broken and self._error is not None:
            raise httpx.WriteError(f"sending the request failed: {self._error}")

    async def receive(self, timeout: float | None) -> None:
        """Wait until the wire has progressed (or raise what went wrong)."""
        if self._error is not None:
            raise self._error
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await _wait_for(waiter, timeout, httpx.ReadTimeout, "no response data in time")
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self.broken = True
        # Once asyncio has reported the loss, its transport is spent (abort() would fail).
        if self.transport is not None and not self._lost:
            self.transport.abort()

    def _feed_eof(self) -> None:
        if self.active and not self._eof and self._error is None:
            self._eof = True
            try:
                self.wire.feed(b"")
            except httpx.TransportError as exc:
                self._fail(exc)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self.broken = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.wire.head is not None:
            # An answer while an upload waits for the socket: the sender stops (see send()).
            waiter = self._write_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


async def _wait_for(
    waiter: asyncio.Future[None],
    timeout: float | None,
    error: type[httpx.TimeoutException],
    message: str,
) -> None:
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error, message)
    try:
        await waiter
    finally:
        timer.cancel()


def _expire(
    waiter: asyncio.Future[None], error: type[httpx.TimeoutException], message: str
) -> None:
    # The error is made only when it is raised: most waits end well before their timeout.
    if not waiter.done():
        waiter.set_exception(error(message))


class AsyncHTTP11Transport(_Pool[_AsyncConnection], httpx.AsyncBaseTransport):
    """An asyncio HTTP/1.1 connection pool for ``httpx.AsyncClient(transport=...)``."""

    def _setup(self) -> None:
        self._slots: asyncio.Semaphore | None = None  # made inside the running loop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._handle(_Plan(request), request, False)

    async def send_direct(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, float | None],
        *,
        read_now: bool,
    ) -> httpx.Response:
        """Send a request given as its parts (the whole body among them), without an
        ``httpx.Request``; the response's ``request`` is left for the caller to set.
        ``read_now``: the caller reads the whole body at once (then, when it came with the
        head, the connection is released before the response is handed over)."""
        plan = _Plan.of(origin, method, target, headers, body, timeouts)
        return await self._handle(plan, None, read_now)

    async def _handle(
        self, plan: _Plan, request: httpx.Request | None, read_now: bool
    ) -> httpx.Response:
        timeouts = plan.timeouts
        await self._take_slot(timeouts.get("pool"))
        try:
            while True:
                conn = self._pop_idle(plan.origin)
                reused = conn is not None
                conn = conn or await self._connect(plan.origin, timeouts.get("connect"))
                try:
                    await self._exchange(conn, plan, request)
                except BaseException as exc:
                    conn.close()
                    if plan.retry_stale(reused, conn.wire, exc):
                        continue
                    raise
                break
        except BaseException:
            self._free_slot()
            raise
        wire = conn.wire
        if read_now and wire.complete:  # all of it came with the head: the connection is free
            response = _response(wire)
            self._release(conn, wire.reusable)
            return response
        return _response(wire, _AsyncBody(self._release, conn, timeouts.get("read")))

    async def aclose(self) -> None:
        self._close_idle()

    async def _exchange(
        self, conn: _AsyncConnection, plan: _Plan, request: httpx.Request | None
    ) -> None:
        """Send the request and read up to the end of the response head."""
        wire = conn.begin()
        write, read = plan.timeouts.get("write"), plan.timeouts.get("read")
        try:
            for data in wire.start(plan.event, plan.body):
                if wire.head is None:
                    await conn.send(data, write)
            if plan.body is None:
                assert request is not None
                stream = request.stream
                assert isinstance(stream, httpx.AsyncByteStream)
                async for part in stream:
                    if wire.head is not None:
                        break  # answered early: the rest of the body would go unread
                    if part:
                        await conn.send(wire.body(part), write)
                else:
                    if wire.head is None:
                        await conn.send(wire.end(), write)
        except httpx.WriteError:
            # As in HTTP11Transport: an early answer says more than the failure.
            with contextlib.suppress(httpx.TransportError):
                while wire.head is None:
                    await conn.receive(read)
            if wire.head is None:
                raise
        while wire.head is None:
            await conn.receive(read)

    async def _take_slot(self, timeout: float | None) -> None:
        if self._max_connections is None:
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise httpx.PoolTimeout("no connection became free within the pool timeout") from None

    def _free_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def _connect(self, origin: Origin, timeout: float | None) -> _AsyncConnection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._tls() if scheme == "https" else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _AsyncConnection(origin),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _release(self, conn: _AsyncConnection, reusable: bool) -> None:
        conn.finish()
        self._park(conn, reusable)
        self._free_slot()


class _AsyncBody(_Body[_AsyncConnection], httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Whatever arrived while the consumer was away is handed over before anything is
        # awaited: a complete response, an error or a read timeout never hides buffered bytes.
        wire = self._wire
        try:
            while True:
                data = wire.take_body()
                if data:
                    yield data
                elif wire.complete:
                    break
                else:
                    await self._conn.receive(self._timeout)
        except BaseException:
            self._release(reusable=False)
            raise
        self._release(reusable=wire.reusable)

    async def aclose(self) -> None:
        self._settle()
