"""Scripted raw-socket HTTP/1.1 servers on loopback, and one client API over every way in.

Each accepted connection runs a *script* (a function of a :class:`Conn`) in its own thread. The
script reads requests and writes whatever bytes it likes: well-formed responses, garbage, a
truncated body, a reset. The server counts accepted connections and knows which of them are
still open on its side, so tests can see reuse, discarded connections and pool cleanup.

:class:`Client` gives our sync and async transports (each under its httpx client) the same
awaitable API, and :class:`Api` does the same for ``inference()`` and ``async_inference()``, so
that one test covers every way a scenario can be reached.

Everything is bounded: socket operations time out after :data:`IO_TIMEOUT` seconds, waits take a
timeout, loops a count, and :meth:`ScriptServer.stop` closes every socket and joins every thread.
Only 127.0.0.1 (and ::1 where IPv6 is the point) is ever a target.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from inferencesh import APIConnectionError, APITimeoutError, AsyncInference, Inference
from inferencesh._http11 import HTTP11Transport
from inferencesh._http11_async import AsyncHTTP11Transport

IO_TIMEOUT = 10.0
WAIT = 5.0


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    chunked: bool = False

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Conn:
    """One accepted connection, as seen by the server."""

    sock: socket.socket
    server: ScriptServer
    index: int
    received: bytearray = field(default_factory=bytearray)
    requests: list[Request] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    peer_closed: bool = False  # the client closed (EOF or reset) while the script was reading
    error: BaseException | None = None
    _buf: bytearray = field(default_factory=bytearray)

    # Reading.

    def fill(self) -> bool:
        """Receive what comes next into the buffer; False once the peer closed."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.peer_closed = True
            return False
        self.received += data
        self._buf += data
        return True

    def read_until(self, marker: bytes) -> bytes | None:
        """Bytes up to and including ``marker``; None if the peer closed first."""
        start = 0
        while (found := self._buf.find(marker, start)) < 0:
            start = max(0, len(self._buf) - len(marker) + 1)
            if not self.fill():
                return None
        return self._take(found + len(marker))

    def read_exactly(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            if not self.fill():
                return None
        return self._take(n)

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read_head(self) -> Request | None:
        """The next request's line and headers (the body is left unread)."""
        head = self.read_until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        return Request(method, target, headers, b"", chunked)

    def read_request(self) -> Request | None:
        """The next request with its body; None once the client closed the connection."""
        request = self.read_head()
        if request is None:
            return None
        if request.chunked:
            parts = []
            while True:
                line = self.read_until(b"\r\n")
                if line is None:
                    return None
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n") not in (b"\r\n", None):
                        pass  # trailers
                    break
                part = self.read_exactly(size + 2)
                if part is None:
                    return None
                parts.append(part[:-2])
            request.body = b"".join(parts)
        elif "content-length" in request.headers:
            body = self.read_exactly(int(request.headers["content-length"]))
            if body is None:
                return None
            request.body = body
        self.requests.append(request)
        return request

    def wait_closed(self, timeout: float = WAIT) -> bool:
        """Read and drop bytes until the client closes; False if it did not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            self.sock.settimeout(0.05)
            try:
                if not self.fill():
                    return True
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            finally:
                self.sock.settimeout(IO_TIMEOUT)
        return False

    def hold(self, timeout: float = WAIT) -> None:
        """Say nothing, read nothing, until the server stops or ``timeout`` passes."""
        self.server.stopping.wait(timeout)

    def trickle(self, data: bytes, limit: int | None = None) -> int:
        """Send ``data`` one byte per write (up to ``limit`` bytes); stop when the client
        closes. Returns how many bytes went out."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        for index in range(min(len(data), limit or len(data))):
            try:
                self.sock.sendall(data[index : index + 1])
            except OSError:
                break
            sent += 1
        return sent

    # Writing.

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reset(self) -> None:
        """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Script = Callable[[Conn], None]


def response(
    body: bytes = b"",
    status: int = 200,
    reason: str = "OK",
    headers: Iterable[tuple[str, str]] = (),
    *,
    length: bool = True,
    version: str = "HTTP/1.1",
) -> bytes:
    """A response head plus body; with ``length`` a Content-Length header is added."""
    lines = [f"{version} {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED_HEAD = response(headers=[("Transfer-Encoding", "chunked")], length=False)
LAST_CHUNK = b"0\r\n\r\n"


def serve(respond: Callable[[Request], bytes]) -> Script:
    """A well-behaved keep-alive server: answer every request with ``respond(request)``."""

    def script(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            conn.send(respond(request))

    return script


def routes(table: dict[str, Callable[[Conn, Request], bool | None]]) -> Script:
    """Dispatch on the path: a route answers on ``conn``; returning False ends the connection."""

    def script(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if table[request.path](conn, request) is False:
                return

    return script


class ScriptServer:
    """Accept connections on 127.0.0.1 and run ``script`` on each in its own thread."""

    def __init__(
        self,
        script: Script,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
        rcvbuf: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.conns: list[Conn] = []
        self.peak = 0  # the most connections open at once
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.host = host
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf is not None:  # a fixed receive window (no autotuning) for slow-reader scripts
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind((host, 0))
        self._listener.listen(backlog)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    # Observations.

    def url(self, path: str = "/", host: str | None = None) -> str:
        """A URL of this server; ``host`` names it otherwise (a name the test resolves here)."""
        scheme = "https" if self.ssl_context else "http"
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{name}:{self.port}{path}"

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.conns)

    def open_connections(self) -> int:
        """Connections whose script is still running (the server has not closed them)."""
        with self._lock:
            return sum(1 for conn in self.conns if not conn.done.is_set())

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return [request for conn in self.conns for request in conn.requests]

    def received(self) -> bytes:
        with self._lock:
            return b"".join(bytes(conn.received) for conn in self.conns)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # Life cycle.

    def __enter__(self) -> ScriptServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self._acceptor.join(WAIT)
        self._listener.close()
        with self._lock:
            conns = list(self.conns)
        for conn in conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(WAIT)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(IO_TIMEOUT)
            with self._lock:
                conn = Conn(sock, self, len(self.conns))
                self.conns.append(conn)
                self.peak = max(self.peak, sum(1 for c in self.conns if not c.done.is_set()))
                thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _run(self, conn: Conn) -> None:
        try:
            if self.ssl_context is not None:
                conn.sock = self.ssl_context.wrap_socket(conn.sock, server_side=True)
            self.script(conn)
        except (OSError, ValueError) as error:  # includes ssl.SSLError and socket timeouts
            conn.error = error
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass
            conn.done.set()


# ---------------------------------------------------------------------------------------------
# One awaitable API over every way in.

TRANSPORTS = ["sync", "async"]
APIS = ["inference", "async_inference"]
SHORT = httpx.Timeout(5.0, read=2.0)  # where a transport bug would hang until a read timeout


class Stream:
    """An open streaming response and its raw-bytes iterator."""

    def __init__(self, response: httpx.Response, chunks: Iterator[bytes] | AsyncIterator[bytes]):
        self.response = response
        self._chunks = chunks

    async def next_raw(self) -> bytes:
        """The next piece of raw body, b"" at the end."""
        if isinstance(self._chunks, Iterator):
            return next(self._chunks, b"")
        return await anext(self._chunks, b"")

    async def read_at_least(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            piece = await self.next_raw()
            if not piece:
                break
            data += piece
        return data

    async def rest(self) -> bytes:
        return await self.read_at_least(1 << 62)


class Client:
    """``httpx.Client(transport=HTTP11Transport(...))`` or the async pair, awaitable either way
    (the sync client simply blocks; the servers run in their own threads)."""

    def __init__(
        self,
        mode: str,
        *,
        follow_redirects: bool = False,
        timeout: httpx.Timeout | None = None,
        **options: Any,
    ) -> None:
        self.mode = mode
        timeout = timeout or httpx.Timeout(5.0)
        self.transport: HTTP11Transport | AsyncHTTP11Transport
        self.http: httpx.Client | httpx.AsyncClient
        if mode == "sync":
            self.transport = HTTP11Transport(**options)
            self.http = httpx.Client(
                transport=self.transport, timeout=timeout, follow_redirects=follow_redirects
            )
        else:
            self.transport = AsyncHTTP11Transport(**options)
            self.http = httpx.AsyncClient(
                transport=self.transport, timeout=timeout, follow_redirects=follow_redirects
            )
        self.closed = False

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if isinstance(self.http, httpx.Client):
            return self.http.request(method, url, **kwargs)
        return await self.http.request(method, url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Stream]:
        if isinstance(self.http, httpx.Client):
            with self.http.stream(method, url, **kwargs) as streamed:
                yield Stream(streamed, streamed.iter_raw())
        else:
            async with self.http.stream(method, url, **kwargs) as astreamed:
                yield Stream(astreamed, astreamed.aiter_raw())

    async def send_to_transport(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self.transport, HTTP11Transport):
            return self.transport.handle_request(request)
        return await self.transport.handle_async_request(request)

    def content(self, parts: Iterable[bytes]) -> Any:
        """A streaming request body (no length known) of the kind this client accepts."""
        if self.mode == "sync":
            return (part for part in parts)

        async def agen() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        return agen()

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if isinstance(self.http, httpx.Client):
            self.http.close()
        else:
            await self.http.aclose()


class Api:
    """``inference()`` or ``async_inference()`` against a base URL, awaitable either way. No
    retries: each call is one exchange, so that what the server saw is what the call did."""

    def __init__(self, mode: str, base_url: str, **options: Any) -> None:
        options.setdefault("api_key", "inf_test")
        options.setdefault("max_retries", 0)
        self.mode = mode
        self.client: Inference | AsyncInference = (
            Inference(base_url=base_url, **options)
            if mode == "inference"
            else AsyncInference(base_url=base_url, **options)
        )

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)``, awaited when the client is async."""
        result = fn(self.client)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def get_task(self, task_id: str = "t1") -> Any:
        return await self.call(lambda c: c.tasks.get(task_id))

    async def aclose(self) -> None:
        if isinstance(self.client, AsyncInference):
            await self.client.close()
        else:
            self.client.close()


class Way:
    """One of four ways to read ``GET /tasks/t1`` from a server: our sync or async transport
    (under its httpx client), ``inference()`` or ``async_inference()``. :meth:`task_id` returns
    the id of the task record that came back; :meth:`error` names what a transport error
    becomes on this way."""

    def __init__(self, mode: str, **options: Any) -> None:
        self.mode = mode
        self._options = options
        self._client: Client | None = None
        self._apis: dict[str, Api] = {}

    @property
    def is_api(self) -> bool:
        return self.mode in APIS

    def error(self, transport_error: type[Exception]) -> type[Exception]:
        if not self.is_api:
            return transport_error
        if issubclass(transport_error, httpx.TimeoutException):
            return APITimeoutError
        return APIConnectionError

    async def task_id(self, base_url: str, **options: Any) -> str:
        """The id in the task record ``GET {base_url}/tasks/t1`` answers (one client per base
        URL, kept across calls, so that connection reuse shows)."""
        if self.is_api:
            api = self._apis.get(base_url)
            if api is None:
                api = self._apis[base_url] = Api(self.mode, base_url, **self._options)
            return str((await api.get_task()).id)
        if self._client is None:
            self._client = Client(self.mode, **self._options)
        answer = await self._client.get(f"{base_url}/tasks/t1", **options)
        return str(answer.raise_for_status().json()["id"])

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        for api in self._apis.values():
            await api.aclose()


async def clients(mode: str) -> AsyncIterator[Callable[..., Client]]:
    """Make transport clients of one mode; all are closed afterwards."""
    made: list[Client] = []

    def make(**options: Any) -> Client:
        client = Client(mode, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def servers() -> Iterator[Callable[..., ScriptServer]]:
    """Start scripted servers; all are stopped afterwards."""
    started: list[ScriptServer] = []

    def start(script: Script, **options: Any) -> ScriptServer:
        server = ScriptServer(script, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``predicate`` without blocking the event loop (async transports close on the loop)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def settle(rounds: int = 5) -> None:
    """Let the event loop run its I/O callbacks for bytes already in the socket: the consumer
    is away while they are handled. (A yield, not a measure of time.)"""
    for _ in range(rounds):
        await asyncio.sleep(0.01)


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Resolver:
    """Stands in for DNS: test names resolve to 127.0.0.1, and every name asked is recorded.
    It receives what ``socket.getaddrinfo`` receives and encodes a str host the way CPython's
    resolver does (the IDNA 2003 codec), so a client that passes a Unicode host is seen doing
    exactly what it would do against real DNS."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = set(names)
        self.asked: list[str] = []
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.encode("idna").decode("ascii") if isinstance(host, str) else host
        if isinstance(name, bytes):
            name = name.decode("ascii")
        self.asked.append(name)
        if name in self.names:
            host = "127.0.0.1"
        elif name not in ("127.0.0.1", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not a test name")
        return self._real(host, port, *args, **kwargs)


# Wire pieces.


def echo_path(request: Request) -> bytes:
    return response(f"{request.method} {request.path}".encode())


def task_body(task_id: str = "t1", status: int = 7, **fields: Any) -> bytes:
    """A complete task record, as the API sends one."""
    now = "2026-11-23T12:00:00Z"
    body: dict[str, Any] = {
        "id": task_id,
        "short_id": task_id,
        "created_at": now,
        "updated_at": now,
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
        "status": status,
    }
    body.update(fields)
    return json.dumps(body).encode()


JSON = ("Content-Type", "application/json")


def task_response(task_id: str = "t1", **fields: Any) -> bytes:
    return response(task_body(task_id, **fields), headers=[JSON])


def first_then(first: bytes, then: bytes | None = None) -> Script:
    """A keep-alive server whose first answer (of all) is ``first``; every later request, on
    any connection, gets ``then`` (task t2 by default)."""
    later = then if then is not None else task_response("t2")

    def script(conn: Conn) -> None:
        while conn.read_request() is not None:
            conn.send(first if len(conn.server.requests) == 1 else later)

    return script


def answer_once(raw: bytes, then: str = "close") -> Script:
    """Read a request, send ``raw``; then close, reset, or hold the connection open."""

    def script(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(raw)
        if then == "reset":
            conn.reset()
        elif then == "hold":
            conn.wait_closed()

    return script
