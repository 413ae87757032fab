"""The browser-proxy protocol, shared by the client's ``proxy_url=`` mode and
:mod:`inferencesh.proxy`.

A client without a key sends each API request to the proxy URL and names the real target in the
``x-inf-target-url`` header (or, for an EventSource that cannot set headers, the ``__inf_target``
query parameter); the proxy checks the target, adds the key and forwards.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from inferencesh._errors import InvalidInputError

__all__ = ["PROXY_PATH", "TARGET_HEADER", "TARGET_PARAM", "ProxyRoute"]

TARGET_HEADER = "x-inf-target-url"
TARGET_PARAM = "__inf_target"
PROXY_PATH = "/api/inference/proxy"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class ProxyRoute:
    """Rewrites requests for the API into requests to the proxy (the client side of the protocol).

    Requests to other hosts (presigned upload URLs) are sent directly, as the JS SDK does: they
    carry their own authorization and never a key. Everything sent to the proxy carries the
    client's ``headers=`` (how a non-browser caller signs in to the backend), uploads included.
    """

    def __init__(self, proxy_url: str, base_url: str, headers: Mapping[str, str]) -> None:
        self.url = _proxy_url(proxy_url)
        self._host = self.url.netloc.decode("ascii")
        self._api = _origin(httpx.URL(base_url))
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"ProxyRoute({str(self.url)!r})"

    def route(self, request: httpx.Request) -> httpx.Request:
        """``request`` as it goes on the wire: to the proxy when it targets the API."""
        if _origin(request.url) != self._api:
            return request
        headers = request.headers.copy()
        for name, value in self._headers.items():
            headers.setdefault(name, value)
        headers.pop("Authorization", None)
        headers["Host"] = self._host
        headers[TARGET_HEADER] = str(request.url)
        return httpx.Request(
            request.method,
            self.url,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )


def _proxy_url(value: object) -> httpx.URL:
    example = f"'https://app.example.com{PROXY_PATH}'"
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"proxy_url must be an absolute http(s) URL such as {example}, got {value!r}"
        )
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise InvalidInputError(f"proxy_url is not a valid URL ({exc}): {value!r}") from None
    if not url.host or url.userinfo or url.fragment:
        raise InvalidInputError(
            f"proxy_url must name a host, without user info or fragment, such as {example}, "
            f"got {value!r}"
        )
    return url
