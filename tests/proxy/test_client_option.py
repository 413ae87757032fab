"""``proxy_url=`` on the clients: what is refused, and the shape of what is sent (recorded by an
httpx mock transport in place of the network)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import httpx
import pytest

from inferencesh import (
    AsyncInference,
    Inference,
    InvalidInputError,
    InvalidResponseError,
    async_inference,
    inference,
)

PROXY = "http://127.0.0.1:9/api/inference/proxy"
BASE = "http://127.0.0.1:8/v1"
UPLOAD_URL = "http://127.0.0.2:7/bucket/f1?signature=abc"
STAMP = "2024-01-01T00:00:00Z"
FILE_RECORD = {
    **{"id": "f1", "short_id": "f1", "team_id": "t", "user_id": "u", "visibility": "private"},
    **{"created_at": STAMP, "updated_at": STAMP, "category": "", "rating": "unrated"},
    **{"content_type": "application/octet-stream", "filename": "file", "size": 10},
    **{"path": "f1", "remote_path": "f1", "uri": "https://cloud.inference.sh/f1"},
    "upload_url": UPLOAD_URL,
}


def answer(request: httpx.Request) -> httpx.Response:
    if request.method == "PUT":
        return httpx.Response(200)
    target = request.headers.get("x-inf-target-url", "")
    if target.endswith("/files"):
        return httpx.Response(200, json=[FILE_RECORD])
    return httpx.Response(200, json={})


def recording() -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answer(request)

    return requests, handler


@pytest.mark.parametrize("factory", [inference, async_inference, Inference, AsyncInference])
def test_proxy_url_and_api_key_exclude_each_other(factory: Callable[..., object]) -> None:
    with pytest.raises(InvalidInputError, match="api_key or proxy_url, not both"):
        factory(api_key="inf_x", proxy_url=PROXY)


@pytest.mark.parametrize(
    "bad",
    ["/api/inference/proxy", "ws://127.0.0.1:9/p", "http://user:pw@127.0.0.1:9/p", "http://", 42],
)
def test_a_proxy_url_that_is_not_an_absolute_http_url_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="proxy_url"):
        Inference(proxy_url=bad)  # type: ignore[arg-type]


def test_no_key_is_needed_or_read_in_proxy_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_API_KEY", "inf_ENV_KEY_never_sent")
    requests, handler = recording()
    http = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        Inference(proxy_url=PROXY, base_url=BASE, http_client=http) as client,
        contextlib.suppress(InvalidResponseError),  # the recorded request is what counts
    ):
        client.tasks.get("t1")
    (sent,) = requests
    assert str(sent.url) == PROXY and sent.method == "GET"
    assert sent.headers["x-inf-target-url"] == f"{BASE}/tasks/t1"
    assert sent.headers["host"] == "127.0.0.1:9"
    assert "authorization" not in sent.headers
    assert "inf_ENV_KEY_never_sent" not in str(sent.headers.raw)


async def test_api_calls_go_through_the_proxy_and_presigned_uploads_go_direct() -> None:
    requests, handler = recording()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with AsyncInference(proxy_url=PROXY, base_url=BASE, http_client=http) as client:
        record = await client.files.upload(b"some bytes")
    assert record.uri == "https://cloud.inference.sh/f1"
    create, put = requests
    assert str(create.url) == PROXY and create.headers["x-inf-target-url"] == f"{BASE}/files"
    assert json.loads(create.content)["files"][0]["size"] == len(b"some bytes")
    # The presigned URL is on another host: sent there directly, with no proxy header or key.
    assert str(put.url) == UPLOAD_URL and put.method == "PUT"
    assert "x-inf-target-url" not in put.headers and "authorization" not in put.headers


def test_uploads_to_the_api_itself_go_through_the_proxy_with_the_client_headers() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.headers.get("x-inf-target-url") == f"{BASE}/files":
            return httpx.Response(200, json=[{**FILE_RECORD, "upload_url": f"{BASE}/up/f1"}])
        return httpx.Response(200)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    user = {"x-app-user": "ada"}
    with Inference(proxy_url=PROXY, base_url=BASE, headers=user, http_client=http) as client:
        client.files.upload(b"0123456789")
    put = requests[1]
    assert str(put.url) == PROXY and put.method == "PUT"
    assert put.headers["x-inf-target-url"] == f"{BASE}/up/f1"
    assert put.headers["x-app-user"] == "ada" and put.headers["content-length"] == "10"
    assert put.headers["host"] == "127.0.0.1:9"


def test_query_parameters_travel_inside_the_target() -> None:
    requests, handler = recording()
    http = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        Inference(proxy_url=PROXY, base_url=BASE, http_client=http) as client,
        contextlib.suppress(InvalidResponseError),
    ):
        client.chats.list_messages("c1", limit=5)
    (sent,) = requests
    assert str(sent.url) == PROXY
    assert sent.headers["x-inf-target-url"] == f"{BASE}/chats/c1/messages?limit=5"
