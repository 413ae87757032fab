"""Fixtures of the proxy tests: a local runtime that only takes the proxy's key, the proxy served
by uvicorn (ASGI) or wsgiref (WSGI) in front of it, and a scriptable upstream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inferencesh.local import LocalRuntime
from inferencesh.proxy import PROXY_PATH, ASGIProxy, WSGIProxy

from .servers import ASGIServer, WSGIServerThread
from .upstream import Upstream

# The backend's key: the runtime accepts nothing else, so a request only works through the proxy.
PROXY_KEY = "inf_PROXYCANARY_5d1e8f7a2b9c"

MakeProxy = Callable[..., str]


@pytest.fixture(scope="session")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(api_key=PROXY_KEY, heartbeat_interval=0.2, agent_token_delay=0.0) as rt:
        yield rt


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    server = ASGIServer(up)
    up.url = server.url
    yield up
    up.release()
    server.stop()


@pytest.fixture
def make_proxy(runtime: LocalRuntime) -> Iterator[MakeProxy]:
    """Start a proxy (``"asgi"`` or ``"wsgi"``) and return its URL; stopped after the test."""
    servers: list[ASGIServer | WSGIServerThread] = []
    proxies: list[WSGIProxy] = []

    def make(kind: str, **options: Any) -> str:
        options.setdefault("api_key", PROXY_KEY)
        options.setdefault("allowed_urls", [runtime.base_url])
        server: ASGIServer | WSGIServerThread
        if kind == "asgi":
            server = ASGIServer(ASGIProxy(**options), lifespan="on")
        else:
            proxy = WSGIProxy(**options)
            proxies.append(proxy)
            server = WSGIServerThread(proxy)
        servers.append(server)
        return server.url + PROXY_PATH

    yield make
    for server in servers:
        server.stop()
    for proxy in proxies:
        proxy.close()


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def proxy_url(kind: str, make_proxy: MakeProxy) -> str:
    """The URL of a proxy of each kind in front of the runtime, with default options."""
    return make_proxy(kind)
