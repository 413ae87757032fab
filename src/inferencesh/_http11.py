"""A lean HTTP/1.1 transport for httpx: a sans-I/O parser, a blocking and an asyncio driver.

httpx still builds the requests and reads the responses (URLs, headers, decoding, timeouts); this
module replaces the connection layer underneath. On this project's benchmarks httpx's default one
was most of the client's time: per async request (its locks and cancel scopes) and per chunk of a
streamed body (one parser event per chunk). Here the asyncio driver is a plain
``asyncio.Protocol``, and both drivers hand every byte a socket read returns to
:class:`ResponseParser`, which decodes all the chunks in it at once. Plain HTTP/1.1 over TCP or
TLS, no proxies: the client keeps httpx's transport when a proxy is configured, and a user who
needs more (HTTP/2, a custom transport) passes their own ``httpx`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import httpx

__all__ = [
    "AsyncHTTP11Transport",
    "HTTP11Transport",
    "ProtocolError",
    "ResponseHead",
    "ResponseParser",
    "encode_head",
]

_READ_SIZE = 1 << 16
_WRITE_SIZE = 1 << 16
# Body bytes the asyncio driver buffers for a slow reader before it stops reading the socket.
_HIGH_WATER = 1 << 20
_MAX_LINE = 8192
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})

Origin = tuple[str, str, int]


class ProtocolError(Exception):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """Status line and headers of a response (header names lowercased)."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    http_version: bytes


# Parser states.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class ResponseParser:
    """Bytes in, one response out: head, decoded body pieces, completeness, reusability."""

    __slots__ = (
        "_body",
        "_buffered",
        "_max_head",
        "_method",
        "_remaining",
        "_rest",
        "_state",
        "_trailer_bytes",
        "head",
        "keep_alive",
        "received",
    )

    def __init__(self, method: bytes, max_head_bytes: int = 65536) -> None:
        self._method = method
        self._max_head = max_head_bytes
        self._state = _HEAD
        self._rest: bytes = b""
        self._body: list[bytes] = []
        self._buffered: int = 0
        self._remaining: int = 0
        self._trailer_bytes: int = 0
        self.head: ResponseHead | None = None
        self.keep_alive: bool = False
        self.received: int = 0  # bytes fed so far

    @property
    def complete(self) -> bool:
        """The whole response has been parsed."""
        return self._state == _DONE

    @property
    def buffered(self) -> int:
        """Decoded body bytes waiting for :meth:`take_body`."""
        return self._buffered

    def take_body(self) -> bytes:
        """The body bytes decoded since the last call (``b""`` if none)."""
        body = self._body
        if not body:
            return b""
        self._body = []
        self._buffered = 0
        return body[0] if len(body) == 1 else b"".join(body)

    def feed(self, data: bytes) -> None:
        """Parse ``data``; raise :class:`ProtocolError` when it is not HTTP/1.1."""
        self.received += len(data)
        if self._rest:
            data = self._rest + data
            self._rest = b""
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _CHUNK_DATA or state == _LENGTH:
                take = min(self._remaining, end - pos)
                self._body.append(data[pos : pos + take] if take < end - pos or pos else data)
                self._buffered += take
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _CHUNK_END if state == _CHUNK_DATA else _DONE
            elif state == _CHUNK_SIZE:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._keep(data, pos, _MAX_LINE, "chunk size line")
                    return
                self._chunk_size(data[pos:eol])
                pos = eol + 2
            elif state == _CHUNK_END:
                if end - pos < 2:
                    self._rest = data[pos:]
                    return
                if data[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("a chunk is longer than its declared size")
                pos += 2
                self._state = _CHUNK_SIZE
            elif state == _HEAD:
                eoh = data.find(b"\r\n\r\n", pos)
                if eoh < 0:
                    self._keep(data, pos, self._max_head, "response head")
                    return
                if eoh - pos > self._max_head:
                    raise ProtocolError(f"the response head is larger than {self._max_head} bytes")
                self._parse_head(data[pos:eoh])
                pos = eoh + 4
            elif state == _TRAILERS:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._keep(data, pos, _MAX_LINE, "trailer")
                    return
                self._trailer_bytes += eol - pos + 2
                if self._trailer_bytes > self._max_head:
                    raise ProtocolError("the trailers are too large")
                if eol == pos:
                    self._state = _DONE
                pos = eol + 2
            elif state == _UNTIL_CLOSE:
                self._body.append(data[pos:] if pos else data)
                self._buffered += end - pos
                return
            else:  # _DONE: bytes after a complete response; the connection cannot be trusted
                self.keep_alive = False
                return

    def feed_eof(self) -> None:
        """The peer closed the connection; raise if the response is incomplete."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        elif self._state != _DONE:
            if not self.received:
                raise ProtocolError("the server closed the connection without sending a response")
            raise ProtocolError("the server closed the connection in the middle of the response")
        self.keep_alive = False

    def _keep(self, data: bytes, pos: int, limit: int, what: str) -> None:
        if len(data) - pos > limit:
            raise ProtocolError(f"the {what} is longer than {limit} bytes")
        self._rest = data[pos:]

    def _chunk_size(self, line: bytes) -> None:
        digits = line.split(b";", 1)[0].strip(b" \t")
        if not digits or len(digits) > 16 or digits.strip(b"0123456789abcdefABCDEF"):
            raise ProtocolError(f"invalid chunk size line {line[:40]!r}")
        size = int(digits, 16)
        if size:
            self._remaining = size
            self._state = _CHUNK_DATA
        else:
            self._state = _TRAILERS

    def _parse_head(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        version = parts[0]
        if (
            len(parts) < 2
            or version not in (b"HTTP/1.1", b"HTTP/1.0")
            or len(parts[1]) != 3
            or not parts[1].isdigit()
        ):
            raise ProtocolError(f"invalid status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                raise ProtocolError(f"invalid header line {line[:80]!r}")
            headers.append((name.lower(), value.strip(b" \t")))
        if status < 200:
            if status == 101:
                raise ProtocolError("unexpected protocol switch (101)")
            return  # an interim response: the final one follows
        self.head = ResponseHead(status, parts[2] if len(parts) > 2 else b"", headers, version)
        self._framing(status, headers, version)

    def _framing(self, status: int, headers: list[tuple[bytes, bytes]], version: bytes) -> None:
        connection = b""
        chunked = has_encoding = False
        lengths: set[bytes] = set()
        for name, value in headers:
            if name == b"content-length":
                lengths.update(v.strip() for v in value.split(b","))
            elif name == b"transfer-encoding":
                has_encoding = True
                chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
            elif name == b"connection":
                connection += value.lower() + b","
        tokens = {token.strip() for token in connection.split(b",")}
        if version == b"HTTP/1.1":
            self.keep_alive = b"close" not in tokens
        else:
            self.keep_alive = b"keep-alive" in tokens
        if self._method == b"HEAD" or status in (204, 304):
            self._state = _DONE
        elif chunked:
            self._state = _CHUNK_SIZE
        elif has_encoding or not lengths:
            self._state = _UNTIL_CLOSE
            self.keep_alive = False
        else:
            if len(lengths) != 1:
                raise ProtocolError("conflicting Content-Length headers")
            length = lengths.pop()
            if not length.isdigit() or len(length) > 18:
                raise ProtocolError(f"invalid Content-Length {length[:40]!r}")
            self._remaining = int(length)
            self._state = _LENGTH if self._remaining else _DONE


def encode_head(method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The request line and headers, refusing any field that would smuggle a line break."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    lines = len(headers) + 2  # one CRLF per line, two around the block
    if head.count(b"\r") != lines or head.count(b"\n") != lines or b"\0" in head:
        _refuse(method, target, headers)
    if b" " in method or b" " in target:
        raise httpx.LocalProtocolError(f"a space in the request line: {method!r} {target[:60]!r}")
    return head


def _refuse(method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> None:
    for field in (method, target, *(item for pair in headers for item in pair)):
        if b"\r" in field or b"\n" in field or b"\0" in field:
            raise httpx.LocalProtocolError(f"CR, LF or NUL in a request field: {field[:60]!r}")


def _chunk(part: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(part), part)


_LAST_CHUNK = b"0\r\n\r\n"


class _Plan:
    """What a request needs on the wire, worked out once before any connection is touched."""

    __slots__ = ("_stale_retry", "chunked", "method", "opening", "origin", "replayable", "timeouts")

    def __init__(self, request: httpx.Request) -> None:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        if not url.host:
            raise httpx.UnsupportedProtocol(f"no host in URL {url!r}")
        self.origin: Origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        self.timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        self.method = request.method.encode("ascii")
        # The head, and with it the whole body when it is known up front (one write).
        self.opening = encode_head(self.method, url.raw_path, request.headers.raw)
        self.chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        self.replayable = isinstance(request.stream, httpx.ByteStream)
        if self.replayable:
            self.opening += b"".join(request.stream)  # type: ignore[arg-type]
        self._stale_retry = self.replayable and self.method in _IDEMPOTENT

    def retry_stale(self, reused: bool, parser: ResponseParser, error: BaseException) -> bool:
        """Send again on a new connection? Once, when a reused connection failed before any
        answer (the server had closed it) and the request can safely be repeated."""
        if (
            self._stale_retry
            and reused
            and not parser.received
            and isinstance(error, httpx.TransportError)
        ):
            self._stale_retry = False
            return True
        return False


def _response(
    head: ResponseHead, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        head.status,
        headers=head.headers,
        stream=stream,
        extensions={"http_version": head.http_version, "reason_phrase": head.reason},
    )


class _Connection(Protocol):
    origin: Origin
    idle_since: float

    def usable(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)


class _Pool(Generic[C]):
    """Settings, TLS context and idle connections: the bookkeeping both drivers share."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        max_connections: int | None = None,
        max_keepalive_connections: int | None = 20,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        self._verify = verify
        self._cert = cert
        self._trust_env = trust_env
        self._ssl_context: ssl.SSLContext | None = None
        self._max_connections = max_connections
        self._max_idle = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._idle: list[C] = []
        self._closed = False
        self._setup()

    def _setup(self) -> None:
        """Driver-specific state."""

    def _tls(self) -> ssl.SSLContext:
        # Built on first use: loading the CA bundle costs tens of milliseconds.
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(
                verify=self._verify, cert=self._cert, trust_env=self._trust_env
            )
        return self._ssl_context

    def _pop_idle(self, origin: Origin) -> C | None:
        """The most recently used live idle connection to ``origin``; dead ones are closed."""
        idle = self._idle
        for index in range(len(idle) - 1, -1, -1):
            conn = idle[index]
            if conn.origin == origin:
                del idle[index]
                fresh = self._expiry is None or time.monotonic() - conn.idle_since <= self._expiry
                if fresh and conn.usable():
                    return conn
                conn.close()
        return None

    def _park(self, conn: C, reusable: bool) -> None:
        """Keep ``conn`` for the next request, or close it."""
        if (
            reusable
            and not self._closed
            and (self._max_idle is None or len(self._idle) < self._max_idle)
            and conn.usable()
        ):
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    def _close_idle(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Body(Generic[C]):
    """A response body's hold on its connection, given back exactly once: to the pool when the
    response was read to its end on a reusable connection, closed otherwise."""

    def __init__(
        self,
        release: Callable[[C, bool], None],
        conn: C,
        parser: ResponseParser,
        timeout: float | None,
    ) -> None:
        self._return = release
        self._conn = conn
        self._parser = parser
        self._timeout = timeout
        self._released = False

    def _release(self, *, reusable: bool) -> None:
        if not self._released:
            self._released = True
            self._return(self._conn, reusable)

    def _settle(self) -> None:
        self._release(reusable=self._parser.complete and self._parser.keep_alive)


def _readable(sock: Any) -> bool:
    """Is there something to read on an idle connection? Then the server closed it (or sent
    junk): either way it is unusable. Asked of the socket itself, so that a close the event
    loop has not processed yet counts too."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


# ---------------------------------------------------------------------------------------------
# Blocking driver


class _SyncConnection:
    __slots__ = ("idle_since", "origin", "sock")

    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        self.sock = sock
        self.origin = origin
        self.idle_since = 0.0

    def usable(self) -> bool:
        return not _readable(self.sock)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes, timeout: float | None) -> None:
        # send() in a loop rather than sendall(): the write timeout bounds each stalled write,
        # not the whole upload.
        try:
            self.sock.settimeout(timeout)
            view = memoryview(data)
            while view:
                view = view[self.sock.send(view) :]
        except TimeoutError as exc:
            raise httpx.WriteTimeout("sending the request timed out") from exc
        except OSError as exc:
            raise httpx.WriteError(f"sending the request failed: {exc}") from exc

    def receive(self, parser: ResponseParser, timeout: float | None) -> None:
        """Feed ``parser`` with the next read (or the end of the connection)."""
        try:
            self.sock.settimeout(timeout)
            data = self.sock.recv(_READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no response data within the read timeout") from exc
        except OSError as exc:
            raise httpx.ReadError(f"reading the response failed: {exc}") from exc
        try:
            if data:
                parser.feed(data)
            else:
                parser.feed_eof()
        except ProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc


class HTTP11Transport(_Pool[_SyncConnection], httpx.BaseTransport):
    """A blocking HTTP/1.1 connection pool for ``httpx.Client(transport=...)``."""

    def _setup(self) -> None:
        self._lock = threading.Lock()
        limit = self._max_connections
        self._slots = threading.Semaphore(limit) if limit is not None else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        plan = _Plan(request)
        timeouts = plan.timeouts
        if self._slots is not None and not self._slots.acquire(timeout=timeouts.get("pool")):
            raise httpx.PoolTimeout("no connection became free within the pool timeout")
        try:
            while True:
                with self._lock:
                    conn = self._pop_idle(plan.origin)
                reused = conn is not None
                conn = conn or self._connect(plan.origin, timeouts.get("connect"))
                parser = ResponseParser(plan.method)
                try:
                    try:
                        self._send(conn, plan, request)
                    except httpx.WriteError:
                        # The server may have answered before taking the whole body (413, an
                        # expired upload URL) and closed: its answer says more than the failure.
                        with contextlib.suppress(httpx.TransportError):
                            while parser.head is None:
                                conn.receive(parser, timeouts.get("read"))
                        if parser.head is None:
                            raise
                        parser.keep_alive = False  # half a body was sent: never reuse
                    while parser.head is None:
                        conn.receive(parser, timeouts.get("read"))
                except BaseException as exc:
                    conn.close()
                    if plan.retry_stale(reused, parser, exc):
                        continue
                    raise
                break
        except BaseException:
            self._free_slot()
            raise
        assert parser.head is not None
        return _response(parser.head, _SyncBody(self._release, conn, parser, timeouts.get("read")))

    def close(self) -> None:
        with self._lock:
            self._close_idle()

    def _free_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _send(self, conn: _SyncConnection, plan: _Plan, request: httpx.Request) -> None:
        timeout = plan.timeouts.get("write")
        conn.send(plan.opening, timeout)
        if plan.replayable:
            return
        stream = request.stream
        assert isinstance(stream, httpx.SyncByteStream)
        for part in stream:
            if part or not plan.chunked:
                conn.send(_chunk(part) if plan.chunked else part, timeout)
        if plan.chunked:
            conn.send(_LAST_CHUNK, timeout)

    def _connect(self, origin: Origin, timeout: float | None) -> _SyncConnection:
        scheme, host, port = origin
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(f"TLS handshake with {host}:{port} timed out") from exc
        except OSError as exc:
            sock.close()
            raise httpx.ConnectError(f"TLS with {host}:{port} failed: {exc}") from exc
        return _SyncConnection(sock, origin)

    def _release(self, conn: _SyncConnection, reusable: bool) -> None:
        with self._lock:
            self._park(conn, reusable)
        self._free_slot()


class _SyncBody(_Body[_SyncConnection], httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        parser = self._parser
        try:
            data = parser.take_body()
            if data:
                yield data
            while not parser.complete:
                self._conn.receive(parser, self._timeout)
                data = parser.take_body()
                if data:
                    yield data
        except BaseException:
            self._release(reusable=False)
            raise
        self._release(reusable=parser.keep_alive)

    def close(self) -> None:
        self._settle()


# ---------------------------------------------------------------------------------------------
# asyncio driver


class _AsyncConnection(asyncio.Protocol):
    """One TCP (or TLS) connection; the protocol callbacks feed the current response's parser."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.idle_since = 0.0
        self.broken = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._lost = False

    # Protocol callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:
            self.broken = True  # bytes nobody asked for
            return
        try:
            parser.feed(data)
        except ProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(str(exc)))
            return
        if parser.buffered > _HIGH_WATER and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.broken = True
        if self.parser is not None:
            try:
                self.parser.feed_eof()
            except ProtocolError as exc:
                self._fail(httpx.RemoteProtocolError(str(exc)))
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        self._lost = True
        if exc is not None:
            self._fail(httpx.ReadError(f"the connection was lost: {exc}"))
        elif self.parser is not None and not self.parser.complete and self._error is None:
            try:
                self.parser.feed_eof()
            except ProtocolError as error:
                self._fail(httpx.RemoteProtocolError(str(error)))
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

    def answered(self) -> bool:
        return self.parser is not None and self.parser.head is not None

    def usable(self) -> bool:
        transport = self.transport
        if self.broken or transport is None or transport.is_closing():
            return False
        sock = transport.get_extra_info("socket")
        return sock is None or not _readable(sock)

    def start(self, method: bytes) -> ResponseParser:
        self.parser = ResponseParser(method)
        self._error = None
        return self.parser

    def finish(self) -> None:
        """The response is over: stop feeding a parser, and read again if a slow reader paused
        it (so that a close by the server while idle is seen)."""
        self.parser = None
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def write(self, data: bytes | memoryview) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        transport.write(data)

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write ``data`` a slice at a time: the write timeout bounds each stalled slice."""
        if len(data) <= _WRITE_SIZE:
            self.write(data)
            await self.drain(timeout)
            return
        view = memoryview(data)
        for start in range(0, len(view), _WRITE_SIZE):
            if self.answered():
                self.broken = True  # answered early (say, 413): stop sending, read the answer
                return
            self.write(view[start : start + _WRITE_SIZE])
            await self.drain(timeout)

    async def drain(self, timeout: float | None) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            await self._wait_for(
                waiter, timeout, httpx.WriteTimeout("sending the request timed out")
            )
        if self.broken and self._error is not None:
            raise httpx.WriteError(f"sending the request failed: {self._error}")

    async def receive(self, timeout: float | None) -> None:
        """Wait until the parser has progressed (or raise what went wrong)."""
        if self._error is not None:
            raise self._error
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await self._wait_for(waiter, timeout, httpx.ReadTimeout("no response data in time"))
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self.broken = True
        # Once asyncio has reported the loss, its transport is spent (abort() would fail).
        if self.transport is not None and not self._lost:
            self.transport.abort()

    async def _wait_for(
        self, waiter: asyncio.Future[None], timeout: float | None, error: Exception
    ) -> None:
        if timeout is None:
            await waiter
            return
        timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error)
        try:
            await waiter
        finally:
            timer.cancel()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self.broken = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], error: Exception) -> None:
    if not waiter.done():
        waiter.set_exception(error)


class AsyncHTTP11Transport(_Pool[_AsyncConnection], httpx.AsyncBaseTransport):
    """An asyncio HTTP/1.1 connection pool for ``httpx.AsyncClient(transport=...)``."""

    def _setup(self) -> None:
        self._slots: asyncio.Semaphore | None = None  # made inside the running loop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        plan = _Plan(request)
        timeouts = plan.timeouts
        await self._take_slot(timeouts.get("pool"))
        try:
            while True:
                conn = self._pop_idle(plan.origin)
                reused = conn is not None
                conn = conn or await self._connect(plan.origin, timeouts.get("connect"))
                parser = conn.start(plan.method)
                try:
                    try:
                        await conn.send(plan.opening, timeouts.get("write"))
                        if not plan.replayable:
                            await self._send_stream(
                                conn, request, plan.chunked, timeouts.get("write")
                            )
                    except httpx.WriteError:
                        # As in HTTP11Transport: an early answer says more than the failure.
                        with contextlib.suppress(httpx.TransportError):
                            while parser.head is None:
                                await conn.receive(timeouts.get("read"))
                        if parser.head is None:
                            raise
                        conn.broken = True
                    while parser.head is None:
                        await conn.receive(timeouts.get("read"))
                except BaseException as exc:
                    conn.close()
                    if plan.retry_stale(reused, parser, exc):
                        continue
                    raise
                break
        except BaseException:
            self._free_slot()
            raise
        assert parser.head is not None
        return _response(parser.head, _AsyncBody(self._release, conn, parser, timeouts.get("read")))

    async def aclose(self) -> None:
        self._close_idle()

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

    async def _send_stream(
        self, conn: _AsyncConnection, request: httpx.Request, chunked: bool, timeout: float | None
    ) -> None:
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        async for part in stream:
            if conn.answered():
                conn.broken = True  # answered early (say, 413): stop sending, read the answer
                return
            if part or not chunked:
                conn.write(_chunk(part) if chunked else part)
                await conn.drain(timeout)
        if chunked:
            conn.write(_LAST_CHUNK)
        await conn.drain(timeout)

    def _release(self, conn: _AsyncConnection, reusable: bool) -> None:
        conn.finish()
        self._park(conn, reusable)
        self._free_slot()


class _AsyncBody(_Body[_AsyncConnection], httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        parser = self._parser
        try:
            data = parser.take_body()
            if data:
                yield data
            while not parser.complete:
                await self._conn.receive(self._timeout)
                data = parser.take_body()
                if data:
                    yield data
        except BaseException:
            self._release(reusable=False)
            raise
        self._release(reusable=parser.keep_alive)

    async def aclose(self) -> None:
        self._settle()
