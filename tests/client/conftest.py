"""Fixtures of the client tests: the local runtime, fault servers, request-recording clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from inferencesh import AsyncInference, Inference

from .fault_server import FaultServer, Handler

CANARY_KEY = "inf_CANARY_7f3b9c2e1d5a"


@pytest.fixture(scope="session")
def runtime() -> Iterator[Any]:
    from inferencesh.local import LocalRuntime

    with LocalRuntime(port=0, heartbeat_interval=0.2) as rt:
        yield rt


# Clients of our own runtime read strictly, so that drift between the runtime and the schema
# fails a test instead of being read as zero values.


@pytest.fixture
def client(runtime: Any) -> Iterator[Inference]:
    with Inference(api_key="inf_local", base_url=runtime.base_url, strict_responses=True) as c:
        yield c


@pytest.fixture
async def aclient(runtime: Any) -> Any:
    async with AsyncInference(
        api_key="inf_local", base_url=runtime.base_url, strict_responses=True
    ) as c:
        yield c


@pytest.fixture
def fault() -> Iterator[Callable[[Handler], FaultServer]]:
    """Start fault servers with a handler; all are stopped after the test."""
    servers: list[FaultServer] = []

    def start(handler: Handler) -> FaultServer:
        server = FaultServer(handler).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


class Recorder:
    """An httpx mock transport that records requests; used to prove nothing was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500, json={"detail": "no request was expected"})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def offline(recorder: Recorder) -> Iterator[Inference]:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    with Inference(api_key="inf_test", base_url="http://127.0.0.1:9", http_client=http) as c:
        yield c
    http.close()


@pytest.fixture
async def aoffline(recorder: Recorder) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    async with AsyncInference(
        api_key="inf_test", base_url="http://127.0.0.1:9", http_client=http
    ) as c:
        yield c
    await http.aclose()
