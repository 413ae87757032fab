"""The proxy's decisions, without I/O: targets, headers, limits, the key, configuration errors."""

from __future__ import annotations

import urllib.parse

import pytest

from inferencesh import InvalidInputError, MissingAPIKeyError
from inferencesh.proxy import WSGIProxy
from inferencesh.proxy._core import ProxyCore, Refusal, Scrubber

KEY = "inf_CORE_SECRET_1234567890"
LOCAL = "http://127.0.0.1:8123/api"


def make_core(**options: object) -> ProxyCore:
    settings: dict[str, object] = {
        "api_key": KEY,
        "base_url": "https://api.inference.sh",
        "allowed_urls": [LOCAL],
        "max_request_bytes": 1000,
        "max_response_bytes": 2000,
        "timeout": 5.0,
        "driver": "test",
    }
    settings.update(options)
    return ProxyCore(**settings)  # type: ignore[arg-type]


HOSTILE = [
    ("http://evil.example/tasks", "another host"),
    ("https://inference.sh.evil.example/", "the platform's name as a subdomain"),
    ("https://evilinference.sh/", "a suffix without the dot"),
    ("https://api.inference.sh@evil.example/", "the platform host as user info"),
    ("https://api.inference.sh:443@evil.example/", "user info with a port"),
    ("https://user:pw@api.inference.sh/tasks", "user info on an allowed host"),
    ("https://api.inference.sh%2F@evil.example/", "an encoded slash in user info"),
    ("https://api.inference.sh\\@evil.example/", "a backslash before the at sign"),
    ("https://evil.example\\.inference.sh/", "a backslash in the host"),
    ("https://evil.example#.inference.sh", "the platform name in the fragment"),
    ("https://evil.example%23.inference.sh/", "a percent-encoded host"),
    ("https://api%2einference.sh/", "a percent-encoded dot"),
    ("http://api.inference.sh/tasks", "plain http to the platform"),
    ("https://api.inference.sh:8443/tasks", "another port on the platform"),
    ("ftp://api.inference.sh/", "another scheme"),
    ("file:///etc/passwd", "a file URL"),
    ("javascript:alert(1)", "a script URL"),
    ("//api.inference.sh/tasks", "a scheme-relative URL"),
    ("https:api.inference.sh/tasks", "no slashes after the scheme"),
    ("/tasks", "a path alone"),
    ("https://api.inference.sh/a/../../admin", "dot segments"),
    ("https://api.inference.sh/%2e%2e/admin", "encoded dot segments"),
    ("https://api.inference.sh/./tasks", "a single dot segment"),
    ("https://api.inference.sh/a%2fb", "an encoded slash in the path"),
    ("https://api.inference.sh/a%5cb", "an encoded backslash in the path"),
    ("https://api.inference.sh/a%00b", "an encoded NUL"),
    ("https://api.inference.sh/a b", "a space"),
    ("https://api.inference.sh/\r\nX-Injected: 1", "a header injection"),
    ("https://\uff41\uff50\uff49.inference.sh/", "fullwidth letters"),
    ("https://\u0430pi.inference.sh.evil.example/", "a homograph in front of another host"),
    ("http://127.0.0.1:8123/other", "outside the allowed path"),
    ("http://127.0.0.1:8123/apix", "a longer first segment"),
    ("http://127.0.0.1:8123/api/../admin", "dot segments out of the allowed path"),
    ("http://127.0.0.1:8123/api/%2e%2e/admin", "encoded dot segments out of the allowed path"),
    ("http://127.1:8123/api/x", "a short IPv4 spelling"),
    ("http://2130706433:8123/api/x", "a decimal IPv4"),
    ("http://0x7f000001:8123/api/x", "a hex IPv4"),
    ("http://0x7f.0.0.1:8123/api/x", "a hex octet"),
    ("http://0177.0.0.1:8123/api/x", "an octal octet"),
    ("http://127.000.000.001:8123/api/x", "zero-padded octets"),
    ("http://[::ffff:127.0.0.1]:8123/api/x", "an IPv4-mapped IPv6 address"),
    ("http://[::1]:8123/api/x", "another loopback address"),
    ("http://[fe80::1%25eth0]:8123/api/x", "an IPv6 zone"),
    ("http://localhost:8123/api/x", "a name for the allowed address"),
    ("http://127.0.0.1:8124/api/x", "another port of the allowed address"),
    ("https://127.0.0.1:8123/api/x", "another scheme for the allowed address"),
    ("https://api.inference.sh/" + "a" * 9000, "an overlong URL"),
]


@pytest.mark.parametrize(("target", "why"), HOSTILE, ids=[why for _, why in HOSTILE])
def test_hostile_targets_are_refused(target: str, why: str) -> None:
    with pytest.raises(Refusal) as caught:
        make_core().target(target)
    assert caught.value.status == 403
    assert caught.value.code == "target_not_allowed"


ALLOWED = [
    ("https://api.inference.sh/tasks/abc", "https://api.inference.sh/tasks/abc"),
    ("HTTPS://API.Inference.SH/tasks", "https://api.inference.sh/tasks"),
    ("https://api.inference.sh:443/tasks", "https://api.inference.sh/tasks"),
    ("https://api.inference.sh./tasks", "https://api.inference.sh/tasks"),
    ("https://api\u3002inference\u3002sh/tasks", "https://api.inference.sh/tasks"),
    ("https://api.inference.sh", "https://api.inference.sh/"),
    (
        "https://api.inference.sh/tasks?limit=5&x=%2F",
        "https://api.inference.sh/tasks?limit=5&x=%2F",
    ),
    ("https://api.inference.sh/#@evil.example", "https://api.inference.sh/"),
    ("https://api.inference.sh/s?q=a%20b%5C%00", "https://api.inference.sh/s?q=a%20b%5C%00"),
    ("https://api.inference.sh/?@evil.example", "https://api.inference.sh/?@evil.example"),
    ("https://files.inference.sh/u/1", "https://files.inference.sh/u/1"),
    ("https://inference.sh/x", "https://inference.sh/x"),
    ("http://127.0.0.1:8123/api", "http://127.0.0.1:8123/api"),
    ("http://127.0.0.1:08123/api/x", "http://127.0.0.1:8123/api/x"),
    ("http://127.0.0.1:8123/api/tasks/1/stream", "http://127.0.0.1:8123/api/tasks/1/stream"),
]


@pytest.mark.parametrize(("target", "normalised"), ALLOWED)
def test_allowed_targets_are_forwarded_in_their_normal_form(target: str, normalised: str) -> None:
    assert make_core().target(target) == normalised


def test_the_configured_base_url_is_allowed_with_its_path() -> None:
    core = make_core(base_url="http://127.0.0.1:9000/v2/", allowed_urls=[])
    assert core.target("http://127.0.0.1:9000/v2/apps/run") == "http://127.0.0.1:9000/v2/apps/run"
    with pytest.raises(Refusal):
        core.target("http://127.0.0.1:9000/v1/apps/run")


def test_ipv6_allow_list_entries_match_every_spelling_of_the_address() -> None:
    core = make_core(allowed_urls=["http://[::1]:8123"])
    assert core.target("http://[0:0:0:0:0:0:0:1]:8123/x") == "http://[::1]:8123/x"


def headers_of(plan_headers: list[tuple[str, str]]) -> dict[str, str]:
    return dict(plan_headers)


BROWSER_HEADERS = [
    ("host", "app.example"),
    ("cookie", "session=abc; csrftoken=def"),
    ("authorization", "Bearer browser-token"),
    ("origin", "https://app.example"),
    ("x-forwarded-for", "203.0.113.9"),
    ("x-inf-target-url", "https://api.inference.sh/apps/run"),
    ("x-inf-proxy", "spoofed"),
    ("x-inf-trace", "t1"),
    ("x-api-version", "2"),
    ("x-client-source", "inference-sdk-js/0.5.13"),
    ("content-type", "application/json"),
    ("content-length", "12"),
    ("accept", "application/x-ndjson"),
    ("accept-encoding", "gzip, br"),
    ("user-agent", "Mozilla/5.0"),
]


def test_only_protocol_headers_go_upstream_with_the_key() -> None:
    core = make_core()
    plan = core.plan("post", BROWSER_HEADERS, b"")
    sent = headers_of(core.outbound_headers(plan, KEY))
    assert sent == {
        "x-inf-trace": "t1",
        "x-api-version": "2",
        "x-client-source": "inference-sdk-js/0.5.13",
        "content-type": "application/json",
        "content-length": "12",
        "accept": "application/x-ndjson",
        "user-agent": "Mozilla/5.0",
        "accept-encoding": "identity",
        "authorization": f"Bearer {KEY}",
        "x-inf-proxy": core.proxy_id,
    }
    assert plan.method == "POST" and plan.has_body and plan.length == 12


def test_a_request_without_a_body_sends_no_body_headers() -> None:
    core = make_core()
    plan = core.plan("GET", [*BROWSER_HEADERS[:6]], b"")
    sent = headers_of(core.outbound_headers(plan, KEY))
    assert not plan.has_body
    assert "content-length" not in sent and "content-type" not in sent
    assert sent["accept"] == "application/json"
    assert sent["user-agent"] == core.proxy_id


def test_the_query_parameter_names_the_target_when_no_header_does() -> None:
    core = make_core()
    query = urllib.parse.urlencode({"__inf_target": "https://api.inference.sh/tasks/1/stream"})
    assert core.plan("GET", [], query.encode()).target == "https://api.inference.sh/tasks/1/stream"
    header = [("x-inf-target-url", "https://api.inference.sh/a")]
    assert core.plan("GET", header, query.encode()).target == "https://api.inference.sh/a"


def test_a_missing_target_is_a_bad_request() -> None:
    with pytest.raises(Refusal) as caught:
        make_core().plan("GET", [], b"")
    assert (caught.value.status, caught.value.code) == (400, "missing_target")


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "CONNECT", "PROPFIND"])
def test_other_methods_are_refused(method: str) -> None:
    target = [("x-inf-target-url", "https://api.inference.sh/")]
    with pytest.raises(Refusal) as caught:
        make_core().plan(method, target, b"")
    assert caught.value.status == 405


def test_a_declared_body_over_the_limit_is_refused_before_reading() -> None:
    headers = [("x-inf-target-url", "https://api.inference.sh/files"), ("content-length", "1001")]
    with pytest.raises(Refusal) as caught:
        make_core().plan("PUT", headers, b"")
    assert caught.value.status == 413


def test_meters_refuse_a_body_once_it_passes_the_limit() -> None:
    meter = make_core().request_meter()
    meter.add(600)
    meter.add(400)
    with pytest.raises(Refusal) as caught:
        meter.add(1)
    assert caught.value.status == 413
    assert make_core(max_request_bytes=None).request_meter().limit is None


def test_response_headers_lose_cookies_hop_by_hop_headers_and_the_key() -> None:
    core = make_core()
    upstream = [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"sid=1"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Connection", b"keep-alive"),
        (b"X-Echo", f"Bearer {KEY}".encode()),
        (b"X-Request-ID", b"req_1"),
    ]
    assert core.response_headers(upstream, KEY) == [
        ("content-type", "application/json"),
        ("x-request-id", "req_1"),
    ]


def test_a_declared_response_over_the_limit_is_refused() -> None:
    with pytest.raises(Refusal) as caught:
        make_core().response_headers([(b"content-length", b"2001")], KEY)
    assert (caught.value.status, caught.value.code) == (502, "response_too_large")


def test_the_scrubber_masks_the_key_even_across_chunks() -> None:
    scrubber = Scrubber(KEY)
    body = f'{{"echo": "Bearer {KEY}"}}\n'.encode()
    out = b"".join(scrubber.feed(body[i : i + 7]) for i in range(0, len(body), 7))
    out += scrubber.flush()
    assert len(out) == len(body) and KEY.encode() not in out
    assert out == body.replace(KEY.encode(), b"*" * len(KEY))


def test_the_scrubber_holds_nothing_back_at_a_line_end() -> None:
    scrubber = Scrubber(KEY)
    assert scrubber.feed(b'{"n": 1}\n') == b'{"n": 1}\n'
    assert scrubber.feed(b"data: inf_CO") == b"data: "  # might be the start of the key
    assert scrubber.feed(b"OL\n") == b"inf_COOL\n"


def test_the_key_callable_is_asked_per_request() -> None:
    keys = iter(["inf_first_key_1", "inf_second_key_2"])
    core = make_core(api_key=lambda: next(keys))
    assert core.api_key() == "inf_first_key_1"
    assert core.api_key() == "inf_second_key_2"


def test_a_failing_key_callable_is_a_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> str:
        raise RuntimeError(f"vault said {KEY}")

    with pytest.raises(Refusal) as caught:
        make_core(api_key=broken).api_key()
    assert caught.value.status == 500 and KEY not in caught.value.detail
    assert KEY not in caplog.text


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_API_KEY", "inf_from_env_42")
    assert make_core(api_key=None).api_key() == "inf_from_env_42"
    monkeypatch.delenv("INFERENCE_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="INFERENCE_API_KEY"):
        make_core(api_key=None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"allowed_urls": "http://127.0.0.1:8123"}, "allowed_urls must be a list"),
        ({"allowed_urls": ["http://user@127.0.0.1:8123"]}, "user info"),
        ({"allowed_urls": ["http://127.0.0.1:8123/?q=1"]}, "query or fragment"),
        ({"allowed_urls": ["127.0.0.1:8123"]}, "absolute http"),
        ({"allowed_urls": [8123]}, "allowed_urls entry must be an http"),
        ({"base_url": "ftp://api.inference.sh"}, "base_url"),
        ({"max_request_bytes": -1}, "max_request_bytes must be an int >= 0"),
        ({"max_response_bytes": 1.5}, "max_response_bytes must be an int >= 0"),
        ({"api_key": 42}, "api_key must be a string or a callable"),
        ({"api_key": "  "}, "api_key is empty"),
    ],
)
def test_bad_configuration_is_refused_naming_the_option(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises((InvalidInputError, MissingAPIKeyError), match=message):
        make_core(**options)


def test_an_async_authorize_is_refused_by_the_wsgi_proxy() -> None:
    async def authorize(request: object) -> bool:
        return True

    with pytest.raises(InvalidInputError, match="authorize must be a plain function"):
        WSGIProxy(api_key=KEY, authorize=authorize)  # type: ignore[arg-type]
