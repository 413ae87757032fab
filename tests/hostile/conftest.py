"""Fixtures of the hostile-server suite: scripted servers, and clients of every kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from .harness import APIS, TRANSPORTS, Api, Client, ScriptServer, clients, servers

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
