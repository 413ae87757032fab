"""Fixtures of the agent tests: the scripted chat server and agents of both clients.

Scenarios are written once, as coroutines; the sync agent is wrapped so that its methods can
be awaited (they still run blocking, on the test's thread).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from inferencesh import AsyncInference, Inference

from .chat_server import ChatServer

MODES = ["sync", "async"]


class Awaitable:
    """The sync agent with awaitable methods, so one scenario drives both agents."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.agent, name)
        if not callable(value) or name == "reset":  # reset() does no I/O: sync in both
            return value

        async def method(*args: Any, **kwargs: Any) -> Any:
            return value(*args, **kwargs)

        return method


@pytest.fixture
def server() -> Iterator[Callable[..., ChatServer]]:
    servers: list[ChatServer] = []

    def start(**options: Any) -> ChatServer:
        server = ChatServer(**options).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_agent(mode: str) -> AsyncIterator[Callable[..., Any]]:
    """``make_agent(base_url, spec, **options)``: an agent of the client under test."""
    clients: list[Any] = []

    def make(base_url: str, spec: Any, context: Any = None, **options: Any) -> Any:
        options.setdefault("reconnect_delay_ms", 0)
        # Strict: the servers here are our own, and drift from the schema should fail.
        if mode == "sync":
            client: Any = Inference(api_key="inf_test", base_url=base_url, strict_responses=True)
            clients.append(client)
            return Awaitable(client.agent(spec, context, **options))
        client = AsyncInference(api_key="inf_test", base_url=base_url, strict_responses=True)
        clients.append(client)
        return client.agent(spec, context, **options)

    yield make
    for client in clients:
        result = client.close()
        if inspect.isawaitable(result):
            await result
