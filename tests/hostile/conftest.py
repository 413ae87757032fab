"""Fixtures of the hostile-server suite: scripted servers, and clients of every kind."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from .harness import (
    APIS,
    SHORT,
    TRANSPORTS,
    Api,
    Client,
    Resolver,
    ScriptServer,
    Way,
    clients,
    servers,
)

MakeClient = Callable[..., Client]
StartServer = Callable[..., ScriptServer]
MakeApi = Callable[..., Api]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    yield from servers()


@pytest.fixture(params=TRANSPORTS)
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[MakeClient]:
    async for make in clients(str(request.param)):
        yield make


@pytest.fixture
async def make_async_client() -> AsyncIterator[MakeClient]:
    async for make in clients("async"):
        yield make


@pytest.fixture(params=APIS)
async def make_api(request: pytest.FixtureRequest) -> AsyncIterator[MakeApi]:
    made: list[Api] = []

    def make(base_url: str, **options: Any) -> Api:
        api = Api(str(request.param), base_url, **options)
        made.append(api)
        return api

    yield make
    for api in made:
        await api.aclose()


@pytest.fixture(params=TRANSPORTS + APIS)
async def way(request: pytest.FixtureRequest) -> AsyncIterator[Way]:
    """Every way in: our two transports, and the two clients on them."""
    made = Way(str(request.param), timeout=SHORT)
    yield made
    await made.aclose()


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """Test names (``*.test``) resolve to 127.0.0.1 for this test (sync and asyncio alike:
    both ask ``socket.getaddrinfo``)."""
    made = Resolver(["api.test", "other.test", "xn--fa-hia.test", "fass.test"])
    monkeypatch.setattr(socket, "getaddrinfo", made)
    return made


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy from the environment (a test may set one): the clients use our transport."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch
