"""HTTP transports over httpx: retries, envelopes, error mapping, streams.

``_TransportCore`` holds every decision that does no I/O (URLs, headers, when and how long to wait
before a retry, how to read a body, which exception a response becomes). ``SyncTransport`` and
``AsyncTransport`` only send and wait; both implement the protocol the generated resource classes
call (``inferencesh._runtime.transport``: ``call`` and ``call_raw``, with per-call options).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import random
import time
import urllib.request
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
)
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx

from inferencesh import __version__
from inferencesh._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    InternalServerError,
    InvalidInputError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimitInfo,
    RequirementsNotMetError,
    SessionEndedError,
    SessionExpiredError,
    SessionNotFoundError,
    UnprocessableEntityError,
)
from inferencesh._http11 import AsyncHTTP11Transport, HTTP11Transport
from inferencesh._logging import logger, redact
from inferencesh._proxy_protocol import ProxyRoute
from inferencesh._runtime.response import APIResponse

if TYPE_CHECKING:
    from pydantic import BaseModel

    from inferencesh._runtime.base import RequestModel
    from inferencesh._runtime.request import Call, RequestOptions, Returns

    M = TypeVar("M", bound=BaseModel)
else:
    M = TypeVar("M")
T = TypeVar("T")

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_STREAM_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "AsyncTransport",
    "SyncTransport",
    "TransportConfig",
    "parse_rate_limit",
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

_V1_KEYS = frozenset({"success", "status", "data", "error"})
_V3_KEYS = frozenset({"data", "messages"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# POSTs that change nothing when repeated.
_IDEMPOTENT_POST_SUFFIXES = ("/keepalive", "/cancel")
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Errors raised before a single byte of the request left the machine.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
_SESSION_ERRORS: dict[str, type[APIError]] = {
    "session_not_found": SessionNotFoundError,
    "session_expired": SessionExpiredError,
    "session_ended": SessionEndedError,
}
# For v1 bodies that report a failure inside a 200.
_CODE_ERRORS: dict[str, type[APIError]] = {
    "invalid_request": BadRequestError,
    "validation_error": UnprocessableEntityError,
    "unauthorized": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "rate_limited": RateLimitError,
    "internal_error": InternalServerError,
}


def _error_class(status: int, code: str | None) -> type[APIError]:
    key = (code or "").lower()
    cls = _SESSION_ERRORS.get(key) or _STATUS_ERRORS.get(status)
    if cls is None and status >= 500:
        cls = InternalServerError
    return cls or _CODE_ERRORS.get(key) or APIError


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
        self.proxy = (
            ProxyRoute(proxy_url, self.base_url, self.extra_headers)
            if proxy_url is not None
            else None
        )
        self.strict_responses = strict_responses

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


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` and ``Retry-After``."""
    lowered = {key.lower(): value for key, value in headers.items()}
    remaining: int | None
    try:
        remaining = int(lowered["x-ratelimit-remaining"])
    except (KeyError, ValueError):
        remaining = None
    reset: float | None
    try:
        reset = float(lowered["x-ratelimit-reset"])
    except (KeyError, ValueError):
        reset = None
    return RateLimitInfo(
        remaining=remaining, reset=reset, retry_after=_retry_after(lowered.get("retry-after"))
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_idempotent(method: str, path: str) -> bool:
    return method in _IDEMPOTENT_METHODS or (
        method == "POST" and path.endswith(_IDEMPOTENT_POST_SUFFIXES)
    )


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.endswith("/json") or media.endswith("+json") or media == "application/x-ndjson"


def error_from_response(response: httpx.Response) -> APIError:
    """The typed exception for an error response (problem+json, legacy or garbage)."""
    status = response.status_code
    headers = _safe_headers(response)
    request_id = response.headers.get("x-request-id")
    text = redact(response.text)
    body: Any = None
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = text
    code: str | None = None
    message: str | None = None
    problem = json_object(body)
    if problem is not None:
        legacy = json_object(problem.get("error"))
        if legacy is not None:
            code = _str_or_none(legacy.get("code"))
            message = _str_or_none(legacy.get("message"))
        body = problem
        problem_type = _str_or_none(body.get("type"))
        if problem_type and "/errors/" in problem_type:
            code = problem_type.rsplit("/errors/", 1)[1].strip("/") or code
        code = code or _str_or_none(body.get("code"))
        message = (
            message
            or _str_or_none(body.get("detail"))
            or _str_or_none(body.get("title"))
            or _str_or_none(body.get("message"))
            or _snippet(json.dumps(body), 500)
        )
        if status == 412 and json_array(problem.get("errors")) is not None:
            return _requirements_error(problem, status, headers, request_id, code)
    elif text.strip():
        message = f"{response.reason_phrase or 'error'}: {_snippet(text)}"
    message = message or response.reason_phrase or f"HTTP {status}"
    cls = _error_class(status, code)
    return cls(
        message, status_code=status, code=code, request_id=request_id, body=body, headers=headers
    )


def _requirements_error(
    body: dict[str, Any],
    status: int,
    headers: dict[str, str],
    request_id: str | None,
    code: str | None,
) -> RequirementsNotMetError:
    from inferencesh._generated.models import RequirementError

    errors = [
        RequirementError.model_validate(item) for item in body["errors"] if isinstance(item, dict)
    ]
    message = (errors[0].message if errors else None) or "requirements not met"
    return RequirementsNotMetError(
        message,
        errors=errors,
        status_code=status,
        code=code or "requirements_not_met",
        request_id=request_id,
        body=body,
        headers=headers,
    )


def json_object(value: Any) -> dict[str, Any] | None:
    """``value`` as a JSON object, or ``None`` when it is something else."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def json_array(value: Any) -> list[Any] | None:
    """``value`` as a JSON array, or ``None`` when it is something else."""
    return cast("list[Any]", value) if isinstance(value, list) else None  # type: ignore[redundant-cast]


def _safe_headers(response: httpx.Response) -> dict[str, str]:
    return {name: redact(value) for name, value in response.headers.items()}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _invalid(response: httpx.Response, message: str) -> InvalidResponseError:
    return InvalidResponseError(
        message,
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
        body=_snippet(redact(response.text), 500),
        headers=_safe_headers(response),
    )


def read_payload(response: httpx.Response) -> Any:
    """The payload of a success response, with the envelope removed; ``None`` for no body."""
    content = response.content
    if response.status_code == 204 or not content.strip():
        return None
    content_type = response.headers.get("content-type", "")
    if content_type and not _is_json_type(content_type):
        raise _invalid(response, f"expected JSON, got {content_type.split(';')[0]!r}")
    try:
        body = json.loads(content)
    except ValueError:
        raise _invalid(response, "the response body is not valid JSON") from None
    envelope = json_object(body)
    if envelope is not None:
        keys = envelope.keys()
        if "success" in keys and keys <= _V1_KEYS:
            if envelope["success"] is not True:
                raise _v1_error(response, envelope)
            return envelope.get("data")
        if "data" in keys and keys <= _V3_KEYS:
            _log_messages(envelope.get("messages"))
            return envelope["data"]
    return body


def _v1_error(response: httpx.Response, body: dict[str, Any]) -> APIError:
    error = body.get("error")
    status = body.get("status")
    status_code = status if isinstance(status, int) and status >= 400 else response.status_code
    code = message = None
    legacy = json_object(error)
    if legacy is not None:
        code = _str_or_none(legacy.get("code"))
        message = _str_or_none(legacy.get("message"))
    elif isinstance(error, str):
        message = error
    cls = _error_class(status_code, code)
    return cls(
        redact(message or "request failed"),
        status_code=status_code,
        code=code,
        request_id=response.headers.get("x-request-id"),
        body=json.loads(redact(json.dumps(body))),
        headers=_safe_headers(response),
    )


def _log_messages(messages: Any) -> None:
    for value in json_array(messages) or []:
        item = json_object(value)
        if item is not None and item.get("level") == "warning":
            logger.warning("server: %s", str(item.get("message")))


def _map_exception(exc: httpx.TransportError, method: str, path: str) -> APIConnectionError:
    detail = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{method} {path} timed out ({type(exc).__name__}): {detail}")
    return APIConnectionError(f"{method} {path} failed: {detail}")


def _proxied() -> bool:
    """Is a proxy configured? The same reading as httpx's: environment variables, then the
    system settings on macOS and Windows."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class _TransportCore:
    """Everything the sync and async transports share: no I/O here."""

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self._headers = config.auth_headers()
        self._rng = random.Random()

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
        after = _retry_after(headers.get("retry-after"))
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

    def check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def _operation(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:
        return "the request"
    return f"{request.method} {request.url.path}"


def _model(payload: Any, model: type[M], response: httpx.Response, context: Any) -> M:
    where = _operation(response)
    if payload is None:
        raise _invalid(response, f"{where}: expected a {model.__name__}, got an empty body")
    try:
        return model.model_validate(payload, context=context)
    except ValueError as exc:
        raise _invalid(
            response, f"{where}: the body is not a valid {model.__name__}: {exc}"
        ) from None


def _model_list(payload: Any, item: type[M], response: httpx.Response, context: Any) -> list[M]:
    if payload is None:
        return []
    where = _operation(response)
    values = json_array(payload)
    if values is None:
        raise _invalid(response, f"{where}: expected a list of {item.__name__}")
    try:
        return [item.model_validate(value, context=context) for value in values]
    except ValueError as exc:
        raise _invalid(
            response, f"{where}: the body is not a list of {item.__name__}: {exc}"
        ) from None


def _decode(returns: Returns[T], payload: Any, response: httpx.Response, context: Any) -> T:
    """The parsed result of a generated call, as ``returns`` describes it."""
    model = returns.model
    if returns.kind == "model" and model is not None:
        return cast(T, _model(payload, model, response, context))
    if returns.kind == "list" and model is not None:
        return cast(T, _model_list(payload, model, response, context))
    if returns.kind == "json":
        return cast(T, payload)
    return cast(T, None)


class SyncTransport(_TransportCore):
    """Blocking transport over one pooled ``httpx.Client``."""

    def __init__(self, config: TransportConfig, http_client: httpx.Client | None = None) -> None:
        super().__init__(config)
        self._owns_client = http_client is None
        # Our own client on our own transport: nothing of httpx's send() (auth, cookies,
        # redirects, hooks) applies, so requests go to the transport directly, saving about a
        # fifth of a call. A user's client is used as given.
        self._direct = None if http_client is not None else config.own_transport(HTTP11Transport)
        self.client = http_client or httpx.Client(
            timeout=config.timeout, limits=config.pool_limits(), transport=self._direct
        )

    def close(self) -> None:
        """Close the connection pool (only when this transport created it)."""
        if self._owns_client:
            self.client.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        body: RequestModel | Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        accept: str | None = None,
        stream: bool = False,
        timeout: httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; return a success response or raise the typed error."""
        content = self.encode_body(body)
        request = self.client.build_request(
            method,
            self.url(path),
            content=content,
            params=_clean_params(params),
            headers=self.request_headers(content, accept, headers),
            timeout=timeout or self.config.timeout,
        )
        attempt = 0
        while True:
            try:
                response = self._dispatch(request, stream)
            except httpx.TransportError as exc:
                delay = self.retry_exception_delay(method, path, exc, attempt)
                if delay is None:
                    raise _map_exception(exc, method, path) from exc
                self.log_retry(method, path, type(exc).__name__, delay, attempt)
                time.sleep(delay)
                attempt += 1
                continue
            self.log_response(method, path, response, attempt)
            if response.status_code < 400:
                return response
            if stream:
                response.read()
                response.close()
            delay = self.retry_status_delay(method, path, response, attempt)
            if delay is None:
                raise error_from_response(response)
            self.log_retry(method, path, f"HTTP {response.status_code}", delay, attempt)
            time.sleep(delay)
            attempt += 1

    def request_payload(self, method: str, path: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        response = self.send(method, path, **kwargs)
        return read_payload(response), response

    # The protocol the generated resource classes call.

    def call(self, call: Call[T], options: RequestOptions) -> T:
        """Send a generated call; its parsed result."""
        return self.call_raw(call, options).parsed

    def call_raw(self, call: Call[T], options: RequestOptions) -> APIResponse[T]:
        """Send a generated call; its parsed result with the HTTP response."""
        call, kwargs = self.prepare(call, options)
        payload, response = self.request_payload(call.method, call.path, **kwargs)
        return APIResponse(
            _decode(call.returns, payload, response, self.config.read_context), response
        )

    # Hand-written layer.

    @contextlib.contextmanager
    def open_stream(
        self, path: str, *, accept: str, idle_timeout: float | None
    ) -> Generator[httpx.Response]:
        """Open a long-lived GET; the read timeout is the idle timeout between chunks."""
        timeout = httpx.Timeout(self.config.timeout.connect, read=idle_timeout)
        response = self.send("GET", path, accept=accept, stream=True, timeout=timeout)
        try:
            yield response
        finally:
            response.close()

    def put_upload(
        self, url: str, content: Iterator[bytes], headers: Mapping[str, str]
    ) -> httpx.Response:
        """PUT raw bytes to a presigned URL: no API headers, never the Authorization header."""
        request = self.client.build_request(
            "PUT", url, content=content, headers=dict(headers), timeout=self.config.timeout
        )
        request.headers.pop("Authorization", None)
        try:
            response = self._dispatch(request, stream=False)
        except httpx.TransportError as exc:
            raise _map_exception(exc, "PUT", "<upload url>") from exc
        self.log_response("PUT", "<upload url>", response, 0)
        return response

    def _dispatch(self, request: httpx.Request, stream: bool) -> httpx.Response:
        sent = request if self.config.proxy is None else self.config.proxy.route(request)
        if self._direct is None:
            return self.client.send(sent, stream=stream)
        response = self._direct.handle_request(sent)
        response.request = request
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        return response


class AsyncTransport(_TransportCore):
    """Async transport over one pooled ``httpx.AsyncClient``, with bounded concurrency."""

    def __init__(
        self, config: TransportConfig, http_client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(config)
        self._owns_client = http_client is None
        self._direct = (
            None if http_client is not None else config.own_transport(AsyncHTTP11Transport)
        )
        self.client = http_client or httpx.AsyncClient(
            timeout=config.timeout, limits=config.pool_limits(), transport=self._direct
        )
        self._limiter = asyncio.Semaphore(config.max_concurrency)

    async def close(self) -> None:
        """Close the connection pool (only when this transport created it)."""
        if self._owns_client:
            await self.client.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: RequestModel | Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        accept: str | None = None,
        stream: bool = False,
        timeout: httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; return a success response or raise the typed error."""
        content = self.encode_body(body)
        request = self.client.build_request(
            method,
            self.url(path),
            content=content,
            params=_clean_params(params),
            headers=self.request_headers(content, accept, headers),
            timeout=timeout or self.config.timeout,
        )
        attempt = 0
        while True:
            try:
                if stream:
                    response = await self._dispatch(request, stream=True)
                else:
                    async with self._limiter:
                        response = await self._dispatch(request, stream=False)
            except httpx.TransportError as exc:
                delay = self.retry_exception_delay(method, path, exc, attempt)
                if delay is None:
                    raise _map_exception(exc, method, path) from exc
                self.log_retry(method, path, type(exc).__name__, delay, attempt)
                await asyncio.sleep(delay)
                attempt += 1
                continue
            self.log_response(method, path, response, attempt)
            if response.status_code < 400:
                return response
            if stream:
                await response.aread()
                await response.aclose()
            delay = self.retry_status_delay(method, path, response, attempt)
            if delay is None:
                raise error_from_response(response)
            self.log_retry(method, path, f"HTTP {response.status_code}", delay, attempt)
            await asyncio.sleep(delay)
            attempt += 1

    async def request_payload(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[Any, httpx.Response]:
        response = await self.send(method, path, **kwargs)
        return read_payload(response), response

    async def call(self, call: Call[T], options: RequestOptions) -> T:
        """Send a generated call; its parsed result."""
        return (await self.call_raw(call, options)).parsed

    async def call_raw(self, call: Call[T], options: RequestOptions) -> APIResponse[T]:
        """Send a generated call; its parsed result with the HTTP response."""
        call, kwargs = self.prepare(call, options)
        payload, response = await self.request_payload(call.method, call.path, **kwargs)
        return APIResponse(
            _decode(call.returns, payload, response, self.config.read_context), response
        )

    @contextlib.asynccontextmanager
    async def open_stream(
        self, path: str, *, accept: str, idle_timeout: float | None
    ) -> AsyncGenerator[httpx.Response]:
        """Open a long-lived GET; the read timeout is the idle timeout between chunks."""
        timeout = httpx.Timeout(self.config.timeout.connect, read=idle_timeout)
        response = await self.send("GET", path, accept=accept, stream=True, timeout=timeout)
        try:
            yield response
        finally:
            await response.aclose()

    async def put_upload(
        self, url: str, content: AsyncIterator[bytes], headers: Mapping[str, str]
    ) -> httpx.Response:
        """PUT raw bytes to a presigned URL: no API headers, never the Authorization header."""
        request = self.client.build_request(
            "PUT", url, content=content, headers=dict(headers), timeout=self.config.timeout
        )
        request.headers.pop("Authorization", None)
        try:
            response = await self._dispatch(request, stream=False)
        except httpx.TransportError as exc:
            raise _map_exception(exc, "PUT", "<upload url>") from exc
        self.log_response("PUT", "<upload url>", response, 0)
        return response

    async def _dispatch(self, request: httpx.Request, stream: bool) -> httpx.Response:
        sent = request if self.config.proxy is None else self.config.proxy.route(request)
        if self._direct is None:
            return await self.client.send(sent, stream=stream)
        response = await self._direct.handle_async_request(sent)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned
