"""An HTTP/1.1 transport for httpx: h11 frames the bytes, this module owns the sockets.

httpx builds the requests and reads the responses (URLs, headers, decoding, timeouts). h11, driven
directly as a sans-I/O state machine, turns each request into bytes and the bytes that come back
into response events: every request head, request body, response head and response body of this
transport is framed by h11. What is ours is the part around it: a keep-alive pool, a blocking
driver and an asyncio driver (a plain ``asyncio.Protocol``, much cheaper per request and per
streamed chunk than httpx's default transport; in ``inferencesh._http11_async``, so that the
blocking client does not import asyncio), and a few rules stricter than h11's (see
:class:`_Wire`). Plain HTTP/1.1 over TCP or TLS, no proxies: the client keeps httpx's transport
when a proxy is configured, and a user who needs more (HTTP/2, a custom transport) passes their
own ``httpx`` client.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import h11
import httpx

__all__ = ["HTTP11Transport"]

_READ_SIZE = 1 << 16
_WRITE_SIZE = 1 << 16
# Body bytes the asyncio driver buffers for a slow reader before it stops reading the socket.
_HIGH_WATER = 1 << 20
# The largest response head (or chunk header, or trailer block) we wait for.
_MAX_HEAD = 1 << 16
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
_BARE_LF = re.compile(rb"(?<!\r)\n")

Origin = tuple[str, str, int]  # scheme, host as an A-label (what DNS, TLS and Host: all see), port


def _mapped(exc: h11.ProtocolError) -> httpx.TransportError:
    """The httpx exception for an h11 one: the single place where h11 errors are translated."""
    if isinstance(exc, h11.RemoteProtocolError):
        return httpx.RemoteProtocolError(str(exc))
    return httpx.LocalProtocolError(str(exc))


class _Wire:
    """h11's state for one connection, and the response in progress on it.

    Bytes read from the socket go in whole (:meth:`feed`), and every event they complete is taken
    at once: the head, the body pieces (kept until :meth:`take_body`), the end. On top of h11:

    - a bare LF in a response head is refused (h11 reads it as a line break where a stricter
      parser sees part of a value, and two readings of one head are how responses get smuggled);
    - a connection is never reused after bytes that follow a complete response (a body longer
      than its framing said, a body after HEAD/204/304), nor after a response framed by both
      Transfer-Encoding and Content-Length.
    """

    __slots__ = (
        "_awaiting_head",
        "_body",
        "_conflict",
        "_h11",
        "_pending",
        "buffered",
        "complete",
        "head",
        "headers",
        "received",
        "reusable",
    )

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self._body: list[bytes | bytearray] = []
        self._pending: bytearray | None = None  # an unfinished response head, for the LF check
        self._awaiting_head = False
        self._conflict = False
        self.head: h11.Response | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.buffered = 0  # body bytes waiting for take_body()
        self.received = 0  # bytes of this response read so far
        self.complete = False
        self.reusable = False

    def start(self, request: h11.Request, body: bytes | None) -> list[bytes]:
        """Begin a request on this connection: the bytes to send, with the whole body when it is
        known (``body`` is ``None`` when it will come in :meth:`body` pieces)."""
        conn = self._h11
        if conn.our_state is h11.DONE:  # a kept-alive connection: both sides are done
            conn.start_next_cycle()
        self._body = []
        self._pending = None
        self._awaiting_head = True
        self._conflict = False
        self.head = None
        self.buffered = self.received = 0
        self.complete = self.reusable = False
        send = conn.send_with_data_passthrough
        try:
            out = [b"".join(send(request) or ())]
            if body is not None:
                if body:
                    out += send(h11.Data(data=body)) or ()
                out += send(h11.EndOfMessage()) or ()
        except h11.ProtocolError as exc:
            raise _mapped(exc) from None
        if body is not None and len(body) > _WRITE_SIZE:
            return [piece for piece in out if piece]  # the body as given, not copied
        return [b"".join(out)]

    def body(self, part: bytes) -> bytes:
        """One piece of a streamed request body, framed."""
        try:
            return self._h11.send(h11.Data(data=part))
        except h11.ProtocolError as exc:
            raise _mapped(exc) from None

    def end(self) -> bytes:
        """The end of a streamed request body."""
        try:
            return self._h11.send(h11.EndOfMessage())
        except h11.ProtocolError as exc:
            raise _mapped(exc) from None

    def feed(self, data: bytes) -> None:
        """Take what one socket read returned (``b""``: the peer closed the connection)."""
        if self.complete:
            self.reusable = False  # bytes, or a close, after the response: never reuse
            return
        if not data and self.head is None:
            what = "in the middle of the response head" if self.received else "without a response"
            raise httpx.RemoteProtocolError(f"the server closed the connection {what}")
        self.received += len(data)
        conn = self._h11
        try:
            if self._awaiting_head:
                self._check_heads(data)
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if isinstance(event, h11.Data):
                    piece = event.data
                    self._body.append(piece)
                    self.buffered += len(piece)
                elif isinstance(event, h11.Response):
                    self._start_response(event)
                elif isinstance(event, h11.EndOfMessage):
                    self.complete = True
                    self.reusable = (
                        conn.our_state is h11.DONE
                        and conn.their_state is h11.DONE
                        and not self._conflict
                        and not conn.trailing_data[0]  # nothing after the response
                    )
                    return
                elif not isinstance(event, h11.InformationalResponse):
                    return  # NEED_DATA
        except h11.ProtocolError as exc:
            raise _mapped(exc) from None

    def take_body(self) -> bytes:
        """The body bytes parsed since the last call (``b""`` if none)."""
        body = self._body
        if not body:
            return b""
        self._body = []
        self.buffered = 0
        return b"".join(body)

    def _start_response(self, head: h11.Response) -> None:
        self.head = head
        self.headers = head.headers.raw_items()
        names = [name.lower() for name, _ in self.headers]
        self._conflict = b"transfer-encoding" in names and b"content-length" in names

    def _check_heads(self, data: bytes) -> None:
        """Refuse a bare LF anywhere in the response heads (interim ones included) that ``data``
        continues, and a head too large (h11 bounds only what it waits for, not a head that
        completes in one read). Each byte is looked at once, however the heads are split."""
        pending = self._pending
        buf: bytes | bytearray
        if pending is None:
            buf, scan = data, 0
        else:
            scan = len(pending)
            pending += data
            buf = pending
        start = 0  # where the head being checked begins in buf
        while True:
            end = buf.find(b"\r\n\r\n", max(start, scan - 3))
            stop = len(buf) if end < 0 else end + 4
            if stop - start > _MAX_HEAD:
                raise httpx.RemoteProtocolError(f"a response head over {_MAX_HEAD} bytes")
            if _BARE_LF.search(buf, scan, stop) is not None:
                raise httpx.RemoteProtocolError("a bare LF in the response head")
            if end < 0:
                if buf is not pending or start:
                    self._pending = bytearray(buf[start:])
                return
            if buf[start + 9 : start + 10] != b"1":  # "HTTP/1.1 1xx": an interim head, or not
                self._pending = None
                self._awaiting_head = False
                return
            start = scan = stop


class _Plan:
    """What a request needs, worked out once, before any connection is touched: the origin to
    connect to, the h11 request (validated here, so a malformed field is refused before a byte is
    sent), and the whole body when it is known."""

    __slots__ = ("_stale_retry", "body", "event", "origin", "timeouts")

    @classmethod
    def of(
        cls,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> _Plan:
        """A plan from a request's parts (the client's own API requests: see
        ``inferencesh._transport.DirectRoute``); h11 validates the head as for any request."""
        plan = cls.__new__(cls)
        plan.origin = origin
        plan.timeouts = timeouts
        plan.body = body
        raw_method = method.encode("ascii", "replace")
        try:
            plan.event = h11.Request(method=raw_method, target=target, headers=headers)
        except h11.ProtocolError as exc:
            raise _mapped(exc) from None
        plan._stale_retry = raw_method in _IDEMPOTENT
        return plan

    def __init__(self, request: httpx.Request) -> None:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        # The A-label (xn--...), as in the Host header: url.host would be resolved and checked
        # against the certificate under the older IDNA 2003 mapping (faß -> fass).
        host = url.raw_host.decode("ascii")
        if not host:
            raise httpx.UnsupportedProtocol(f"no host in URL {url!r}")
        self.origin: Origin = (scheme, host, url.port or (443 if scheme == "https" else 80))
        self.timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        method = request.method.encode("ascii", "replace")
        stream = request.stream
        self.body: bytes | None = None
        if isinstance(stream, httpx.ByteStream):
            self.body = b"".join(stream)  # a ByteStream is both sync and async
        try:
            self.event = h11.Request(
                method=method, target=url.raw_path, headers=request.headers.raw
            )
        except h11.ProtocolError as exc:
            raise _mapped(exc) from None
        self._stale_retry = self.body is not None and method in _IDEMPOTENT

    def retry_stale(self, reused: bool, wire: _Wire, error: BaseException) -> bool:
        """Send again on a new connection? Once, when a reused connection failed before any
        answer (the server had closed it) and the request can safely be repeated."""
        if (
            self._stale_retry
            and reused
            and not wire.received
            and isinstance(error, httpx.TransportError)
        ):
            self._stale_retry = False
            return True
        return False


def _response(
    wire: _Wire, stream: httpx.SyncByteStream | httpx.AsyncByteStream | None = None
) -> httpx.Response:
    """The response whose head ``wire`` holds; with no ``stream``, its whole body, which came
    with the head (a ``ByteStream``: read without I/O, sync or async)."""
    head = wire.head
    assert head is not None
    return httpx.Response(
        head.status_code,
        headers=wire.headers,
        stream=httpx.ByteStream(wire.take_body()) if stream is None else stream,
        extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
    )


class _Connection(Protocol):
    origin: Origin
    idle_since: float
    wire: _Wire

    def usable(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)


class _Pool(Generic[C]):
    """Settings, TLS context and idle connections: the bookkeeping both drivers share."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
        max_connections: int | None = None,
        max_keepalive_connections: int | None = 20,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        self._verify = verify
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
            # A client certificate goes in the context (load_cert_chain), as httpx now asks.
            context = httpx.create_ssl_context(verify=self._verify, trust_env=self._trust_env)
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
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
        """Keep ``conn`` for the next request, or close it. (Whether the server closed it or
        sent more is asked when it is taken again: that is the moment that matters.)"""
        if (
            reusable
            and not self._closed
            and (self._max_idle is None or len(self._idle) < self._max_idle)
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

    def __init__(self, release: Callable[[C, bool], None], conn: C, timeout: float | None) -> None:
        self._return = release
        self._conn = conn
        self._wire = conn.wire
        self._timeout = timeout
        self._released = False

    def _release(self, *, reusable: bool) -> None:
        if not self._released:
            self._released = True
            self._return(self._conn, reusable)

    def _settle(self) -> None:
        self._release(reusable=self._wire.complete and self._wire.reusable)


def _poll(sock: Any, read: bool, write: bool, timeout: float | None) -> tuple[bool, bool]:
    """Wait until ``sock`` is readable or writable (as asked), at most ``timeout`` seconds."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0))
        ready = poller.poll(None if timeout is None else timeout * 1000)
        flags = ready[0][1] if ready else 0
        # An error or hang-up reads as both: the next read or write reports it.
        failed = flags & (select.POLLERR | select.POLLHUP)
        return bool(flags & select.POLLIN or failed), bool(flags & select.POLLOUT or failed)
    readers, writers = ([sock] if read else []), ([sock] if write else [])
    readable, writable, _ = select.select(readers, writers, [], timeout)
    return bool(readable), bool(writable)


def _readable(sock: Any) -> bool:
    """Is there something to read on an idle connection? Then the server closed it (or sent
    junk): either way it is unusable. Asked of the socket itself, so that a close the event
    loop has not processed yet counts too."""
    try:
        return _poll(sock, True, False, 0)[0]
    except (OSError, ValueError):
        return True


# ---------------------------------------------------------------------------------------------
# Blocking driver


class _SyncConnection:
    __slots__ = ("_timeout", "idle_since", "origin", "sock", "wire")

    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        self.sock = sock
        self.origin = origin
        self.wire = _Wire()
        self.idle_since = 0.0
        self._timeout = sock.gettimeout()

    def usable(self) -> bool:
        return not _readable(self.sock)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _set_timeout(self, timeout: float | None) -> None:
        if timeout != self._timeout:  # each change is a system call
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def send(self, data: bytes, timeout: float | None) -> None:
        """Send ``data``, or stop early when the server answers first (say, 413 before it read
        the whole upload). The write timeout bounds each stalled write, not the whole body."""
        wire = self.wire
        view = memoryview(data)
        try:
            self._set_timeout(timeout)
            sent = self.sock.send(view)
            while sent < len(view):
                view = view[sent:]
                if not self._writable(timeout):
                    return
                sent = self.sock.send(view)
        except TimeoutError as exc:
            raise httpx.WriteTimeout("sending the request timed out") from exc
        except OSError as exc:
            if wire.head is not None:
                return
            raise httpx.WriteError(f"sending the request failed: {exc}") from exc

    def _writable(self, timeout: float | None) -> bool:
        """Wait until the socket takes more (True) or the server has answered (False)."""
        readable, writable = _poll(self.sock, True, True, timeout)
        if readable:
            self._set_timeout(0.0)
            try:
                data: bytes | None = self.sock.recv(_READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None  # nothing for us yet (a TLS record that carried no data)
            finally:
                self._set_timeout(timeout)
            if data is not None:
                self.wire.feed(data)
                if self.wire.head is not None:
                    return False
        elif not writable:
            raise TimeoutError
        return True

    def receive(self, timeout: float | None) -> None:
        """Feed the wire with the next read (or the end of the connection)."""
        try:
            self._set_timeout(timeout)
            data = self.sock.recv(_READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no response data within the read timeout") from exc
        except OSError as exc:
            raise httpx.ReadError(f"reading the response failed: {exc}") from exc
        self.wire.feed(data)


class HTTP11Transport(_Pool[_SyncConnection], httpx.BaseTransport):
    """A blocking HTTP/1.1 connection pool for ``httpx.Client(transport=...)``."""

    def _setup(self) -> None:
        self._lock = threading.Lock()
        limit = self._max_connections
        self._slots = threading.Semaphore(limit) if limit is not None else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._handle(_Plan(request), request, False)

    def send_direct(
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
        return self._handle(plan, None, read_now)

    def _handle(self, plan: _Plan, request: httpx.Request | None, read_now: bool) -> httpx.Response:
        timeouts = plan.timeouts
        if self._slots is not None and not self._slots.acquire(timeout=timeouts.get("pool")):
            raise httpx.PoolTimeout("no connection became free within the pool timeout")
        try:
            while True:
                with self._lock:
                    conn = self._pop_idle(plan.origin)
                reused = conn is not None
                conn = conn or self._connect(plan.origin, timeouts.get("connect"))
                try:
                    self._exchange(conn, plan, request)
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
        return _response(wire, _SyncBody(self._release, conn, timeouts.get("read")))

    def close(self) -> None:
        with self._lock:
            self._close_idle()

    def _free_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _exchange(self, conn: _SyncConnection, plan: _Plan, request: httpx.Request | None) -> None:
        """Send the request and read up to the end of the response head."""
        wire = conn.wire
        write, read = plan.timeouts.get("write"), plan.timeouts.get("read")
        try:
            for data in wire.start(plan.event, plan.body):
                if wire.head is None:
                    conn.send(data, write)
            if plan.body is None:
                assert request is not None
                stream = request.stream
                assert isinstance(stream, httpx.SyncByteStream)
                for part in stream:
                    if wire.head is not None:
                        break  # answered early: the rest of the body would go unread
                    if part:
                        conn.send(wire.body(part), write)
                else:
                    if wire.head is None:
                        conn.send(wire.end(), write)
        except httpx.WriteError:
            # The server may have answered before taking the whole body (413, an expired upload
            # URL) and closed: its answer says more than the failure.
            with contextlib.suppress(httpx.TransportError):
                while wire.head is None:
                    conn.receive(read)
            if wire.head is None:
                raise
        while wire.head is None:
            conn.receive(read)

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
        wire = self._wire
        try:
            while True:
                data = wire.take_body()
                if data:
                    yield data
                elif wire.complete:
                    break
                else:
                    self._conn.receive(self._timeout)
        except BaseException:
            self._release(reusable=False)
            raise
        self._release(reusable=wire.reusable)

    def close(self) -> None:
        self._settle()
