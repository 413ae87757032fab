"""The proxy over the wire (served by uvicorn and by wsgiref) in front of a scriptable upstream:
refused targets, headers each way, the key, limits, streaming both ways, authorize."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from inferencesh.local import LocalRuntime
from inferencesh.proxy import ProxyRequest

from .conftest import PROXY_KEY, MakeProxy
from .upstream import GATE_GUARD_SECONDS, PROBLEM, Upstream

TARGET = "x-inf-target-url"


def problem(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == response.status_code
    return body


def hostile_spellings(port: int, runtime: str) -> list[str]:
    """The upstream (not allow-listed) in the spellings an attacker would try."""
    return [
        f"http://127.0.0.1:{port}/echo",
        f"http://127.1:{port}/echo",
        f"http://2130706433:{port}/echo",
        f"http://0x7f000001:{port}/echo",
        f"http://0177.0.0.1:{port}/echo",
        f"http://[::ffff:127.0.0.1]:{port}/echo",
        f"http://localhost:{port}/echo",
        f"{runtime}@127.0.0.1:{port}/echo",
        f"{runtime}\\@127.0.0.1:{port}/echo",
        f"{runtime}%2F@127.0.0.1:{port}/echo",
        f"http://127.0.0.1:{port}\\.{runtime.removeprefix('http://')}/echo",
        f"https://api.inference.sh@127.0.0.1:{port}/echo",
        f"http://127.0.0.1:{port}#.inference.sh",
    ]


def test_hostile_targets_are_refused_and_reach_nothing(
    kind: str, make_proxy: MakeProxy, upstream: Upstream, runtime: LocalRuntime
) -> None:
    proxy = make_proxy(kind)
    with httpx.Client() as http:
        for target in hostile_spellings(int(upstream.url.rsplit(":", 1)[1]), runtime.base_url):
            by_header = http.post(proxy, headers={TARGET: target}, content=b"{}")
            query = urllib.parse.urlencode({"__inf_target": target})
            by_query = http.get(f"{proxy}?{query}")
            for response in (by_header, by_query):
                assert response.status_code == 403, target
                assert problem(response)["code"] == "target_not_allowed"
    assert upstream.requests == []


def test_requests_without_a_target_or_with_other_methods_are_refused(
    kind: str, make_proxy: MakeProxy
) -> None:
    proxy = make_proxy(kind)
    with httpx.Client() as http:
        assert problem(http.get(proxy))["code"] == "missing_target"
        refused = http.request("OPTIONS", proxy, headers={TARGET: "https://api.inference.sh/"})
        assert refused.status_code == 405


def test_cookies_and_authorization_stay_with_the_browser(
    kind: str, make_proxy: MakeProxy, upstream: Upstream
) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url])
    headers = {
        TARGET: f"{upstream.url}/echo?x=1",
        "cookie": "session=browser-session",
        "authorization": "Bearer browser-token",
        "x-inf-trace": "t-1",
        "x-api-version": "2",
        "x-client-source": "inference-sdk-js/0.5.13",
        "x-forwarded-for": "203.0.113.7",
    }
    with httpx.Client() as http:
        response = http.post(proxy, headers=headers, json={"a": 1})
    assert response.status_code == 200
    seen = upstream.requests[0]
    sent = seen["headers"]
    assert seen["path"] == "/echo" and seen["query"] == "x=1" and seen["size"] == 7
    assert sent["authorization"] == f"Bearer {PROXY_KEY}"
    assert "cookie" not in sent and "x-forwarded-for" not in sent and TARGET not in sent
    assert sent["x-inf-trace"] == "t-1" and sent["x-api-version"] == "2"
    assert sent["x-client-source"] == "inference-sdk-js/0.5.13"
    assert sent["x-inf-proxy"].startswith("inferencesh-python-proxy/")
    assert sent["accept-encoding"] == "identity"


def test_the_key_never_reaches_the_browser(
    kind: str, make_proxy: MakeProxy, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="inferencesh")
    closed = free_port()
    proxy = make_proxy(kind, allowed_urls=[upstream.url, f"http://127.0.0.1:{closed}"])
    with httpx.Client() as http:
        echoed = http.post(proxy, headers={TARGET: f"{upstream.url}/echo"}, content=b"x")
        unreachable = http.get(proxy, headers={TARGET: f"http://127.0.0.1:{closed}/tasks"})
        refused = http.get(proxy, headers={TARGET: f"http://{PROXY_KEY}.example/"})
    # The upstream echoed the Authorization header into a header and the body.
    assert "x-echo-auth" not in echoed.headers and "set-cookie" not in echoed.headers
    assert echoed.json()["echo"] == "Bearer " + "*" * len(PROXY_KEY)
    assert unreachable.status_code == 502
    assert problem(unreachable)["code"] == "upstream_unreachable"
    assert refused.status_code == 403
    for response in (echoed, unreachable, refused):
        assert PROXY_KEY not in response.text
        assert PROXY_KEY not in str(response.headers.raw)
    assert PROXY_KEY not in caplog.text


def test_status_codes_problem_bodies_and_redirects_pass_unchanged(
    kind: str, make_proxy: MakeProxy, upstream: Upstream
) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url])
    with httpx.Client() as http:
        conflict = http.get(proxy, headers={TARGET: f"{upstream.url}/problem"})
        moved = http.get(proxy, headers={TARGET: f"{upstream.url}/redirect"})
    assert conflict.status_code == 409 and conflict.content == PROBLEM
    assert conflict.headers["content-type"] == "application/problem+json"
    assert moved.status_code == 302 and moved.headers["location"] == "/echo"
    assert [r["path"] for r in upstream.requests] == ["/problem", "/redirect"]


def test_request_size_limit(kind: str, make_proxy: MakeProxy, upstream: Upstream) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url], max_request_bytes=1000)
    target = {TARGET: f"{upstream.url}/upload"}
    with httpx.Client() as http:
        assert http.put(proxy, headers=target, content=b"x" * 1000).status_code == 200
        declared = http.put(proxy, headers=target, content=b"x" * 1001)
        streamed = http.put(proxy, headers=target, content=iter([b"x" * 600, b"x" * 600]))
    assert declared.status_code == 413 and problem(declared)["code"] == "payload_too_large"
    # Without a length, the ASGI proxy counts as it forwards; wsgiref cannot read such a body.
    assert streamed.status_code == (413 if kind == "asgi" else 411)
    # A streamed body is cut when it passes the limit: the upstream never gets all of it.
    sizes = [r["size"] for r in upstream.requests]
    assert sizes[0] == 1000 and max(sizes) <= 1000


def test_response_size_limit(kind: str, make_proxy: MakeProxy, upstream: Upstream) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url], max_response_bytes=200_000)
    with httpx.Client() as http:
        small = http.get(proxy, headers={TARGET: f"{upstream.url}/bytes/200000"})
        declared = http.get(proxy, headers={TARGET: f"{upstream.url}/bytes/200001"})
        received = 0
        with (
            pytest.raises(httpx.TransportError) if kind == "asgi" else contextlib.nullcontext(),
            http.stream("GET", proxy, headers={TARGET: f"{upstream.url}/chunked/400000"}) as cut,
        ):
            for chunk in cut.iter_raw():
                received += len(chunk)
    assert small.status_code == 200 and len(small.content) == 200_000
    assert declared.status_code == 502 and problem(declared)["code"] == "response_too_large"
    # The body is cut once it passes the limit (an HTTP/1.0 WSGI server can only close early).
    assert received <= 200_000 + 65536 < 400_000


@pytest.mark.parametrize("stream", ["ndjson", "sse"])
def test_streams_reach_the_browser_event_by_event(
    kind: str, stream: str, make_proxy: MakeProxy, upstream: Upstream
) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url])
    query = urllib.parse.urlencode({"__inf_target": f"{upstream.url}/gated/{stream}"})
    with httpx.Client() as http, http.stream("GET", f"{proxy}?{query}") as response:
        lines = response.iter_lines()
        first = next(lines)
        # The first event arrived while the upstream was still waiting to send the rest.
        assert not upstream.sent_rest.is_set()
        upstream.gate.set()
        rest = [line for line in lines if line]
    assert first == ('data: {"n":1}' if stream == "sse" else '{"n":1}')
    assert rest == (['data: {"n":2}'] if stream == "sse" else ['{"n":2}'])


def test_uploads_stream_through_as_they_are_sent(
    kind: str, make_proxy: MakeProxy, upstream: Upstream
) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url])
    forwarded_before_the_rest: list[bool] = []

    def body() -> Iterator[bytes]:
        yield b"a" * 1000
        forwarded_before_the_rest.append(upstream.first_chunk.wait(GATE_GUARD_SECONDS))
        yield b"b" * (4 << 20)

    headers = {TARGET: f"{upstream.url}/upload", "content-length": str(1000 + (4 << 20))}
    with httpx.Client() as http:
        response = http.put(proxy, headers=headers, content=body())
    assert response.json() == {"size": 1000 + (4 << 20)}
    assert forwarded_before_the_rest == [True]


def test_authorize_refuses_before_anything_is_forwarded(
    kind: str, make_proxy: MakeProxy, upstream: Upstream
) -> None:
    seen: list[ProxyRequest] = []

    def signed_in(request: ProxyRequest) -> bool:
        seen.append(request)
        return request.cookies.get("session") == "valid"

    proxy = make_proxy(kind, allowed_urls=[upstream.url], authorize=signed_in)
    target = {TARGET: f"{upstream.url}/echo"}
    with httpx.Client() as http:
        refused = http.get(proxy, headers=target)
        allowed = http.get(proxy, headers={**target, "cookie": "theme=dark; session=valid"})
    assert refused.status_code == 401 and problem(refused)["code"] == "unauthorized"
    assert allowed.status_code == 200
    assert len(upstream.requests) == 1 and "cookie" not in upstream.requests[0]["headers"]
    assert seen[1].cookies == {"theme": "dark", "session": "valid"}
    assert seen[1].target == f"{upstream.url}/echo" and seen[1].method == "GET"
    assert seen[1].path.endswith("/api/inference/proxy") and seen[1].client is not None


def test_an_async_authorize_works_on_the_asgi_proxy(
    make_proxy: MakeProxy, upstream: Upstream
) -> None:
    async def signed_in(request: ProxyRequest) -> bool:
        return request.headers.get("x-app-user") == "ada"

    proxy = make_proxy("asgi", allowed_urls=[upstream.url], authorize=signed_in)
    target = {TARGET: f"{upstream.url}/echo"}
    with httpx.Client() as http:
        assert http.get(proxy, headers=target).status_code == 401
        assert http.get(proxy, headers={**target, "x-app-user": "ada"}).status_code == 200


def test_a_large_upload_arrives_intact(
    kind: str, make_proxy: MakeProxy, upstream: Upstream
) -> None:
    proxy = make_proxy(kind, allowed_urls=[upstream.url])
    payload = os.urandom(3 << 20)
    with httpx.Client() as http:
        response = http.post(proxy, headers={TARGET: f"{upstream.url}/echo"}, content=payload)
    assert json.loads(response.text)["sha256"] == hashlib.sha256(payload).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
