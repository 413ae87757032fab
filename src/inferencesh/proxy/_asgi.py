"""The ASGI driver: receives, forwards with httpx and streams back; decisions are the core's."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import anyio
import httpx

from inferencesh._logging import logger
from inferencesh.proxy._core import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PROXY_TIMEOUT,
    KeySource,
    Meter,
    ProxyCore,
    ProxyRequest,
    Refusal,
    Scrubber,
)

__all__ = ["ASGIProxy", "AsyncAuthorize"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsyncAuthorize = Callable[[ProxyRequest], bool | Awaitable[bool]]


class _ClientGone(Exception):
    """The browser disconnected while its request body was being read."""


class ProxyStreamError(RuntimeError):
    """The response was cut short after it started; raised so the server drops the connection."""


class ASGIProxy:
    """The browser proxy as an ASGI app: forwards ``x-inf-target-url`` requests with the key.

    In FastAPI or Starlette, route the proxy path to it (a ``Route`` serves the exact path)::

        from starlette.routing import Route
        from inferencesh.proxy import PROXY_PATH, ASGIProxy

        app.router.routes.append(Route(PROXY_PATH, ASGIProxy(authorize=is_signed_in)))

    The browser side then uses ``inference({ proxyUrl: "/api/inference/proxy" })`` (JS SDK) or
    ``inference(proxy_url=...)`` here. ``authorize`` may be sync or async and returns ``True`` to
    let the request through; anything else answers 401.
    """

    def __init__(
        self,
        *,
        api_key: KeySource = None,
        base_url: str | None = None,
        allowed_urls: Iterable[str] = (),
        authorize: AsyncAuthorize | None = None,
        max_request_bytes: int | None = DEFAULT_MAX_REQUEST_BYTES,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        timeout: float | httpx.Timeout | None = DEFAULT_PROXY_TIMEOUT,
    ) -> None:
        self._core = ProxyCore(
            api_key=api_key,
            base_url=base_url,
            allowed_urls=allowed_urls,
            max_request_bytes=max_request_bytes,
            max_response_bytes=max_response_bytes,
            timeout=timeout,
            driver="asgi",
        )
        self._authorize = authorize
        self._transport: httpx.AsyncHTTPTransport | None = None

    def __repr__(self) -> str:
        return f"ASGIProxy({self._core!r})"

    async def aclose(self) -> None:
        """Close the pool of upstream connections (also done on lifespan shutdown)."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ]
        core = self._core
        try:
            plan = core.plan(scope["method"], headers, scope.get("query_string", b""))
            if self._authorize is not None:
                client = scope.get("client")
                view = core.request_view(
                    plan.method,
                    scope.get("path", ""),
                    plan.target,
                    headers,
                    str(client[0]) if client else None,
                    scope,
                )
                allowed = self._authorize(view)
                if inspect.isawaitable(allowed):
                    allowed = await allowed
                if allowed is not True:
                    raise Refusal(401, "unauthorized", "sign in to use this proxy")
            key = core.api_key()
        except Refusal as refusal:
            await _problem(send, refusal)
            return
        request = httpx.Request(
            plan.method,
            plan.target,
            headers=core.outbound_headers(plan, key),
            content=_body(receive, core.request_meter()) if plan.has_body else None,
            extensions={"timeout": core.timeout.as_dict()},
        )
        try:
            response = await self._pool().handle_async_request(request)
        except Refusal as refusal:  # the body passed the limit while it was being sent
            await _problem(send, refusal)
            return
        except _ClientGone:
            return
        except httpx.TransportError as exc:
            await _problem(send, core.upstream_failure(exc, plan.target))
            return
        try:
            await self._relay(response, key, receive, send)
        finally:
            await response.aclose()

    async def _relay(
        self, response: httpx.Response, key: str, receive: Receive, send: Send
    ) -> None:
        try:
            headers = self._core.response_headers(response.headers.raw, key)
        except Refusal as refusal:
            await _problem(send, refusal)
            return
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
            }
        )
        failure: BaseException | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, receive, group.cancel_scope)
            failure = await _pump(
                response.aiter_raw(), Scrubber(key), self._core.response_meter(), send
            )
            group.cancel_scope.cancel()
        if failure is not None:
            logger.warning("proxy: response cut short: %s", type(failure).__name__)
            raise ProxyStreamError("the API's response was cut short") from None

    def _pool(self) -> httpx.AsyncHTTPTransport:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(retries=0)
        return self._transport


async def _pump(
    chunks: AsyncIterator[bytes], scrubber: Scrubber, meter: Meter, send: Send
) -> BaseException | None:
    """Send each chunk as it arrives; return what cut the body short, if anything did."""
    try:
        async for chunk in chunks:
            meter.add(len(chunk))
            data = scrubber.feed(chunk)
            if data:
                await send({"type": "http.response.body", "body": data, "more_body": True})
    except (Refusal, httpx.TransportError) as exc:
        return exc
    except OSError:  # the browser went away (ASGI servers raise it from send)
        return None
    await send({"type": "http.response.body", "body": scrubber.flush(), "more_body": False})
    return None


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _body(receive: Receive, meter: Meter) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            meter.add(len(chunk))
            yield chunk
        if not message.get("more_body", False):
            return


async def _problem(send: Send, refusal: Refusal) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(n.encode(), v.encode()) for n, v in refusal.headers()],
        }
    )
    await send({"type": "http.response.body", "body": refusal.body(), "more_body": False})
