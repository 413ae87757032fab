"""A server-side proxy for browser apps: the browser calls the API without the key, through
your backend, which checks the target, adds the key and forwards.

It speaks the protocol of the JS SDK's ``proxyUrl`` option (and of this package's
``inference(proxy_url=...)``): every request goes to the proxy path with the real API URL in the
``x-inf-target-url`` header, or the ``__inf_target`` query parameter for an EventSource.

- :class:`ASGIProxy` for FastAPI, Starlette and Django ASGI; :class:`WSGIProxy` for Flask and
  Django WSGI. Both take the same options: ``api_key`` (a string or a callable; default
  ``INFERENCE_API_KEY``), ``base_url`` (default ``INFERENCE_BASE_URL`` or the platform),
  ``allowed_urls`` (more API origins to allow), ``authorize``, the size limits and ``timeout``.
- Targets are only the configured API, the platform's ``https://*.inference.sh`` hosts and the
  allow-list, checked after normalisation; redirects are passed to the browser, never followed.
- The browser's cookies and ``Authorization`` never reach the API; the key never reaches the
  browser (a response header that would carry it is dropped, and it is masked in bodies).
"""

from __future__ import annotations

from inferencesh._proxy_protocol import PROXY_PATH, TARGET_HEADER, TARGET_PARAM
from inferencesh.proxy._asgi import ASGIProxy, AsyncAuthorize, ProxyStreamError
from inferencesh.proxy._core import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PROXY_TIMEOUT,
    ProxyRequest,
)
from inferencesh.proxy._wsgi import Authorize, WSGIProxy

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_PROXY_TIMEOUT",
    "PROXY_PATH",
    "TARGET_HEADER",
    "TARGET_PARAM",
    "ASGIProxy",
    "AsyncAuthorize",
    "Authorize",
    "ProxyRequest",
    "ProxyStreamError",
    "WSGIProxy",
]
