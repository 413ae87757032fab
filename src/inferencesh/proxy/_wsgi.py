"""The WSGI driver: reads, forwards with httpx and streams back; decisions are the core's."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpx

from inferencesh._errors import InvalidInputError
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

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["Authorize", "WSGIProxy"]

Authorize = Callable[[ProxyRequest], bool]
_CHUNK = 64 * 1024


class WSGIProxy:
    """The browser proxy as a WSGI app: forwards ``x-inf-target-url`` requests with the key.

    In Flask, serve it at the proxy path next to the app::

        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from inferencesh.proxy import PROXY_PATH, WSGIProxy

        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {PROXY_PATH: WSGIProxy()})

    ``authorize`` returns ``True`` to let a request through; anything else answers 401. Streams
    reach the browser chunk by chunk when the server writes each chunk as it comes (wsgiref,
    gunicorn and waitress do); request bodies are read as the server delivers them.
    """

    def __init__(
        self,
        *,
        api_key: KeySource = None,
        base_url: str | None = None,
        allowed_urls: Iterable[str] = (),
        authorize: Authorize | None = None,
        max_request_bytes: int | None = DEFAULT_MAX_REQUEST_BYTES,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        timeout: float | httpx.Timeout | None = DEFAULT_PROXY_TIMEOUT,
    ) -> None:
        if authorize is not None and inspect.iscoroutinefunction(authorize):
            raise InvalidInputError("authorize must be a plain function for WSGIProxy, not async")
        self._core = ProxyCore(
            api_key=api_key,
            base_url=base_url,
            allowed_urls=allowed_urls,
            max_request_bytes=max_request_bytes,
            max_response_bytes=max_response_bytes,
            timeout=timeout,
            driver="wsgi",
        )
        self._authorize = authorize
        self._transport = httpx.HTTPTransport(retries=0)

    def __repr__(self) -> str:
        return f"WSGIProxy({self._core!r})"

    def close(self) -> None:
        """Close the pool of upstream connections."""
        self._transport.close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        headers = _headers(environ)
        core = self._core
        try:
            plan = core.plan(
                environ.get("REQUEST_METHOD", "GET"),
                headers,
                environ.get("QUERY_STRING", "").encode("latin-1"),
            )
            if plan.has_body and plan.length is None and not environ.get("wsgi.input_terminated"):
                raise Refusal(411, "length_required", "send the request body with Content-Length")
            if self._authorize is not None:
                path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
                client = environ.get("REMOTE_ADDR") or None
                view = core.request_view(plan.method, path, plan.target, headers, client, environ)
                if self._authorize(view) is not True:
                    raise Refusal(401, "unauthorized", "sign in to use this proxy")
            key = core.api_key()
        except Refusal as refusal:
            return _problem(start_response, refusal)
        body = _body(environ["wsgi.input"], plan.length, core.request_meter())
        request = httpx.Request(
            plan.method,
            plan.target,
            headers=core.outbound_headers(plan, key),
            content=body if plan.has_body else None,
            extensions={"timeout": core.timeout.as_dict()},
        )
        try:
            response = self._transport.handle_request(request)
        except Refusal as refusal:
            return _problem(start_response, refusal)
        except httpx.TransportError as exc:
            return _problem(start_response, core.upstream_failure(exc, plan.target))
        try:
            out = core.response_headers(response.headers.raw, key)
        except Refusal as refusal:
            response.close()
            return _problem(start_response, refusal)
        start_response(_status_line(response.status_code), out)
        return _Relay(response, Scrubber(key), core.response_meter())


class _Relay:
    """The response body as a WSGI iterable; ``close()`` (called by the server) releases the
    upstream connection even when the body was never iterated."""

    def __init__(self, response: httpx.Response, scrubber: Scrubber, meter: Meter) -> None:
        self._response = response
        self._scrubber = scrubber
        self._meter = meter

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._response.iter_raw():
                self._meter.add(len(chunk))
                data = self._scrubber.feed(chunk)
                if data:
                    yield data
        except (Refusal, httpx.TransportError) as exc:
            logger.warning("proxy: response cut short: %s", type(exc).__name__)
            raise RuntimeError("the API's response was cut short") from None
        tail = self._scrubber.flush()
        if tail:
            yield tail

    def close(self) -> None:
        self._response.close()


def _headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers.append((name[5:].replace("_", "-").lower(), str(value)))
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((name.replace("_", "-").lower(), str(value)))
    return headers


def _body(stream: Any, length: int | None, meter: Meter) -> Iterator[bytes]:
    # read1 returns what has arrived instead of waiting for a full chunk, so a slow upload is
    # forwarded as it comes.
    read: Callable[[int], bytes] = getattr(stream, "read1", None) or stream.read
    remaining = length
    while remaining is None or remaining > 0:
        chunk = read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        meter.add(len(chunk))
        yield chunk


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _problem(start_response: StartResponse, refusal: Refusal) -> list[bytes]:
    start_response(_status_line(refusal.status), refusal.headers())
    return [refusal.body()]
