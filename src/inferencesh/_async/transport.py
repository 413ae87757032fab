"""The transport that sends and waits: retries, long-lived streams and uploads over httpx.

Every decision is ``TransportCore``'s (``inferencesh._transport``); this class only sends,
sleeps and reads. It is the client's one boundary with httpx: httpx errors raised while sending,
reading a stream or uploading become ``APIConnectionError`` / ``APITimeoutError`` here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from inferencesh._concurrency import AsyncConcurrency
from inferencesh._errors import error_from_response, map_exception, map_exceptions
from inferencesh._http11_async import AsyncHTTP11Transport
from inferencesh._runtime.response import APIResponse
from inferencesh._transport import (
    DirectRequest,
    DirectRoute,
    TransportConfig,
    TransportCore,
    clean_params,
    decode_result,
    read_payload,
    read_whole,
)

if TYPE_CHECKING:
    from inferencesh._runtime.base import RequestModel
    from inferencesh._runtime.request import Call, RequestOptions

__all__ = ["AsyncChunks", "AsyncTransport"]

T = TypeVar("T")


class AsyncTransport(TransportCore):
    """The transport over one pooled ``httpx.AsyncClient``."""

    def __init__(
        self, config: TransportConfig, http_client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(config)
        self._owns_client = http_client is None
        # Our own client on our own transport: nothing of httpx's send() (auth, cookies,
        # redirects, hooks) applies, so requests go to the transport directly, saving about a
        # fifth of a call. A user's client is used as given.
        self._direct = (
            None if http_client is not None else config.own_transport(AsyncHTTP11Transport)
        )
        self.client = http_client or httpx.AsyncClient(
            timeout=config.timeout, limits=config.pool_limits(), transport=self._direct
        )
        self._limiter = AsyncConcurrency.limiter(config.max_concurrency)
        if self._direct is not None and config.proxy is None:
            self.route = DirectRoute.of(config, self.client.headers)

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
        params = clean_params(params)
        timeout = timeout or self.config.timeout
        request = self.direct_request(
            method, path, content, params, accept, headers, timeout
        ) or self.client.build_request(
            method,
            self.url(path),
            content=content,
            params=params,
            headers=self.request_headers(content, accept, headers),
            timeout=timeout,
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
                    raise map_exception(exc, method, path) from exc
                self.log_retry(method, path, type(exc).__name__, delay, attempt)
                await AsyncConcurrency.sleep(delay)
                attempt += 1
                continue
            self.log_response(method, path, response, attempt)
            if response.status_code < 400:
                return response
            if stream:
                with map_exceptions(method, path):
                    await response.aread()
                await response.aclose()
            delay = self.retry_status_delay(method, path, response, attempt)
            if delay is None:
                raise error_from_response(response)
            self.log_retry(method, path, f"HTTP {response.status_code}", delay, attempt)
            await AsyncConcurrency.sleep(delay)
            attempt += 1

    async def request_payload(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[Any, httpx.Response]:
        """Send; the payload of the response (envelope removed) and the response."""
        response = await self.send(method, path, **kwargs)
        return read_payload(response), response

    # The protocol the generated resource classes call.

    async def call(self, call: Call[T], options: RequestOptions) -> T:
        """Send a generated call; its parsed result."""
        return (await self.call_raw(call, options)).parsed

    async def call_raw(self, call: Call[T], options: RequestOptions) -> APIResponse[T]:
        """Send a generated call; its parsed result with the HTTP response."""
        call, kwargs = self.prepare(call, options)
        payload, response = await self.request_payload(call.method, call.path, **kwargs)
        context = self.config.read_context
        return APIResponse(decode_result(call.returns, payload, response, context), response)

    # For the hand-written layer.

    @contextlib.asynccontextmanager
    async def open_stream(
        self, path: str, *, accept: str, idle_timeout: float | None
    ) -> AsyncGenerator[AsyncChunks]:
        """Open a long-lived GET and read its body in chunks; the read timeout is the idle
        timeout between chunks."""
        timeout = httpx.Timeout(self.config.timeout.connect, read=idle_timeout)
        response = await self.send("GET", path, accept=accept, stream=True, timeout=timeout)
        try:
            yield AsyncChunks(response, path)
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
        with map_exceptions("PUT", "<upload url>"):
            response = await self._dispatch(request, stream=False)
        self.log_response("PUT", "<upload url>", response, 0)
        return response

    async def _dispatch(
        self, request: httpx.Request | DirectRequest, stream: bool
    ) -> httpx.Response:
        if isinstance(request, DirectRequest):
            assert self._direct is not None
            response = await self._direct.send_direct(
                request.origin,
                request.method,
                request.target,
                request.headers,
                request.body,
                request.timeout.as_dict(),
                read_now=not stream,
            )
            response.request = request.request()
        else:
            sent = request if self.config.proxy is None else self.config.proxy.route(request)
            if self._direct is None:
                return await self.client.send(sent, stream=stream)
            response = await self._direct.handle_async_request(sent)
            response.request = request
        if not stream and not read_whole(response):
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response


class AsyncChunks:
    """The body of a stream, chunk by chunk, with httpx errors already translated."""

    __slots__ = ("_path", "_raw")

    def __init__(self, response: httpx.Response, path: str) -> None:
        self._raw = response.aiter_raw()
        self._path = path

    def __aiter__(self) -> AsyncChunks:
        return self

    async def __anext__(self) -> bytes:
        # A plain try: this runs once per chunk of every stream.
        try:
            return await self._raw.__anext__()
        except httpx.TransportError as exc:
            raise map_exception(exc, "GET", self._path) from exc
