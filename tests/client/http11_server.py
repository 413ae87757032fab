"""A scripted raw-socket HTTP/1.1 server on 127.0.0.1 for the transport tests.

Each accepted connection runs a *script* (a function of a :class:`Conn`) in its own thread. The
script reads requests and writes whatever bytes it likes: well-formed responses, garbage, a
truncated body, a reset. The server counts accepted connections and knows which of them are
still open on its side, so tests can see reuse, discarded connections and pool cleanup.

Everything is bounded: socket operations time out after :data:`IO_TIMEOUT` seconds, waits take a
timeout, and :meth:`ScriptServer.stop` closes every socket and joins every thread.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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
    ) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.conns: list[Conn] = []
        self.peak = 0  # the most connections open at once
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        if rcvbuf is not None:  # a fixed receive window (no autotuning) for slow-reader scripts
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(backlog)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    # Observations.

    def url(self, path: str = "/") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

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
