"""The HTTP/1.1 transport alone: our h11-based transport against httpx's default one (httpcore,
also on h11) and, for a burst, aiohttp; every figure is a ratio measured in the same run.

    .venv/bin/python bench/bench_transport.py [calls|burst|chunks ...]

- calls: 2000 sequential ``post().json()`` on an ``httpx.Client``, our transport vs the default
  (the same httpx API above both, so the ratio is the transport's).
- burst: 1000 concurrent POSTs from a fresh client: our async transport (handed the requests
  directly, at most 8 in flight, as the inferencesh client does) vs aiohttp (a bench-only
  dependency, skipped when it is not installed; its default 100 connections). httpx's default
  async client is left out: it takes tens of seconds here (encode/httpx#3215).
- chunks: a 20000-chunk NDJSON stream (one line per HTTP chunk, the costliest shape per byte)
  read with ``iter_raw``: chunks per second, ours vs the default transport.

Medians of 5 interleaved runs; the server (bench/_client_server.py) runs in its own process.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from bench_client import KEY, RUN, server
from inferencesh._http11 import HTTP11Transport
from inferencesh._http11_async import AsyncHTTP11Transport

RUNS = 5
BODY = json.dumps(RUN).encode()
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def median_pair(ours: Callable[[], float], raw: Callable[[], float]) -> tuple[float, float]:
    ours(), raw()  # warm up pools and caches
    o, r = [], []
    for _ in range(RUNS):  # interleaved, so machine noise hits both sides alike
        o.append(ours())
        r.append(raw())
    return statistics.median(o), statistics.median(r)


def bench_calls(results: dict[str, Any], base: str, n: int = 2000) -> None:
    def run(client: httpx.Client) -> Callable[[], float]:
        def once() -> float:
            t = time.perf_counter()
            for _ in range(n):
                client.post(f"{base}/apps/run", content=BODY, headers=HEADERS).json()
            return time.perf_counter() - t

        return once

    with httpx.Client(transport=HTTP11Transport()) as ours, httpx.Client() as raw:
        o, r = median_pair(run(ours), run(raw))
    results["calls"] = {
        "ours_us_per_call": o / n * 1e6,
        "httpx_default_us_per_call": r / n * 1e6,
        "ratio": o / r,
    }


def bench_burst(results: dict[str, Any], base: str, n: int = 1000) -> None:
    async def ours() -> float:
        # As the inferencesh client runs it: at most 8 requests in flight (its default
        # max_concurrency), the rest queued on a semaphore.
        transport = AsyncHTTP11Transport(max_keepalive_connections=8)
        client = httpx.AsyncClient(transport=transport)
        url = f"{base}/apps/run"
        limiter = asyncio.Semaphore(8)

        async def one() -> None:
            request = client.build_request("POST", url, content=BODY, headers=HEADERS)
            async with limiter:
                response = await transport.handle_async_request(request)
                await response.aread()
            json.loads(response.content)

        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        elapsed = time.perf_counter() - t
        await client.aclose()
        return elapsed

    def timed(make: Callable[[], Coroutine[Any, Any, float]]) -> Callable[[], float]:
        return lambda: asyncio.run(make())

    figures: dict[str, Any] = {"runs": n}
    try:
        import aiohttp
    except ImportError:
        figures["aiohttp"] = "not installed (pip install aiohttp)"
    else:

        async def raw_aiohttp() -> float:
            async with aiohttp.ClientSession() as session:
                t = time.perf_counter()

                async def one() -> None:
                    async with session.post(
                        f"{base}/apps/run", data=BODY, headers=HEADERS
                    ) as response:
                        await response.json()

                await asyncio.gather(*(one() for _ in range(n)))
                return time.perf_counter() - t

        o, a = median_pair(timed(ours), timed(raw_aiohttp))
        figures.update({"ours_s": o, "aiohttp_s": a, "ratio": o / a})
    results["burst"] = figures


def bench_chunks(results: dict[str, Any], base: str, n: int = 20000) -> None:
    url = f"{base}/tasks/status-{n}/stream"

    def run(client: httpx.Client) -> Callable[[], float]:
        def once() -> float:
            t = time.perf_counter()
            with client.stream("GET", url) as response:
                size = sum(len(piece) for piece in response.iter_raw())
            assert size > n
            return time.perf_counter() - t

        return once

    with httpx.Client(transport=HTTP11Transport()) as ours, httpx.Client() as raw:
        o, r = median_pair(run(ours), run(raw))
    results["chunks"] = {
        "ours_chunks_per_s": (n + 2) / o,
        "httpx_default_chunks_per_s": (n + 2) / r,
        "ratio": r / o,
    }


def main(argv: list[str]) -> None:
    which = argv or ["calls", "burst", "chunks"]
    results: dict[str, Any] = {}
    with server() as base:
        if "calls" in which:
            bench_calls(results, base)
        if "burst" in which:
            bench_burst(results, base)
        if "chunks" in which:
            bench_chunks(results, base)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
