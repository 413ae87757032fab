"""A FastAPI backend that lets a browser app use the API without holding the key.

python examples/proxy_fastapi.py

The backend serves ``inferencesh.proxy.ASGIProxy`` at ``/api/inference/proxy``; the browser uses
``inference({ proxyUrl: "/api/inference/proxy" })`` (JS SDK). Here our own async client plays the
browser with ``proxy_url=`` and no key.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import uvicorn
from _env import api
from fastapi import FastAPI
from starlette.routing import Route

from inferencesh import AuthenticationError, async_inference
from inferencesh.proxy import PROXY_PATH, ASGIProxy, ProxyRequest


def signed_in(request: ProxyRequest) -> bool:
    """Your own session check goes here; the demo accepts one cookie value."""
    return request.cookies.get("session") == "demo-user"


def create_app(base_url: str, api_key: str) -> FastAPI:
    app = FastAPI()
    # The key defaults to INFERENCE_API_KEY; only base_url and *.inference.sh are reachable.
    proxy = ASGIProxy(api_key=api_key, base_url=base_url, authorize=signed_in)
    app.router.routes.append(Route(PROXY_PATH, proxy))  # the exact path, every method
    return app


async def browser(proxy_url: str, base_url: str) -> None:
    try:
        async with async_inference(proxy_url=proxy_url, base_url=base_url) as anonymous:
            await anonymous.tasks.run({"app": "infsh/echo", "input": {}})
    except AuthenticationError as exc:
        print(f"signed out: {exc.status_code} {exc.code}")

    cookie = {"Cookie": "session=demo-user"}
    async with async_inference(proxy_url=proxy_url, base_url=base_url, headers=cookie) as client:
        result = await client.tasks.run({"app": "infsh/echo", "input": {"text": "via fastapi"}})
        print(f"run: {result['output']}")
        stream = await client.tasks.run(
            {"app": "infsh/stream", "input": {"text": "a b c"}}, stream=True
        )
        words = [update["output"]["response"] async for update in stream if update.get("output")]
        print(f"stream: {words[-1]!r}")

    # The proxy forwards to the configured API only: anything else is refused.
    async with httpx.AsyncClient(headers=cookie) as http:
        refused = await http.get(proxy_url, headers={"x-inf-target-url": "http://127.0.0.1:1/"})
        print(f"elsewhere: {refused.status_code} {refused.json()['code']}")


def main() -> None:
    with api() as (base_url, key):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(base_url, key), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        try:
            port = sock.getsockname()[1]
            asyncio.run(browser(f"http://127.0.0.1:{port}{PROXY_PATH}", base_url))
        finally:
            server.should_exit = True
            thread.join()


if __name__ == "__main__":
    main()
