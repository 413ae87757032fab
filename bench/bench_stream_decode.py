"""Our per-update cost of reading a task stream, with no network.

    .venv/bin/python bench/bench_stream_decode.py [--updates 20000] [--runs 7]

Prebuilt NDJSON (the wire of bench/_client_server.py: a snapshot, N status partials or N token
deltas, a terminal snapshot) is handed over in the two shapes that server sends, one line per
chunk and 256 lines per chunk, to the code the client runs after the transport:
``follow`` (the driver, framer and machine) and ``TaskStream`` (typed ``TaskDTO`` updates).
Printed as CPU µs per line (process time: nothing here waits, and other load on the machine
moves CPU time far less than wall time), median of the runs: ``ours_us`` (typed updates handed
out; each is built when first read), ``ours_read_us`` (the same, reading every update's status
and output, so each is built), ``machine_us`` (states only, no typed tasks) and, as the
reference, plain ``json.loads`` per line measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _client_server import TASK, _stream_lines
from inferencesh import TaskStream
from inferencesh._generated.sync.follow import follow
from inferencesh._streaming import Reconnects, TaskStreamMachine
from inferencesh._transport import StreamOptions

SHAPES = (1, 256)  # lines per chunk


class _Source:
    """The stream source: prebuilt chunks, and the terminal task if the stream ends early."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.machine = TaskStreamMachine()

    @contextmanager
    def open(self, idle_timeout: float | None) -> Iterator[Iterator[bytes]]:
        yield iter(self.chunks)

    def opened(self) -> list[Any]:
        return []

    def reconcile(self) -> list[Any]:
        state = self.machine.reconcile(dict(TASK, status=10))
        return [] if state is None else [state]

    def poll(self) -> list[Any]:
        return self.reconcile()


def _states(source: _Source) -> Iterator[dict[str, Any]]:
    fresh = _Source(source.chunks)  # a new machine per run
    return follow(fresh.machine, fresh, Reconnects("task t1", StreamOptions(), None))


def ours(source: _Source) -> int:
    count = 0
    with TaskStream(_states(source)) as stream:
        for _ in stream:
            count += 1
    return count


def ours_read(source: _Source) -> int:
    """As a consumer that reads every update: its status and output."""
    count = 0
    with TaskStream(_states(source)) as stream:
        for update in stream:
            update.status  # noqa: B018
            update.output  # noqa: B018
            count += 1
    return count


def machine_only(source: _Source) -> int:
    return sum(1 for _ in _states(source))


def json_loads(lines: list[bytes]) -> int:
    count = 0
    for line in lines:
        if line:
            json.loads(line)
            count += 1
    return count


def per_line(fn: Callable[[], int], lines: int, runs: int) -> float:
    times: list[float] = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) / lines * 1e6


def bench(kind: str, n: int, per_chunk: int, runs: int) -> dict[str, Any]:
    wire = _stream_lines(kind, n)
    lines = b"".join(wire).split(b"\n")
    source = _Source([b"".join(wire[i : i + per_chunk]) for i in range(0, len(wire), per_chunk)])
    updates = ours(source)
    assert updates >= n, updates
    count = n + 2
    return {
        "lines": count,
        "updates": updates,
        "ours_us": per_line(lambda: ours(source), count, runs),
        "ours_read_us": per_line(lambda: ours_read(source), count, runs),
        "machine_us": per_line(lambda: machine_only(source), count, runs),
        "json_loads_us": per_line(lambda: json_loads(lines), count, runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {
        f"{kind}, {per_chunk} lines per chunk": bench(kind, args.updates, per_chunk, args.runs)
        for kind in ("status", "delta")
        for per_chunk in SHAPES
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
