"""Client benchmarks: each figure is a ratio against a raw client measured in the same run.

    .venv/bin/python bench/bench_client.py [import|calls|streams|upload|burst|bounds ...] [--runs 5]

The server (bench/_client_server.py) runs in its own process and answers from prebuilt bytes,
so both sides of every ratio pay the same server cost. Streams are served in two shapes: one
NDJSON line per HTTP chunk (a server that flushes every line) and 256 lines per chunk (a busy
server, a proxy, a real network). Every figure is the median of ``--runs`` runs (at least 5),
the two sides interleaved so that other load on the machine hits both alike. The burst compares
against raw aiohttp (the ``bench`` extra); everything else against raw httpx. Only the public
client API is called, so the figures hold for whichever transport the client runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
PY = sys.executable
KEY = "inf_bench"
RUN = {"app": "infsh/echo", "input": {"key": "value"}}
HEADERS = {"Authorization": f"Bearer {KEY}"}
BENCHES = ("import", "calls", "streams", "upload", "burst")
SHAPES = {"one line per chunk": 1, "256 lines per chunk": 256}
# (stream kind, lines per chunk) -> target throughput ratio against raw httpx
STREAM_TARGETS = {
    ("status", 1): 1.0,
    ("status", 256): 0.8,
    ("delta", 1): 0.8,
    ("delta", 256): 0.6,
}


@contextmanager
def server(delay_ms: int = 0) -> Iterator[str]:
    proc = subprocess.Popen(
        [PY, str(HERE / "_client_server.py"), str(delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    port = int(proc.stdout.readline())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        proc.wait(10)


def interleaved(
    raw: Callable[[], float], ours: Callable[[], float], runs: int
) -> tuple[list[float], list[float]]:
    """Run both sides once to warm up, then ``runs`` times each, alternating."""
    raw(), ours()
    raw_times: list[float] = []
    our_times: list[float] = []
    for _ in range(runs):
        raw_times.append(raw())
        our_times.append(ours())
    return raw_times, our_times


def interleaved_all(sides: tuple[Callable[[], float], ...], runs: int) -> list[list[float]]:
    """Like ``interleaved``, for any number of sides."""
    for side in sides:
        side()
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(runs):
        for side, taken in zip(sides, times, strict=True):
            taken.append(side())
    return times


def bench_import(results: dict[str, Any], runs: int) -> None:
    # With bytecode caches, as after any install: an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would otherwise compile our sources on every import.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once(code: str) -> float:
        out = subprocess.run(
            [PY, "-c", f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return float(out.stdout)

    raw_times, our_times = interleaved(
        lambda: once("import httpx, pydantic"),
        lambda: once("import inferencesh; inferencesh.inference"),
        max(runs, 15),
    )
    r, o = statistics.median(raw_times), statistics.median(our_times)
    results["import"] = {"raw_ms": r * 1e3, "ours_ms": o * 1e3, "ratio": o / r, "target": "<= 1.15"}


def bench_calls(results: dict[str, Any], base: str, runs: int, n: int = 2000) -> None:
    from inferencesh import inference

    raw_client = httpx.Client()
    client = inference(api_key=KEY, base_url=base)

    def raw() -> float:
        t = time.perf_counter()
        for _ in range(n):
            raw_client.post(f"{base}/apps/run", json=RUN, headers=HEADERS).json()
        return time.perf_counter() - t

    def ours() -> float:
        t = time.perf_counter()
        for _ in range(n):
            client.tasks.run(RUN, wait=False)
        return time.perf_counter() - t

    raw_times, our_times = interleaved(raw, ours, runs)
    r, o = statistics.median(raw_times), statistics.median(our_times)
    results["calls"] = {
        "raw_httpx_us_per_call": r / n * 1e6,
        "ours_us_per_call": o / n * 1e6,
        "ratio": o / r,
        "target": "<= 0.8 (time)",
    }
    client.close()
    raw_client.close()


def bench_streams(results: dict[str, Any], base: str, runs: int, n: int = 20000) -> None:
    from inferencesh import inference

    raw_client = httpx.Client()
    client = inference(api_key=KEY, base_url=base)
    for (kind, per_chunk), target in STREAM_TARGETS.items():
        task_id = f"{kind}-{n}-{per_chunk}"

        def raw(task_id: str = task_id) -> float:
            t = time.perf_counter()
            count = 0
            with raw_client.stream(
                "GET",
                f"{base}/tasks/{task_id}/stream",
                headers={"Accept": "application/x-ndjson", **HEADERS},
            ) as response:
                for line in response.iter_lines():
                    if line:
                        json.loads(line)
                        count += 1
            assert count == n + 2
            return time.perf_counter() - t

        def ours(task_id: str = task_id) -> float:
            t = time.perf_counter()
            count = 0
            with client.tasks.stream(task_id) as stream:
                for _ in stream:
                    count += 1
            assert count >= n, count
            return time.perf_counter() - t

        def ours_read(task_id: str = task_id) -> float:
            # A consumer that reads every update (so each is built), as most do.
            t = time.perf_counter()
            count = 0
            with client.tasks.stream(task_id) as stream:
                for update in stream:
                    update.status  # noqa: B018
                    update.output  # noqa: B018
                    count += 1
            assert count >= n, count
            return time.perf_counter() - t

        raw_times, our_times, read_times = interleaved_all((raw, ours, ours_read), runs)
        r, o = statistics.median(raw_times), statistics.median(our_times)
        shape = next(name for name, size in SHAPES.items() if size == per_chunk)
        results[f"stream_{kind}, {shape}"] = {
            "raw_httpx_updates_per_s": (n + 2) / r,
            "ours_updates_per_s": (n + 2) / o,
            "ratio": r / o,
            "target": f">= {target} (throughput)",
            "ratio_reading_each_update": r / statistics.median(read_times),
        }
    client.close()
    raw_client.close()


UPLOAD_SCRIPT = """
import resource, sys
from inferencesh import inference
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
c = inference(api_key="inf_bench", base_url=sys.argv[1])
c.files.upload(b"warm up")
before = rss()
c.files.upload(sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((peak - before) / 1024)
"""


def bench_upload(results: dict[str, Any], base: str, runs: int, mib: int = 512) -> None:
    growth: list[float] = []
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.bin")
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(block)
        for _ in range(runs):
            t = time.perf_counter()
            out = subprocess.run(
                [PY, "-c", UPLOAD_SCRIPT, base, path], capture_output=True, text=True, check=True
            )
            seconds.append(time.perf_counter() - t)
            growth.append(float(out.stdout))
    results["upload"] = {
        "size_mib": mib,
        "peak_rss_growth_mib": statistics.median(growth),
        "peak_rss_growth_mib_max": max(growth),
        "seconds": statistics.median(seconds),
        "target": "<= 16 MiB",
    }


def _bursts(
    base: str, runs: int, bounds: tuple[int | None, ...], n: int = 1000
) -> tuple[list[float], list[list[float]]]:
    """Seconds for ``n`` concurrent POSTs with raw aiohttp, and for ``n`` concurrent
    ``tasks.run(wait=False)`` on a fresh async client with each ``max_concurrency`` in
    ``bounds`` (``None``: the client's default), interleaved."""
    import aiohttp

    from inferencesh import async_inference
    from inferencesh._transport import DEFAULT_MAX_CONCURRENCY

    async def ours(bound: int | None) -> float:
        limit = DEFAULT_MAX_CONCURRENCY if bound is None else bound
        async with async_inference(api_key=KEY, base_url=base, max_concurrency=limit) as client:
            t = time.perf_counter()
            await asyncio.gather(*(client.tasks.run(RUN, wait=False) for _ in range(n)))
            return time.perf_counter() - t

    async def raw() -> float:
        async with aiohttp.ClientSession() as session:

            async def one() -> Any:
                async with session.post(f"{base}/apps/run", json=RUN, headers=HEADERS) as r:
                    return await r.json()

            t = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - t

    def side(bound: int | None) -> Callable[[], float]:
        return lambda: asyncio.run(ours(bound))

    sides = (lambda: asyncio.run(raw()), *(side(bound) for bound in bounds))
    raw_times, *our_times = interleaved_all(sides, runs)
    return raw_times, our_times


def bench_burst(results: dict[str, Any], base: str, runs: int, n: int = 1000) -> None:
    raw_times, (our_times,) = _bursts(base, runs, (None,), n)
    r, o = statistics.median(raw_times), statistics.median(our_times)
    results["burst"] = {
        "runs": n,
        "raw_aiohttp_s": r,
        "ours_s": o,
        "ratio": o / r,
        "target": "<= 1.5 (time)",
    }


BOUNDS = (8, 16, 32, 64, 100)


def bench_bounds(results: dict[str, Any], runs: int) -> None:
    """The burst for each ``max_concurrency`` in ``BOUNDS``: on loopback, and against a
    server that answers 20 ms late (aiohttp opens up to 100 connections)."""
    for delay_ms in (0, 20):
        with server(delay_ms) as base:
            raw_times, our_times = _bursts(base, runs, BOUNDS)
        r = statistics.median(raw_times)
        results[f"bounds, server answering after {delay_ms} ms"] = {
            "raw_aiohttp_s": r,
            **{
                f"ratio at {b}": statistics.median(t) / r
                for b, t in zip(BOUNDS, our_times, strict=True)
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", nargs="*", default=list(BENCHES))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = max(5, args.runs)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "httpx": httpx.__version__,
        "runs_per_figure": runs,
        # Other work on the machine moves both sides of a ratio, but not always alike.
        "load_average_at_start": os.getloadavg()[0],
    }
    if "import" in args.which:
        bench_import(results, runs)
    with server() as base:
        if "calls" in args.which:
            bench_calls(results, base, runs)
        if "streams" in args.which:
            bench_streams(results, base, runs)
        if "upload" in args.which:
            bench_upload(results, base, runs)
        if "burst" in args.which:
            bench_burst(results, base, runs)
    if "bounds" in args.which:
        bench_bounds(results, runs)
    results["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
