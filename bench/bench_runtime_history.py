"""The local runtime against a long history: task throughput and startup, with a data dir that
already holds many finished tasks, as ratios to an empty data dir in the same run.

    .venv/bin/python bench/bench_runtime_history.py [--history 100000] [--burst 500] [--runs 3]

Throughput: bursts of ``--burst`` ``infsh/echo`` tasks over loopback, 64 in flight, each one
``POST /apps/run`` then its stream read to the end; a burst is timed until every task has
completed, and the median burst of ``--runs`` is reported (after a warm-up burst). Startup:
``LocalRuntime(data_dir=...).start()`` until it answers, median of ``--runs``. The history is
seeded straight into the store's table with copies of a real completed task record (seeding
it through the API would take longer than the benchmark).
Lists: ``POST /tasks/list`` pages of 20, the newest one and one halfway down the store (by its
cursor), median of 50 calls each after the bursts.
Targets (issue 12): history throughput within 10% of the empty store, startup under 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_bench"}
IN_FLIGHT = 64
LIST_CALLS = 50


def seed(data_dir: Path, count: int) -> None:
    """``count`` finished tasks, copies of one real record, in the runtime's own tables."""
    with (
        LocalRuntime(data_dir=data_dir) as runtime,
        httpx.Client(base_url=runtime.base_url, headers=HEADERS, timeout=60) as http,
    ):
        task_id = http.post("/apps/run", json={"app": "infsh/echo", "input": {"i": 0}}).json()[
            "data"
        ]["id"]
        for _ in range(600):
            record = http.get(f"/tasks/{task_id}").json()["data"]
            if record["status"] == 10:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the seed task did not complete")
    template = json.dumps(record)
    db = sqlite3.connect(data_dir / "runtime.sqlite3")
    stamp = time.time()
    rows = []
    for _ in range(count):
        new_id = uuid.uuid4().hex[:24]
        rows.append((new_id, 0, stamp, template.replace(task_id, new_id)))
    with db:
        db.executemany("INSERT INTO tasks (id, open, at, data) VALUES (?, ?, ?, ?)", rows)
    db.close()


async def burst(base_url: str, size: int) -> float:
    """Seconds for ``size`` echo tasks, created together, to all complete."""
    limit = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, timeout=120) as http:

        async def one(index: int) -> None:
            async with limit:
                created = await http.post(
                    "/apps/run", json={"app": "infsh/echo", "input": {"i": index}}
                )
                task_id = created.json()["data"]["id"]
                status = 0
                async with http.stream("GET", f"/tasks/{task_id}/stream") as response:
                    async for line in response.aiter_lines():
                        message = json.loads(line)
                        status = message.get("data", message).get("status", status)
                if status != 10:
                    raise RuntimeError(f"task {task_id} ended with status {status}")

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(size)))
        return time.perf_counter() - start


def page_times(base_url: str, count: int) -> tuple[float, float]:
    """Median seconds of ``POST /tasks/list`` (20 items): the newest page, and one halfway down."""
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=60) as http:
        middle = str(count // 2)
        timings: dict[str, list[float]] = {"newest": [], "middle": []}
        for _ in range(LIST_CALLS):
            for name, body in (("newest", {}), ("middle", {"cursor": middle})):
                start = time.perf_counter()
                page = http.post("/tasks/list", json={"limit": 20, **body})
                timings[name].append(time.perf_counter() - start)
                assert len(page.json()["data"]["items"]) == 20, page.text
    return statistics.median(timings["newest"]), statistics.median(timings["middle"])


def measure(data_dir: Path, size: int, runs: int) -> tuple[float, float, float, float]:
    """Median tasks per second, startup seconds, and list page seconds (newest, middle)."""
    startups: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        runtime = LocalRuntime(data_dir=data_dir).start()
        startups.append(time.perf_counter() - start)
        runtime.stop()
    with LocalRuntime(data_dir=data_dir, max_workers=4) as runtime:
        asyncio.run(burst(runtime.base_url, size))  # warm-up: workers spawned
        rates = [size / asyncio.run(burst(runtime.base_url, size)) for _ in range(runs)]
        stored = runtime.engine.store.count("tasks") if runtime.engine is not None else 0
        newest, middle = page_times(runtime.base_url, stored)
    return statistics.median(rates), statistics.median(startups), newest, middle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="infsh-bench-") as root:
        empty, full = Path(root) / "empty", Path(root) / "history"
        seed(full, args.history)
        rate_empty, start_empty, newest_empty, middle_empty = measure(empty, args.burst, args.runs)
        rate_full, start_full, newest_full, middle_full = measure(full, args.burst, args.runs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    print(
        f"bursts of {args.burst} echo tasks, median of {args.runs}; startup median of {args.runs}"
    )
    print(f"  empty store:        {rate_empty:7.1f} tasks/s   startup {start_empty:.2f} s")
    print(f"  {args.history} tasks:  {rate_full:7.1f} tasks/s   startup {start_full:.2f} s")
    print(f"  throughput ratio history/empty: {rate_full / rate_empty:.2f} (target >= 0.90)")
    print(f"  startup ratio history/empty:    {start_full / start_empty:.2f} (target < 2.00)")
    print(f"POST /tasks/list, 20 items, median of {LIST_CALLS} calls (ms): newest, middle page")
    print(f"  empty store:        {newest_empty * 1e3:6.2f}  {middle_empty * 1e3:6.2f}")
    print(f"  {args.history} tasks:  {newest_full * 1e3:6.2f}  {middle_full * 1e3:6.2f}")
    print(
        f"  page ratio history/empty: newest {newest_full / newest_empty:.2f},"
        f" middle {middle_full / middle_empty:.2f}"
    )


if __name__ == "__main__":
    main()
