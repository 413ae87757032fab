"""The proxy's decisions, with no I/O: which targets are allowed, which headers go each way, the
size limits, the key, and the problem responses. The ASGI and WSGI drivers only move bytes."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import httpx

from inferencesh import __version__
from inferencesh._errors import InvalidInputError, MissingAPIKeyError
from inferencesh._logging import logger, redact, register_secret
from inferencesh._proxy_protocol import TARGET_HEADER, TARGET_PARAM
from inferencesh._transport import DEFAULT_BASE_URL

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_PROXY_TIMEOUT",
    "KeySource",
    "Meter",
    "Plan",
    "ProxyCore",
    "ProxyRequest",
    "Refusal",
    "Scrubber",
]

KeySource = str | Callable[[], str] | None

DEFAULT_MAX_REQUEST_BYTES = 32 << 20
DEFAULT_MAX_RESPONSE_BYTES = 256 << 20
# Streams send heartbeats well within the read timeout; a request gets this long between bytes.
DEFAULT_PROXY_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
_BODYLESS = frozenset({"GET", "HEAD"})
# Besides x-inf-*: what the SDKs send and the API reads. Cookies and Authorization never pass.
_FORWARDED = frozenset(
    {"x-api-version", "x-client-source", "accept", "content-type", "content-length", "user-agent"}
)
_OWN = frozenset({TARGET_HEADER, "x-inf-proxy"})
_BODY_HEADERS = frozenset({"content-length", "content-type"})
# Hop-by-hop headers, and what the front server sets itself or the browser must not get.
_DROPPED_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "set-cookie",
        "set-cookie2",
        "date",
        "server",
    }
)
_MAX_TARGET_LENGTH = 8192
# Control characters, spaces and backslashes: no valid target has them, and parsers disagree on
# what a backslash means (a browser reads it as "/", urllib as part of the user info).
_BAD_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")
_HOST = re.compile(r"^[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_PLATFORM = "inference.sh"


@dataclass(frozen=True)
class ProxyRequest:
    """The browser's request, as the ``authorize`` hook sees it.

    ``headers`` has lower-case names and includes ``cookie`` and ``authorization`` (neither is
    forwarded); ``client`` is the peer's address; ``raw`` is the ASGI scope or the WSGI environ,
    for framework helpers.
    """

    method: str
    path: str
    target: str
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    client: str | None
    raw: Mapping[str, Any] = field(repr=False)


class Refusal(Exception):
    """A request the proxy answers itself, with problem+json."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def body(self) -> bytes:
        problem = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": redact(self.detail),
            "code": self.code,
        }
        return json.dumps(problem).encode()

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("content-type", "application/problem+json"),
            ("content-length", str(len(self.body()))),
            ("cache-control", "no-store"),
        ]


@dataclass(frozen=True)
class Plan:
    """What to forward: the checked target, the headers (without the key) and the body size."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    has_body: bool
    length: int | None


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    prefix: tuple[str, ...]

    def allows(self, scheme: str, host: str, port: int, segments: Sequence[str]) -> bool:
        return (scheme, host, port) == (self.scheme, self.host, self.port) and tuple(
            segments[: len(self.prefix)]
        ) == self.prefix


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]
    url: str


def _refuse_target(raw: str, why: str) -> Refusal:
    shown = raw if len(raw) <= 200 else raw[:200] + "..."
    return Refusal(403, "target_not_allowed", f"target {shown!r} refused: {why}")


def _canonical_host(host: str) -> str | None:
    """The host in one spelling (lower case, IDNA A-labels, canonical IP), or None when it is
    not a plain host name or IP address."""
    if "%" in host:
        return None
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        return None if address.ipv4_mapped is not None else str(address)
    host = host.lower().removesuffix(".")
    if not _HOST.match(host):
        return None
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        # A numeric last label makes it an IPv4 address to resolvers, which accept 127.1,
        # 0x7f000001 and 2130706433 alike: only the dotted-quad spelling is taken.
        try:
            return host if str(ipaddress.IPv4Address(host)) == host else None
        except ValueError:
            return None
    return host


def _segments(path: str) -> tuple[str, ...] | None:
    """The decoded path segments, or None when one is a dot segment or hides a separator."""
    segments: list[str] = []
    for part in path.split("/")[1:]:
        decoded = urllib.parse.unquote(part)
        if decoded in (".", "..") or "/" in decoded or _BAD_CHARACTERS.search(decoded):
            return None
        segments.append(decoded)
    return tuple(segments)


def _parse(raw: str) -> _Target:
    """Parse and normalise a target URL; raise :class:`Refusal` for anything unusual."""
    if len(raw) > _MAX_TARGET_LENGTH:
        raise _refuse_target(raw, f"longer than {_MAX_TARGET_LENGTH} characters")
    if _BAD_CHARACTERS.search(raw):
        raise _refuse_target(raw, "control characters, spaces or backslashes")
    if not raw.lower().startswith(("http://", "https://")):
        raise _refuse_target(raw, "not an absolute http(s) URL")
    # Dot segments are refused as written: httpx would resolve them before we could see them.
    if _segments(urllib.parse.urlsplit(raw).path or "/") is None:
        raise _refuse_target(raw, "dot segments or encoded separators in the path")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        raise _refuse_target(raw, "not a valid URL") from None
    if url.userinfo:
        raise _refuse_target(raw, "user info in the URL")
    host = _canonical_host(url.raw_host.decode("ascii"))
    if host is None:
        raise _refuse_target(raw, "the host is not a plain host name or canonical IP address")
    path, _, query = url.raw_path.decode("ascii").partition("?")
    segments = _segments(path)
    if segments is None:
        raise _refuse_target(raw, "dot segments or encoded separators in the path")
    port = url.port or (443 if url.scheme == "https" else 80)
    default = port == (443 if url.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    netloc = netloc if default else f"{netloc}:{port}"
    rebuilt = f"{url.scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return _Target(url.scheme, host, port, segments, rebuilt)


def _origin_of(value: object, name: str) -> _Origin:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be an http(s) URL string, got {value!r}")
    try:
        target = _parse(value)
    except Refusal as refusal:
        raise InvalidInputError(f"{name} {value!r} is not usable: {refusal.detail}") from None
    if "?" in target.url or "#" in value:
        raise InvalidInputError(f"{name} must not have a query or fragment, got {value!r}")
    prefix = target.segments[:-1] if target.segments[-1:] == ("",) else target.segments
    return _Origin(target.scheme, target.host, target.port, prefix)


def _first(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class Meter:
    """Counts body bytes against a limit; raises the given refusal once it is passed."""

    def __init__(self, limit: int | None, refusal: Refusal) -> None:
        self.limit = limit
        self.count = 0
        self._refusal = refusal

    def add(self, size: int) -> None:
        self.count += size
        if self.limit is not None and self.count > self.limit:
            raise self._refusal


class Scrubber:
    """Masks the key in a body passed as chunks, keeping its length.

    A chunk's tail that could be the start of the key is held back until the next chunk; a
    line-delimited stream (NDJSON, SSE) ends its chunks with a newline, so nothing is held.
    """

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._mask = b"*" * len(self._key)
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = (self._held + chunk).replace(self._key, self._mask)
        keep = 0
        for size in range(min(len(self._key) - 1, len(data)), 0, -1):
            if self._key.startswith(data[-size:]):
                keep = size
                break
        self._held = data[len(data) - keep :]
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


def _no_key() -> Refusal:
    return Refusal(500, "proxy_misconfigured", "the proxy could not get an API key")


def _check_limit(value: object, name: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise InvalidInputError(f"{name} must be an int >= 0 or None, got {value!r}")
    return value


class ProxyCore:
    """The configuration and every decision of the proxy; the drivers call it and move bytes."""

    def __init__(
        self,
        *,
        api_key: KeySource,
        base_url: str | None,
        allowed_urls: Iterable[str],
        max_request_bytes: int | None,
        max_response_bytes: int | None,
        timeout: float | httpx.Timeout | None,
        driver: str,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("INFERENCE_API_KEY")
            if not api_key or not api_key.strip():
                raise MissingAPIKeyError(
                    "the proxy has no API key: pass api_key=... or set INFERENCE_API_KEY"
                )
        if isinstance(api_key, str):
            if not api_key.strip():
                raise MissingAPIKeyError("api_key is empty")
            register_secret(api_key.strip())
        elif not callable(api_key):
            raise InvalidInputError(f"api_key must be a string or a callable, got {api_key!r}")
        self._key = api_key
        base = base_url or os.environ.get("INFERENCE_BASE_URL") or DEFAULT_BASE_URL
        self.origins = [_origin_of(base, "base_url")]
        if isinstance(allowed_urls, str):
            raise InvalidInputError(
                f"allowed_urls must be a list of URLs, got the string {allowed_urls!r}"
            )
        self.origins += [_origin_of(url, "allowed_urls entry") for url in allowed_urls]
        self.max_request_bytes = _check_limit(max_request_bytes, "max_request_bytes")
        self.max_response_bytes = _check_limit(max_response_bytes, "max_response_bytes")
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.proxy_id = f"inferencesh-python-proxy/{__version__} ({driver})"

    def __repr__(self) -> str:
        return f"ProxyCore(origins={len(self.origins)}, proxy_id={self.proxy_id!r})"

    def target(self, raw: str) -> str:
        """The normalised target URL, or a refusal: only the configured API, the platform's
        ``*.inference.sh`` hosts (https, port 443) and the allow-list are ever reached."""
        target = _parse(raw)
        if target.scheme == "https" and target.port == 443:
            if target.host == _PLATFORM or target.host.endswith("." + _PLATFORM):
                return target.url
        for origin in self.origins:
            if origin.allows(target.scheme, target.host, target.port, target.segments):
                return target.url
        raise _refuse_target(raw, "not the configured API, an inference.sh host or allow-listed")

    def plan(self, method: str, headers: Sequence[tuple[str, str]], query: bytes) -> Plan:
        """Check the request (method, target, declared size); headers have lower-case names."""
        method = method.upper()
        if method not in _METHODS:
            raise Refusal(405, "method_not_allowed", f"method {method} is not proxied")
        raw = _first(headers, TARGET_HEADER)
        if not raw:
            values = urllib.parse.parse_qs(query.decode("latin-1")).get(TARGET_PARAM)
            raw = values[0] if values else None
        if not raw:
            raise Refusal(
                400,
                "missing_target",
                f"name the target URL in the {TARGET_HEADER} header "
                f"or the {TARGET_PARAM} query parameter",
            )
        target = self.target(raw)
        length: int | None = None
        has_body = method not in _BODYLESS
        declared = _first(headers, "content-length")
        if has_body and declared is not None:
            if not declared.isdigit():
                raise Refusal(400, "bad_request", f"content-length {declared!r} is not a number")
            length = int(declared)
            if self.max_request_bytes is not None and length > self.max_request_bytes:
                raise self.request_too_large()
        chunked = "chunked" in (_first(headers, "transfer-encoding") or "").lower()
        has_body = has_body and (chunked or bool(length))
        forwarded = [
            (name, value)
            for name, value in headers
            if (name in _FORWARDED or name.startswith("x-inf-")) and name not in _OWN
        ]
        if not has_body:
            forwarded = [(n, v) for n, v in forwarded if n not in _BODY_HEADERS]
        return Plan(method, target, forwarded, has_body, length)

    def outbound_headers(self, plan: Plan, key: str) -> list[tuple[str, str]]:
        """The headers sent upstream: the plan's, the key, and what the proxy always sets."""
        headers = list(plan.headers)
        if _first(headers, "accept") is None:
            headers.append(("accept", "application/json"))
        if _first(headers, "user-agent") is None:
            headers.append(("user-agent", self.proxy_id))
        # Compressed bodies would be buffered by a compressor and could hide the key.
        headers += [
            ("accept-encoding", "identity"),
            ("authorization", f"Bearer {key}"),
            ("x-inf-proxy", self.proxy_id),
        ]
        return headers

    def api_key(self) -> str:
        """The key for this request (the callable is asked each time)."""
        if isinstance(self._key, str):
            return self._key.strip()
        try:
            key = cast(object, self._key())  # a user's callable: checked, not trusted
        except Exception as exc:
            logger.error("proxy: the api_key callable raised %s", type(exc).__name__)
            raise _no_key() from None
        if not isinstance(key, str) or not key.strip():
            logger.error("proxy: the api_key callable returned no key")
            raise _no_key()
        register_secret(key.strip())
        return key.strip()

    def response_headers(
        self, headers: Iterable[tuple[bytes, bytes]], key: str
    ) -> list[tuple[str, str]]:
        """The upstream's headers for the browser; a header that would carry the key is dropped,
        and a declared body over the limit is refused before anything is sent."""
        kept: list[tuple[str, str]] = []
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name in _DROPPED_RESPONSE or key in value:
                continue
            if name == "content-length" and self.max_response_bytes is not None:
                if value.isdigit() and int(value) > self.max_response_bytes:
                    raise self.response_too_large()
            kept.append((name, value))
        return kept

    def request_meter(self) -> Meter:
        return Meter(self.max_request_bytes, self.request_too_large())

    def response_meter(self) -> Meter:
        return Meter(self.max_response_bytes, self.response_too_large())

    def request_too_large(self) -> Refusal:
        limit = self.max_request_bytes
        return Refusal(413, "payload_too_large", f"request bodies are limited to {limit} bytes")

    def response_too_large(self) -> Refusal:
        return Refusal(
            502,
            "response_too_large",
            f"the API's response is over the proxy's limit of {self.max_response_bytes} bytes",
        )

    def upstream_failure(self, exc: httpx.TransportError, target: str) -> Refusal:
        """The answer when the API could not be reached; the exception's text is not shown."""
        host = httpx.URL(target).host
        logger.warning("proxy: the request to %s failed: %s", host, type(exc).__name__)
        if isinstance(exc, httpx.TimeoutException):
            return Refusal(504, "upstream_timeout", f"{host} did not answer in time")
        return Refusal(502, "upstream_unreachable", f"{host} could not be reached")

    def request_view(
        self,
        method: str,
        path: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        client: str | None,
        raw: Mapping[str, Any],
    ) -> ProxyRequest:
        """The :class:`ProxyRequest` given to ``authorize``."""
        merged: dict[str, str] = {}
        for name, value in headers:
            joiner = "; " if name == "cookie" else ", "
            merged[name] = f"{merged[name]}{joiner}{value}" if name in merged else value
        cookies: dict[str, str] = {}
        for pair in merged.get("cookie", "").split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name:
                cookies.setdefault(name, value.strip().strip('"'))
        return ProxyRequest(method.upper(), path, target, merged, cookies, client, raw)
