"""Round trip of an ``infsh/echo`` task on the local runtime over loopback.

    .venv/bin/python bench/bench_runtime_echo.py [--tasks 300]

One round trip = ``POST /apps/run`` + ``GET /tasks/{id}/stream`` read to the end (the task is
completed). Workers are warm (one warm-up task first). Printed with the floor of the same
server in the same run: a plain ``GET /tasks/{id}/status`` round trip, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import httpx

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_bench", "Accept": "application/x-ndjson"}


def echo_round_trip(http: httpx.Client, index: int) -> tuple[float, str]:
    start = time.perf_counter()
    task_id = http.post("/apps/run", json={"app": "infsh/echo", "input": {"i": index}}).json()[
        "data"
    ]["id"]
    status = 0
    with http.stream("GET", f"/tasks/{task_id}/stream") as response:
        for line in response.iter_lines():
            message = json.loads(line)
            status = message.get("data", message).get("status", status)
    elapsed = time.perf_counter() - start
    if status != 10:
        raise RuntimeError(f"task {task_id} ended with status {status}")
    return elapsed, task_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args()
    with (
        LocalRuntime() as runtime,
        httpx.Client(base_url=runtime.base_url, headers=HEADERS, timeout=60) as http,
    ):
        _, task_id = echo_round_trip(http, -1)  # spawns and sets up the worker
        trips = [echo_round_trip(http, i)[0] for i in range(args.tasks)]
        floor: list[float] = []
        for _ in range(args.tasks):
            start = time.perf_counter()
            http.get(f"/tasks/{task_id}/status").raise_for_status()
            floor.append(time.perf_counter() - start)
    median = statistics.median(trips)
    p90 = statistics.quantiles(trips, n=10)[-1]
    base = statistics.median(floor)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    print(f"echo round trip (run + stream to completion), {args.tasks} tasks on loopback:")
    print(f"  median {median * 1000:.2f} ms   p90 {p90 * 1000:.2f} ms")
    print(f"  GET /tasks/{{id}}/status floor: median {base * 1000:.2f} ms")
    print(f"  ratio echo / floor: {median / base:.1f}x")


if __name__ == "__main__":
    main()
