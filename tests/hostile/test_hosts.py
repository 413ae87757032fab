"""Where a request goes: internationalised host names (one A-label for DNS, TLS and ``Host:``),
IPv6 literals, and proxies from the environment (with ``NO_PROXY``).

Test names resolve to 127.0.0.1 through the ``resolver`` fixture, which sees exactly the name a
client hands to ``socket.getaddrinfo``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from .conftest import MakeApi, MakeClient, StartServer
from .harness import Conn, Request, Resolver, serve, task_response


def seen(request: Request) -> bytes:
    return task_response("t1", output={"target": request.target, "host": request.headers["host"]})


# IDNA: faß.test is xn--fa-hia.test under IDNA 2008 (and UTS 46), fass.test under IDNA 2003.


@pytest.mark.parametrize("host", ["faß.test", "FAß.test", "xn--fa-hia.test"])
async def test_an_idna_host_is_resolved_and_sent_as_its_a_label(
    make_client: MakeClient, start_server: StartServer, resolver: Resolver, host: str
) -> None:
    server = start_server(serve(seen))
    answer = await make_client().get(server.url("/tasks/t1", host=host))
    assert answer.json()["output"]["host"] == f"xn--fa-hia.test:{server.port}"
    assert resolver.asked == ["xn--fa-hia.test"]


async def test_the_clients_reach_an_idna_base_url_by_its_a_label(
    make_api: MakeApi, start_server: StartServer, resolver: Resolver
) -> None:
    server = start_server(serve(seen))
    task = await make_api(f"http://faß.test:{server.port}").get_task()
    assert task.output["host"] == f"xn--fa-hia.test:{server.port}"
    assert set(resolver.asked) == {"xn--fa-hia.test"}


# IPv6.


@pytest.fixture
def ipv6_loopback() -> Iterator[None]:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here ({exc})")
    yield


async def test_an_ipv6_literal_host(
    make_client: MakeClient, start_server: StartServer, ipv6_loopback: None
) -> None:
    server = start_server(serve(seen), host="::1")
    client = make_client()
    assert server.url().startswith("http://[::1]:")
    answer = await client.get(server.url("/tasks/t1?x=1"))
    assert answer.json()["output"] == {"target": "/tasks/t1?x=1", "host": f"[::1]:{server.port}"}
    await client.get(server.url("/tasks/t1"))
    assert server.accepted == 1  # pooled under the same origin


async def test_the_clients_reach_an_ipv6_base_url(
    make_api: MakeApi, start_server: StartServer, ipv6_loopback: None
) -> None:
    server = start_server(serve(seen), host="::1")
    task = await make_api(server.url("")).get_task()
    assert task.output["host"] == f"[::1]:{server.port}"


# Proxies from the environment: the clients hand such requests to httpx's own transport, which
# applies them (and NO_PROXY). Our transport speaks to origins only.


def proxy(conn: Conn) -> None:
    """A forward proxy that answers itself: what proves the route is the absolute-form target."""
    while (request := conn.read_request()) is not None:
        conn.send(task_response("via-proxy", output={"target": request.target}))


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_proxy_from_the_environment_carries_the_requests(
    make_api: MakeApi,
    start_server: StartServer,
    no_proxies: pytest.MonkeyPatch,
    variable: str,
) -> None:
    via = start_server(proxy)
    origin = start_server(serve(seen))
    no_proxies.setenv(variable, via.url(""))
    task = await make_api(origin.url("")).get_task()
    assert task.id == "via-proxy"
    assert task.output == {"target": f"{origin.url('/tasks/t1')}"}
    assert origin.accepted == 0


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1"])
async def test_no_proxy_sends_the_requests_straight_to_the_origin(
    make_api: MakeApi,
    start_server: StartServer,
    no_proxies: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    via = start_server(proxy)
    origin = start_server(serve(seen))
    no_proxies.setenv("HTTP_PROXY", via.url(""))
    no_proxies.setenv("NO_PROXY", no_proxy)
    task = await make_api(origin.url("")).get_task()
    assert task.output == {"target": "/tasks/t1", "host": f"127.0.0.1:{origin.port}"}
    assert via.accepted == 0


async def test_a_proxy_for_https_only_leaves_http_requests_alone(
    make_api: MakeApi, start_server: StartServer, no_proxies: pytest.MonkeyPatch
) -> None:
    via = start_server(proxy)
    origin = start_server(serve(seen))
    no_proxies.setenv("HTTPS_PROXY", via.url(""))
    task = await make_api(origin.url("")).get_task()
    assert task.output["target"] == "/tasks/t1"
    assert via.accepted == 0
