"""Client benchmarks: each figure is a ratio against raw httpx measured in the same run.

    .venv/bin/python bench/bench_client.py [import|calls|streams|upload|burst ...]

The server (bench/_client_server.py) runs in its own process and answers from prebuilt bytes,
so both sides of every ratio pay the same server cost.
"""

from __future__ import annotations

import asyncio
import json
import os
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


@contextmanager
def server() -> Iterator[str]:
    proc = subprocess.Popen(
        [PY, str(HERE / "_client_server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    port = int(proc.stdout.readline())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        proc.wait(10)


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def bench_import(results: dict[str, Any]) -> None:
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

    once("import inferencesh; inferencesh.inference")  # writes the caches
    raw, ours = [], []
    for _ in range(15):  # interleaved, so machine noise hits both sides alike
        raw.append(once("import httpx, pydantic"))
        ours.append(once("import inferencesh; inferencesh.inference"))
    r, o = statistics.median(raw), statistics.median(ours)
    results["import"] = {"raw_ms": r * 1e3, "ours_ms": o * 1e3, "ratio": o / r, "target": "<= 1.15"}


def bench_calls(results: dict[str, Any], base: str, n: int = 2000) -> None:
    from inferencesh import inference

    raw_client = httpx.Client()
    headers = {"Authorization": f"Bearer {KEY}"}

    def raw() -> float:
        t = time.perf_counter()
        for _ in range(n):
            raw_client.post(f"{base}/apps/run", json=RUN, headers=headers).json()
        return time.perf_counter() - t

    client = inference(api_key=KEY, base_url=base)

    def ours() -> float:
        t = time.perf_counter()
        for _ in range(n):
            client.tasks.run(RUN, wait=False)
        return time.perf_counter() - t

    raw(), ours()  # warm up pools and caches
    r_times, o_times = [], []
    for _ in range(5):
        r_times.append(raw())
        o_times.append(ours())
    r, o = min(r_times), min(o_times)
    results["calls"] = {
        "raw_us_per_call": r / n * 1e6,
        "ours_us_per_call": o / n * 1e6,
        "ratio": o / r,
        "target": "<= 1.10",
    }
    client.close()
    raw_client.close()


def bench_streams(results: dict[str, Any], base: str, n: int = 20000) -> None:
    from inferencesh import inference

    raw_client = httpx.Client()
    client = inference(api_key=KEY, base_url=base)
    for kind, target in (("status", ">= 0.8"), ("delta", ">= 0.6")):
        task_id = f"{kind}-{n}"

        def raw(task_id: str = task_id) -> float:
            t = time.perf_counter()
            count = 0
            with raw_client.stream(
                "GET",
                f"{base}/tasks/{task_id}/stream",
                headers={"Accept": "application/x-ndjson", "Authorization": f"Bearer {KEY}"},
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

        raw(), ours()
        r = best(raw, 5)
        o = best(ours, 5)
        results[f"stream_{kind}"] = {
            "raw_updates_per_s": (n + 2) / r,
            "ours_updates_per_s": (n + 2) / o,
            "ratio": r / o,
            "target": target,
        }
    client.close()
    raw_client.close()


UPLOAD_SCRIPT = """
import os, resource, sys
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


def bench_upload(results: dict[str, Any], base: str, mib: int = 512) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.bin")
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(block)
        t = time.perf_counter()
        out = subprocess.run(
            [PY, "-c", UPLOAD_SCRIPT, base, path], capture_output=True, text=True, check=True
        )
        elapsed = time.perf_counter() - t
    results["upload"] = {
        "size_mib": mib,
        "peak_rss_growth_mib": float(out.stdout),
        "seconds": elapsed,
        "target": "<= 16 MiB",
    }


def bench_burst(results: dict[str, Any], base: str, n: int = 1000) -> None:
    from inferencesh import async_inference

    async def ours() -> float:
        async with async_inference(api_key=KEY, base_url=base) as client:
            t = time.perf_counter()
            await asyncio.gather(*(client.tasks.run(RUN, wait=False) for _ in range(n)))
            return time.perf_counter() - t

    async def raw() -> str:
        async with httpx.AsyncClient() as client:
            t = time.perf_counter()
            try:
                await asyncio.gather(*(client.post(f"{base}/apps/run", json=RUN) for _ in range(n)))
            except httpx.PoolTimeout:
                return f"PoolTimeout after {time.perf_counter() - t:.2f} s"
            return f"{time.perf_counter() - t:.3f} s"

    async def raw_sequential() -> float:
        async with httpx.AsyncClient() as client:
            await client.post(f"{base}/apps/run", json=RUN)
            t = time.perf_counter()
            for _ in range(n):
                await client.post(f"{base}/apps/run", json=RUN)
            return time.perf_counter() - t

    asyncio.run(ours())
    times = [asyncio.run(ours()) for _ in range(5)]
    floor = min(asyncio.run(raw_sequential()) for _ in range(2))
    results["burst"] = {
        "runs": n,
        "ours_s_best": min(times),
        "ours_s_median": statistics.median(times),
        "raw_httpx_same_calls_one_by_one_s": floor,
        "ratio_to_one_by_one": min(times) / floor,
        "raw_httpx_default_client": asyncio.run(raw()),
        "target": "<= 0.6 s",
    }


def main(argv: list[str]) -> None:
    which = argv or ["import", "calls", "streams", "upload", "burst"]
    results: dict[str, Any] = {}
    if "import" in which:
        bench_import(results)
    with server() as base:
        if "calls" in which:
            bench_calls(results, base)
        if "streams" in which:
            bench_streams(results, base)
        if "upload" in which:
            bench_upload(results, base)
        if "burst" in which:
            bench_burst(results, base)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
