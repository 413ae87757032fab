"""Envelopes, error mapping, retries and garbage responses, against a real socket."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from inferencesh import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    InternalServerError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequirementsNotMetError,
    SessionEndedError,
    SessionExpiredError,
    SessionNotFoundError,
    TaskFailedError,
)
from inferencesh._generated.sync.transport import Transport
from inferencesh._runtime.request import JSON, Call
from inferencesh._transport import TransportConfig

from .drive import MODES, call
from .fault_server import FaultServer, Handler, Reply, Request
from .wire import created, task, v3

Start = Callable[[Handler], FaultServer]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def get_task(c: Any) -> Any:
    return c.tasks.get("t1")


def run_nowait(c: Any) -> Any:
    return c.tasks.run({"app": "a/b", "input": {}}, wait=False)


# Envelopes.


@pytest.mark.parametrize(
    "body",
    [
        v3(task(status=10)),
        task(status=10),
        {"success": True, "status": 200, "data": task(status=10)},
    ],
    ids=["v3", "v2-bare", "v1"],
)
def test_all_three_envelopes_decode(mode: str, fault: Start, body: Any) -> None:
    server = fault(lambda r: Reply.json(body))
    result = call(mode, server.base_url, get_task)
    assert result.id == "t1" and result["status"] == 10


def test_a_dto_with_a_data_field_is_not_unwrapped(fault: Start) -> None:
    body = {"data": {"x": 1}, "id": "i"}
    server = fault(lambda r: Reply.json(body))
    transport = Transport(
        TransportConfig(api_key="k", base_url=server.base_url, timeout=5, max_retries=0)
    )
    assert transport.call(Call("GET", "/x", JSON), {}) == body
    transport.close()


def test_v1_failure_in_a_200_is_an_error(mode: str, fault: Start) -> None:
    body = {"success": False, "error": {"code": "not_found", "message": "no such task"}}
    server = fault(lambda r: Reply.json(body))
    with pytest.raises(NotFoundError, match="no such task"):
        call(mode, server.base_url, get_task, max_retries=0)


def test_v1_error_status_and_legacy_code(mode: str, fault: Start) -> None:
    body = {
        "success": False,
        "status": 410,
        "error": {"code": "SESSION_EXPIRED", "message": "gone"},
    }
    server = fault(lambda r: Reply.json(body, status=410))
    with pytest.raises(SessionExpiredError) as info:
        call(mode, server.base_url, lambda c: c.sessions.get("s1"), max_retries=0)
    assert info.value.status_code == 410 and info.value.code == "SESSION_EXPIRED"


# Errors.


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", AuthenticationError),
        (403, "requires_sign_in", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (409, "WORKER_LEASED", ConflictError),
        (404, "SESSION_NOT_FOUND", SessionNotFoundError),
        (410, "SESSION_EXPIRED", SessionExpiredError),
        (410, "SESSION_ENDED", SessionEndedError),
        (500, "internal_error", InternalServerError),
    ],
)
def test_problem_json_maps_to_the_exception_tree(
    mode: str, fault: Start, status: int, code: str, cls: type[Exception]
) -> None:
    server = fault(
        lambda r: Reply.problem(status, code, f"detail {code}", {"x-request-id": "req-9"})
    )
    with pytest.raises(cls) as info:
        call(mode, server.base_url, get_task, max_retries=0)
    error: Any = info.value
    assert error.status_code == status and error.code == code
    assert error.request_id == "req-9" and f"detail {code}" in str(error)
    assert error.body["detail"] == f"detail {code}"


def test_requirements_not_met_carries_typed_errors(mode: str, fault: Start) -> None:
    errors = [
        {
            "type": "secret",
            "key": "OPENAI_KEY",
            "message": "add the OPENAI_KEY secret",
            "action": {"type": "add_secret", "secrets": ["OPENAI_KEY"]},
        },
        {"type": "credential", "key": "google", "message": "connect google"},
    ]
    server = fault(lambda r: Reply.problem(412, "requirements_not_met", "missing", errors=errors))
    with pytest.raises(RequirementsNotMetError) as info:
        call(mode, server.base_url, run_nowait)
    assert str(info.value).endswith("add the OPENAI_KEY secret")
    first, second = info.value.errors
    assert (first.type, first.key, first["message"]) == (
        "secret",
        "OPENAI_KEY",
        "add the OPENAI_KEY secret",
    )
    assert first.action is not None and first.action.type == "add_secret"
    assert second.type == "credential"


def test_rate_limit_headers_are_readable_on_errors(mode: str, fault: Start) -> None:
    reset = int(time.time()) + 30
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset), "retry-after": "30"}
    server = fault(lambda r: Reply.problem(429, "rate_limited", "slow down", headers))
    with pytest.raises(RateLimitError) as info:
        call(mode, server.base_url, get_task, max_retries=0)
    limits = info.value.rate_limit
    assert (limits.remaining, limits.reset, limits.retry_after) == (0, float(reset), 30.0)


# Garbage.


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (
            Reply(
                status=502,
                headers={"content-type": "text/html"},
                body=b"<html><h1>502 Bad Gateway</h1></html>",
            ),
            InternalServerError,
        ),
        (
            Reply(
                status=200, headers={"content-type": "application/json"}, body=b'{"id": "t1", "sta'
            ),
            InvalidResponseError,
        ),
        (
            Reply(status=200, headers={"content-type": "text/html"}, body=b"<html>hello</html>"),
            InvalidResponseError,
        ),
        (
            Reply(status=200, headers={"content-type": "application/json"}, body=b""),
            InvalidResponseError,
        ),
        (Reply.json("t1"), InvalidResponseError),
        (Reply.json([1, 2]), InvalidResponseError),
        (Reply(raw=b'HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{"id"'), APIConnectionError),
        (Reply(raw=b"garbage\r\n\r\n"), APIConnectionError),
    ],
    ids=[
        "html-502",
        "truncated-json",
        "wrong-content-type",
        "empty-body",
        "wrong-shape",
        "list",
        "short-body",
        "not-http",
    ],
)
def test_garbage_responses_become_typed_errors(
    mode: str, fault: Start, reply: Reply, cls: type[Exception]
) -> None:
    server = fault(lambda r: reply)
    with pytest.raises(cls) as info:
        call(mode, server.base_url, get_task, max_retries=0)
    if isinstance(info.value, InternalServerError):
        assert info.value.status_code == 502 and "Bad Gateway" in str(info.value)


# Retries.


def flaky(*replies: Reply, then: Reply) -> Handler:
    queue = list(replies)
    return lambda r: queue.pop(0) if queue else then


def test_get_retries_429_with_retry_after(mode: str, fault: Start) -> None:
    server = fault(
        flaky(
            Reply.problem(429, "rate_limited", "wait", {"retry-after": "0"}),
            then=Reply.json(v3(task(status=10))),
        )
    )
    assert call(mode, server.base_url, get_task).status == 10
    assert server.count("GET", "/tasks/t1") == 2


def test_get_retries_503_and_502(mode: str, fault: Start) -> None:
    server = fault(
        flaky(
            Reply.problem(503, "app_maintenance", "later", {"retry-after": "0"}),
            Reply(status=502, body=b"bad gateway"),
            then=Reply.json(v3(task(status=10))),
        )
    )
    assert call(mode, server.base_url, get_task, max_retries=2).status == 10
    assert server.count("GET", "/tasks/t1") == 3


def test_retries_stop_after_max_retries(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply.problem(503, "unavailable", "down", {"retry-after": "0"}))
    with pytest.raises(InternalServerError):
        call(mode, server.base_url, get_task, max_retries=2)
    assert server.count("GET", "/tasks/t1") == 3


def test_a_retry_after_longer_than_the_limit_is_not_waited_for(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply.problem(429, "rate_limited", "later", {"retry-after": "3600"}))
    with pytest.raises(RateLimitError):
        call(mode, server.base_url, get_task)
    assert server.count("GET", "/tasks/t1") == 1


def test_run_is_not_retried_on_503(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply.problem(503, "unavailable", "down", {"retry-after": "0"}))
    with pytest.raises(InternalServerError):
        call(mode, server.base_url, run_nowait)
    assert server.count("POST", "/apps/run") == 1


def test_run_is_retried_on_429_which_creates_nothing(mode: str, fault: Start) -> None:
    server = fault(
        flaky(
            Reply.problem(429, "rate_limited", "wait", {"retry-after": "0"}),
            then=Reply.json(v3(created())),
        )
    )
    assert call(mode, server.base_url, run_nowait).id == "t1"
    assert server.count("POST", "/apps/run") == 2


def test_run_dropped_after_the_request_was_sent_is_not_retried(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply(drop=True))
    with pytest.raises(APIConnectionError):
        call(mode, server.base_url, run_nowait, max_retries=3)
    assert server.count("POST", "/apps/run") == 1


def test_get_dropped_after_the_request_was_sent_is_retried(mode: str, fault: Start) -> None:
    server = fault(flaky(Reply(drop=True), then=Reply.json(v3(task(status=10)))))
    assert call(mode, server.base_url, get_task).status == 10
    assert server.count("GET", "/tasks/t1") == 2


def test_run_slow_response_timeout_is_not_retried(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply.json(v3(created()), delay=1.0))
    with pytest.raises(APIConnectionError):
        call(
            mode, server.base_url, run_nowait, timeout=httpx.Timeout(10.0, read=0.3), max_retries=3
        )
    assert server.count("POST", "/apps/run") == 1


class RefuseFirst(httpx.BaseTransport):
    """Real HTTP, but the first ``n`` connects fail as refused (the request never left)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.n > 0:
            self.n -= 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.inner.handle_request(request)


class ARefuseFirst(httpx.AsyncBaseTransport):
    def __init__(self, n: int) -> None:
        self.n = n
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.n > 0:
            self.n -= 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self.inner.handle_async_request(request)


def test_run_is_retried_when_the_connection_was_refused(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply.json(v3(created())))
    http: Any = (
        httpx.Client(transport=RefuseFirst(2))
        if mode == "sync"
        else httpx.AsyncClient(transport=ARefuseFirst(2))
    )
    assert call(mode, server.base_url, run_nowait, http_client=http).id == "t1"
    assert server.count("POST", "/apps/run") == 1


def test_connection_refused_everywhere_raises_connection_error(mode: str) -> None:
    with pytest.raises(APIConnectionError) as info:
        call(mode, "http://127.0.0.1:9", run_nowait, max_retries=1)
    assert "POST /apps/run" in str(info.value)


# Task failures.


def test_waiting_on_a_failed_task_raises_task_failed_error(mode: str, fault: Start) -> None:
    def handler(r: Request) -> Reply:
        if r.path == "/apps/run":
            return Reply.json(v3(created()))
        if r.path == "/tasks/t1/stream":
            return Reply(
                headers={"content-type": "application/x-ndjson"},
                chunks=[
                    b'{"type":"heartbeat"}\n',
                    (__import__("json").dumps(task(status=11, error="boom")) + "\n").encode(),
                ],
            )
        return Reply.json(v3(task(status=11, error="boom")))

    server = fault(handler)
    with pytest.raises(RuntimeError, match="boom") as info:
        call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b", "input": {}}))
    assert isinstance(info.value, TaskFailedError)
    assert info.value.task_id == "t1" and info.value.task.error == "boom"
