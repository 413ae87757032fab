"""What the transports share: configuration, and every decision that does no I/O.

``_TransportCore`` decides URLs, headers, when and how long to wait before a retry and how a
response body is read (envelopes, models). The transports that send and wait are
``inferencesh._async.transport.AsyncTransport`` and its blocking twin, generated from it; both
implement the protocol the generated resource classes call (``inferencesh._runtime.transport``:
``call`` and ``call_raw``, with per-call options). Which exception a response or an httpx error
becomes is ``inferencesh._errors``'.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx

from inferencesh import __version__
from inferencesh._errors import (
    InvalidInputError,
    invalid_response,
    retry_after,
    v1_error,
)
from inferencesh._json import json_array, json_object
from inferencesh._logging import logger

if TYPE_CHECKING:
    from pydantic import BaseModel

    from inferencesh._proxy_protocol import ProxyRoute
    from inferencesh._runtime.base import RequestModel
    from inferencesh._runtime.request import Call, RequestOptions, Returns

    M = TypeVar("M", bound=BaseModel)
else:
    M = TypeVar("M")
T = TypeVar("T")

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_STREAM_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "NDJSON",
    "SSE",
    "DirectRequest",
    "DirectRoute",
    "StreamOptions",
    "TransportConfig",
    "TransportCore",
    "check_poll_interval",
    "clean_params",
    "decode_result",
    "read_payload",
    "read_whole",
]

DEFAULT_BASE_URL = "https://api.inference.sh"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2
# Servers send heartbeats well within this; silence this long means the connection is dead.
DEFAULT_STREAM_IDLE_TIMEOUT = 60.0
# Requests beyond this many in flight queue on a semaphore instead of in the connection pool
# (httpx's bookkeeping grows with waiters times connections, encode/httpx#3215). 32: measured in
# docs/decisions.md ("Requests in flight"); change it with max_concurrency=.
DEFAULT_MAX_CONCURRENCY = 32
# Seconds between two status reads of a task or chat followed by polling (the JS SDK's default).
DEFAULT_POLL_INTERVAL = 2.0

_V1_KEYS = frozenset({"success", "status", "data", "error"})
_V3_KEYS = frozenset({"data", "messages"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# POSTs that change nothing when repeated.
_IDEMPOTENT_POST_SUFFIXES = ("/keepalive", "/cancel")
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Errors raised before a single byte of the request left the machine.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# The media types a task or chat stream is read in (the Accept of its request).
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


class StreamOptions:
    """How a task or chat is followed: streamed (``poll_interval`` None) or polled every
    ``poll_interval`` seconds, and how failed connections or polls are retried."""

    __slots__ = (
        "accept",
        "auto_reconnect",
        "idle_timeout",
        "max_reconnects",
        "poll_interval",
        "reconnect_delay",
    )

    def __init__(
        self,
        *,
        auto_reconnect: bool = True,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
        idle_timeout: float | None = 60.0,
        sse: bool = False,
        poll_interval: float | None = None,
    ) -> None:
        self.auto_reconnect = auto_reconnect
        self.max_reconnects = max_reconnects
        self.reconnect_delay = max(0, reconnect_delay_ms) / 1000
        self.idle_timeout = idle_timeout
        self.accept = SSE if sse else NDJSON
        self.poll_interval = poll_interval

    @property
    def sse(self) -> bool:
        return self.accept == SSE


def deadline_of(timeout: Any) -> float | None:
    """The monotonic deadline of a per-call ``timeout`` in seconds (checked), or ``None``.

    Past ``threading.TIMEOUT_MAX`` (about 292 years) no wait can be armed with it, so such a
    value, ``inf`` and ``nan`` are refused; ``None`` is how to wait without a limit."""
    if timeout is None:
        return None
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or not 0 < timeout <= threading.TIMEOUT_MAX
    ):
        raise InvalidInputError(
            f"timeout must be a number of seconds > 0 and at most {threading.TIMEOUT_MAX:.0f} "
            f"(None waits without a limit), got {timeout!r}"
        )
    return time.monotonic() + float(timeout)


def check_poll_interval(poll_interval: Any) -> float | None:
    """A per-call or client ``poll_interval``: ``None`` or a number of seconds > 0."""
    if poll_interval is None:
        return None
    if (
        not isinstance(poll_interval, (int, float))
        or isinstance(poll_interval, bool)
        or not 0 < poll_interval < math.inf
    ):
        raise InvalidInputError(
            f"poll_interval must be a number of seconds > 0, got {poll_interval!r}"
        )
    return float(poll_interval)


class TransportConfig:
    """Connection settings shared by the sync and async transports."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        max_retry_wait: float = 60.0,
        headers: Mapping[str, str] | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
        proxy_url: str | None = None,
        strict_responses: bool = False,
        stream: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if max_retries < 0:
            raise InvalidInputError(f"max_retries must be >= 0, got {max_retries}")
        if max_concurrency < 1:
            raise InvalidInputError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.max_retry_wait = max_retry_wait
        self.extra_headers = dict(headers or {})
        self.max_concurrency = max_concurrency
        self.stream_idle_timeout = stream_idle_timeout
        # Browser-proxy mode: API requests go to the proxy, which adds the key (no key here).
        self.proxy: ProxyRoute | None = None
        if proxy_url is not None:
            from inferencesh._proxy_protocol import ProxyRoute

            self.proxy = ProxyRoute(proxy_url, self.base_url, self.extra_headers)
        self.strict_responses = strict_responses
        # How tasks and chats are followed by default: their stream, or polling their status.
        self.stream = stream
        self.poll_interval = poll_interval

    def __repr__(self) -> str:
        return f"TransportConfig(base_url={self.base_url!r}, max_retries={self.max_retries})"

    @functools.cached_property
    def read_context(self) -> Mapping[str, Any] | None:
        """The validation context 2xx bodies are read with: tolerant (Go zero values for absent
        fields) unless strict. Looked up on first use: the model runtime is not light to import."""
        from inferencesh._runtime.base import read_context

        return read_context(self.strict_responses)

    def auth_headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return {
            **auth,
            "User-Agent": f"inferencesh-python/{__version__}",
            "Accept": "application/json",
            **self.extra_headers,
        }

    def pool_limits(self) -> httpx.Limits:
        # Streams are long-lived and not bounded by the request limiter: leave the pool unbounded.
        return httpx.Limits(max_connections=None, max_keepalive_connections=self.max_concurrency)

    def own_transport(self, cls: Callable[..., T]) -> T | None:
        """Our HTTP/1.1 transport with :meth:`pool_limits`, or ``None`` (httpx's own) when a
        proxy is configured: httpx applies proxies only on its own transport."""
        if _proxied():
            return None
        limits = self.pool_limits()
        return cls(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )


# A path httpx would send as it is: no percent-escapes to normalise, no characters to escape, no
# query, and no segment that could be a dot segment ("/." anywhere sends it the long way).
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9\-_~!$&'()*+,;=:@]+)*/?")
# Headers httpx works out itself; a client configured with one of them goes the long way.
_FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class DirectRequest:
    """An API request for our own transport, worked out without an ``httpx.Request``: what goes
    on the wire is the same as for one (see :class:`DirectRoute`); the ``httpx.Request`` that a
    response carries is made from these parts."""

    __slots__ = ("body", "headers", "method", "origin", "target", "timeout", "url")

    def __init__(
        self,
        method: str,
        url: str,
        origin: tuple[str, str, int],
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: httpx.Timeout,
    ) -> None:
        self.method = method
        self.url = url
        self.origin = origin
        self.target = target
        self.headers = headers
        self.body = body
        self.timeout = timeout

    def request(self) -> httpx.Request:
        """The ``httpx.Request`` for a response, made only when something reads it: most
        responses never have theirs read (an error message does, or a ``call_raw`` caller)."""
        return _PendingRequest(self)

    def build(self) -> httpx.Request:
        """The ``httpx.Request`` httpx would have built for this one."""
        request = httpx.Request(
            self.method,
            _parsed_url(self.url),
            headers=self.headers,
            stream=httpx.ByteStream(self.body),
            extensions={"timeout": self.timeout.as_dict()},
        )
        request.read()
        return request


class _PendingRequest(httpx.Request):
    """An ``httpx.Request`` made from a ``DirectRequest`` when first read: until then it holds
    only that, and reading any attribute builds it (``__getattr__`` is asked only for what the
    instance does not have yet)."""

    def __init__(self, parts: DirectRequest) -> None:  # pyright: ignore[reportMissingSuperCall]
        self.__dict__["_parts"] = parts

    def __getattr__(self, name: str) -> Any:
        self._build()
        return object.__getattribute__(self, name)  # an AttributeError now is a real one

    def __getstate__(self) -> dict[str, Any]:
        self._build()
        return super().__getstate__()

    def _build(self) -> None:
        # The parts go only once the values are in: a thread that reads it at the same time
        # builds it again or finds it built, never finds neither.
        parts: DirectRequest | None = self.__dict__.get("_parts")
        if parts is not None:
            self.__dict__.update(parts.build().__dict__)
            self.__dict__.pop("_parts", None)

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {str(self.url)!r})>"


@functools.lru_cache(maxsize=64)
def _parsed_url(url: str) -> httpx.URL:
    return httpx.URL(url)  # immutable: one parse serves every request to the same URL


class DirectRoute:
    """Requests to the API without building each through httpx, on our own transport.

    Building an ``httpx.Request`` (parsing the URL, normalising and merging headers) is the
    largest part of a call's CPU. Everything in it that does not change from call to call (the
    base URL's origin and path, the client's headers merged with ours, as httpx merges them) is
    worked out here once; a call that needs nothing more (a plain path, no query, no headers of
    its own) is put together from these parts, and h11 validates its head as for any other.
    Anything else goes through httpx.
    """

    __slots__ = ("_client_headers", "_host", "_kept", "_prefix", "base_url", "origin")

    def __init__(
        self,
        base_url: str,
        origin: tuple[str, str, int],
        host: bytes,
        prefix: str,
        client_headers: list[tuple[bytes, bytes, bytes]],
    ) -> None:
        self.base_url = base_url
        self.origin = origin
        self._host = host
        self._prefix = prefix
        self._client_headers = client_headers
        # our headers' names (as sent) -> the client's headers that none of them replaces
        self._kept: dict[tuple[str, ...], list[tuple[bytes, bytes]]] = {}

    @classmethod
    def of(cls, config: TransportConfig, client_headers: httpx.Headers) -> DirectRoute | None:
        """The route for ``config``'s API, or ``None`` when its base URL or headers need httpx."""
        try:
            url = httpx.URL(config.base_url)
        except httpx.InvalidURL:
            return None
        scheme, prefix = url.scheme, url.raw_path.decode("ascii")
        names = {name.lower() for name in config.auth_headers()}
        if (
            scheme not in ("http", "https")
            or not url.raw_host
            or url.userinfo
            or url.query
            or url.fragment
            or prefix != "/" + url.path.lstrip("/")
            or _PLAIN_PATH.fullmatch(prefix) is None
            or names & _FRAMING_HEADERS
        ):
            return None
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.raw_host.decode("ascii"), port)
        items = [(raw, raw.lower(), value) for raw, value in client_headers.raw]
        return cls(config.base_url, origin, url.netloc, prefix.rstrip("/"), items)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: httpx.Timeout,
    ) -> DirectRequest | None:
        """``method path`` with ``headers`` (our merged request headers), or ``None`` when httpx
        must build it."""
        if path[:1] != "/" or _PLAIN_PATH.fullmatch(path) is None:
            return None
        try:
            ours = [
                (name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()
            ]
        except (UnicodeEncodeError, AttributeError):
            return None
        key = tuple(headers)
        kept = self._kept.get(key)
        if kept is None:
            # httpx's merge: each of our names replaces the client's headers of that name.
            replaced = {name.lower() for name, _ in ours}
            if replaced & _FRAMING_HEADERS:
                return None
            kept = [
                (raw, value) for raw, lower, value in self._client_headers if lower not in replaced
            ]
            if len(self._kept) < 64:
                self._kept[key] = kept
        wire = [(b"Host", self._host)]
        if not content:
            body = b""
            if method in _BODY_METHODS:
                wire.append((b"Content-Length", b"0"))
            wire += kept
            wire += ours
        else:
            body = content
            wire += kept
            wire += ours
            wire.append((b"Content-Length", str(len(content)).encode()))
        target = (self._prefix + path).encode()
        return DirectRequest(method, self.base_url + path, self.origin, target, wire, body, timeout)


def _is_idempotent(method: str, path: str) -> bool:
    return method in _IDEMPOTENT_METHODS or (
        method == "POST" and path.endswith(_IDEMPOTENT_POST_SUFFIXES)
    )


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.endswith("/json") or media.endswith("+json") or media == "application/x-ndjson"


def read_payload(response: httpx.Response) -> Any:
    """The payload of a success response, with the envelope removed; ``None`` for no body."""
    content = response.content
    if response.status_code == 204 or not content.strip():
        return None
    content_type = response.headers.get("content-type", "")
    if content_type and not _is_json_type(content_type):
        raise invalid_response(response, f"expected JSON, got {content_type.split(';')[0]!r}")
    try:
        body = json.loads(content)
    except ValueError:
        raise invalid_response(response, "the response body is not valid JSON") from None
    envelope = json_object(body)
    if envelope is not None:
        keys = envelope.keys()
        if "success" in keys and keys <= _V1_KEYS:
            if envelope["success"] is not True:
                raise v1_error(response, envelope)
            return envelope.get("data")
        if "data" in keys and keys <= _V3_KEYS:
            _log_messages(envelope.get("messages"))
            return envelope["data"]
    return body


def _log_messages(messages: Any) -> None:
    for value in json_array(messages) or []:
        item = json_object(value)
        if item is not None and item.get("level") == "warning":
            logger.warning("server: %s", str(item.get("message")))


def _proxied() -> bool:
    """Is a proxy configured? The same reading as httpx's: environment variables, then the
    system settings on macOS and Windows."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class TransportCore:
    """Everything the two transports share: no I/O here."""

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self._headers = config.auth_headers()
        self._rng = random.Random()
        # Set by a transport on our own HTTP/1.1 transport (see DirectRoute).
        self.route: DirectRoute | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.config.base_url!r})"

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.config.base_url + path

    def encode_body(self, body: RequestModel | Mapping[str, Any] | None) -> bytes | None:
        if body is None:
            return None
        wire = body if isinstance(body, Mapping) else body.to_wire()
        return json.dumps(wire, separators=(",", ":")).encode()

    def request_headers(
        self,
        content: bytes | None,
        accept: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        headers = dict(self._headers)
        if extra:
            headers.update(extra)
        if content is not None:
            headers["Content-Type"] = "application/json"
        if accept is not None:
            headers["Accept"] = accept
            # Streams must not be compressed: a compressor buffers, delaying every update.
            headers["Accept-Encoding"] = "identity"
            headers["Cache-Control"] = "no-cache"
        return headers

    def direct_request(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        accept: str | None,
        extra: Mapping[str, str] | None,
        timeout: httpx.Timeout,
    ) -> DirectRequest | None:
        """The request put together from the route's parts, or ``None`` when httpx builds it
        (no route, a query, headers of the call's own, a path httpx would rewrite)."""
        route = self.route
        if route is None or params or extra:
            return None
        return route.request(method, path, self.request_headers(content, accept), content, timeout)

    def retry_exception_delay(
        self, method: str, path: str, exc: httpx.TransportError, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying after ``exc``, or ``None`` to give up."""
        if attempt >= self.config.max_retries:
            return None
        if not _is_idempotent(method, path) and not isinstance(exc, _NOT_SENT_ERRORS):
            # It may have reached the server: repeating it could create a second task.
            return None
        return self.backoff(attempt)

    def retry_status_delay(
        self, method: str, path: str, response: httpx.Response, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying after an error status, or ``None`` to give up."""
        status = response.status_code
        if attempt >= self.config.max_retries or status not in _RETRY_STATUSES:
            return None
        # 429 says the server refused the request before doing anything, so it is safe to repeat;
        # any other status on a creating call may have done the work.
        if status != 429 and not _is_idempotent(method, path):
            return None
        hinted = self.hinted_delay(response.headers)
        if hinted is not None:
            return hinted if hinted <= self.config.max_retry_wait else None
        return self.backoff(attempt)

    def hinted_delay(self, headers: Mapping[str, str]) -> float | None:
        """The wait the server asked for with ``Retry-After`` or ``X-RateLimit-Reset``."""
        after = retry_after(headers.get("retry-after"))
        if after is not None:
            return after
        reset = headers.get("x-ratelimit-reset")
        if reset is None:
            return None
        try:
            value = float(reset)
        except ValueError:
            return None
        # An epoch timestamp (seconds) or, from some gateways, seconds from now.
        return max(0.0, value - time.time()) if value > 1e9 else max(0.0, value)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half to all of ``base * 2**attempt``, capped."""
        ceiling = min(self.config.retry_max_delay, self.config.retry_base_delay * 2.0**attempt)
        return float(ceiling * (0.5 + self._rng.random() / 2))

    def log_response(self, method: str, path: str, response: httpx.Response, attempt: int) -> None:
        if logger.isEnabledFor(10):
            logger.debug(
                "%s %s -> %s (attempt %d, request id %s)",
                method,
                path,
                response.status_code,
                attempt + 1,
                response.headers.get("x-request-id"),
            )

    def log_retry(self, method: str, path: str, reason: str, delay: float, attempt: int) -> None:
        logger.info(
            "%s %s: %s; retry %d/%d in %.2fs",
            method,
            path,
            reason,
            attempt + 1,
            self.config.max_retries,
            delay,
        )

    def prepare(self, call: Call[T], options: RequestOptions) -> tuple[Call[T], dict[str, Any]]:
        """``call`` with the per-call options applied, and the keyword arguments of ``send``."""
        kwargs: dict[str, Any] = {"headers": options.get("extra_headers")}
        if "timeout" in options:
            timeout = options["timeout"]
            kwargs["timeout"] = (
                timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
            )
        call = call.with_extras(options)
        kwargs["body"] = call.body
        kwargs["params"] = call.params
        return call, kwargs


def read_whole(response: httpx.Response) -> bool:
    """Read a body our transport received whole with its head (it hands it over as a
    ``ByteStream``): no I/O, so no await either. False for any other body."""
    if type(response.stream) is not httpx.ByteStream:
        return False
    response.read()
    return True


def _operation(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:
        return "the request"
    return f"{request.method} {request.url.path}"


def _model(payload: Any, model: type[M], response: httpx.Response, context: Any) -> M:
    where = _operation(response)
    if payload is None:
        raise invalid_response(response, f"{where}: expected a {model.__name__}, got an empty body")
    try:
        return model.model_validate(payload, context=context)
    except ValueError as exc:
        raise invalid_response(
            response, f"{where}: the body is not a valid {model.__name__}: {exc}"
        ) from None


def _model_list(payload: Any, item: type[M], response: httpx.Response, context: Any) -> list[M]:
    if payload is None:
        return []
    where = _operation(response)
    values = json_array(payload)
    if values is None:
        raise invalid_response(response, f"{where}: expected a list of {item.__name__}")
    try:
        return [item.model_validate(value, context=context) for value in values]
    except ValueError as exc:
        raise invalid_response(
            response, f"{where}: the body is not a list of {item.__name__}: {exc}"
        ) from None


def decode_result(returns: Returns[T], payload: Any, response: httpx.Response, context: Any) -> T:
    """The parsed result of a generated call, as ``returns`` describes it."""
    model = returns.model
    if returns.kind == "model" and model is not None:
        return cast(T, _model(payload, model, response, context))
    if returns.kind == "list" and model is not None:
        return cast(T, _model_list(payload, model, response, context))
    if returns.kind == "json":
        return cast(T, payload)
    return cast(T, None)


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned
