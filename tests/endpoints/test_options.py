"""Per-call options and raw responses, on both clients, against a loopback server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.endpoints._loopback import Answer, Loopback, Seen, envelope
from tests.endpoints._spec import operation_for, operations, sample_payload

from inferencesh import (
    APITimeoutError,
    AsyncInference,
    Inference,
    NotFoundError,
    async_inference,
    inference,
)
from inferencesh._generated.models import AppSessionDTO, TaskDTO
from inferencesh._runtime.response import APIResponse


def payload_of(operation_id: str) -> Any:
    return sample_payload(next(op for op in operations() if op.operation_id == operation_id))


TASK = payload_of("tasks.get")


def task_server(seen: Seen) -> Answer:
    if seen.path.endswith("/missing"):
        return Answer(404, {"title": "Not Found", "status": 404}, {"x-request-id": "req-404"})
    data = sample_payload(operation_for(seen.method, seen.path))
    return envelope(data, **{"x-request-id": "req-7", "x-ratelimit-remaining": "41"})


@pytest.fixture
def server() -> Iterator[Loopback]:
    with Loopback(task_server) as srv:
        yield srv


@pytest.fixture
def client(server: Loopback) -> Iterator[Inference]:
    with inference(api_key="inf_test", base_url=server.base_url, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: Loopback) -> Any:
    async with async_inference(api_key="inf_test", base_url=server.base_url, max_retries=0) as c:
        yield c


def test_extra_headers_and_query_reach_the_server(client: Inference, server: Loopback) -> None:
    client.tasks.get("t1", extra_headers={"X-Trace": "abc"}, extra_query={"expand": "logs"})
    [seen] = server.seen
    assert seen.headers["x-trace"] == "abc"
    assert seen.query == {"expand": "logs"}
    assert seen.headers["authorization"] == "Bearer inf_test"


async def test_extra_headers_and_query_reach_the_server_async(
    aclient: AsyncInference, server: Loopback
) -> None:
    await aclient.tasks.get("t1", extra_headers={"X-Trace": "abc"}, extra_query={"n": 2})
    [seen] = server.seen
    assert (seen.headers["x-trace"], seen.query) == ("abc", {"n": "2"})


def test_extra_body_is_merged_over_the_fields(client: Inference, server: Loopback) -> None:
    client.tasks.create(
        {"app": "infsh/echo", "input": {"a": 1}},
        extra_body={"priority": "high", "input": {"b": 2}},
    )
    assert server.seen[0].json() == {"app": "infsh/echo", "input": {"b": 2}, "priority": "high"}


async def test_extra_body_without_a_body_sends_one(
    aclient: AsyncInference, server: Loopback
) -> None:
    await aclient.sessions.keepalive("s1", extra_body={"note": "x"})
    assert server.seen[0].json() == {"note": "x"}


def test_the_options_of_a_call_do_not_leak_into_the_next(
    client: Inference, server: Loopback
) -> None:
    client.tasks.get("t1", extra_headers={"X-Once": "1"}, extra_query={"q": "1"})
    client.tasks.get("t1")
    assert "x-once" not in server.seen[1].headers and server.seen[1].query == {}


def test_a_per_call_timeout_applies_to_that_call_only() -> None:
    gate = threading.Event()

    def held(seen: Seen) -> Answer:
        if seen.path.endswith("/slow"):
            return Answer(200, {"data": TASK}, hold=gate)
        return envelope(TASK)

    with (
        Loopback(held) as srv,
        Inference(api_key="inf_test", base_url=srv.base_url, max_retries=0, timeout=60) as client,
    ):
        with pytest.raises(APITimeoutError):
            client.tasks.get("slow", timeout=0.05)
        with pytest.raises(APITimeoutError):
            client.tasks.get("slow", timeout=httpx.Timeout(0.05))
        gate.set()
        assert isinstance(client.tasks.get("fast"), TaskDTO)


async def test_a_per_call_timeout_applies_async() -> None:
    gate = threading.Event()
    with Loopback(lambda seen: Answer(200, {"data": TASK}, hold=gate)) as srv:
        async with AsyncInference(
            api_key="inf_test", base_url=srv.base_url, max_retries=0, timeout=60
        ) as client:
            with pytest.raises(APITimeoutError):
                await client.tasks.get("slow", timeout=0.05)
        gate.set()


def test_raw_response_has_status_headers_request_id_and_the_value(client: Inference) -> None:
    raw = client.tasks.with_raw_response.get("t1")
    assert isinstance(raw, APIResponse)
    assert (raw.status_code, raw.request_id) == (200, "req-7")
    assert raw.headers["x-ratelimit-remaining"] == "41"
    assert isinstance(raw.parsed, TaskDTO) and raw.parse() is raw.parsed
    assert raw.http_response.json()["data"]["id"] == raw.parsed.id
    assert "req-7" in repr(raw)


async def test_raw_response_async(aclient: AsyncInference) -> None:
    raw = await aclient.tasks.with_raw_response.get("t1", extra_headers={"X-A": "1"})
    assert (raw.status_code, raw.request_id, type(raw.parsed)) == (200, "req-7", TaskDTO)


def test_raw_response_of_a_none_method(client: Inference, server: Loopback) -> None:
    server.handler = lambda seen: Answer(204, headers={"x-request-id": "req-204"})
    raw = client.sessions.with_raw_response.end("s1")
    assert (raw.status_code, raw.request_id, raw.parsed) == (204, "req-204", None)


def test_errors_are_raised_from_raw_calls_too(client: Inference) -> None:
    with pytest.raises(NotFoundError) as info:
        client.tasks.with_raw_response.get("missing")
    assert info.value.request_id == "req-404"


def test_hand_written_groups_have_raw_responses_of_their_generated_operations(
    client: Inference, server: Loopback
) -> None:
    server.handler = lambda seen: envelope(payload_of("sessions.list"))
    raw = client.sessions.with_raw_response.list()
    assert raw.status_code == 200 and isinstance(raw.parsed[0], AppSessionDTO)
    server.handler = task_server
    assert client.tasks.with_raw_response.create({"app": "a/b"}).status_code == 200
