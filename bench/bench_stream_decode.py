"""Our per-update cost of reading a task stream, with no network.

    .venv/bin/python bench/bench_stream_decode.py [--updates 20000] [--runs 7]

Prebuilt NDJSON (the wire of bench/_client_server.py: a snapshot, N status partials or N token
deltas, a terminal snapshot) is handed over in the two shapes that server sends, one line per
chunk and 256 lines per chunk, to the code the client runs after the transport:
``iter_task_stream`` (framer and machine) and ``TaskStream`` (typed ``TaskDTO`` updates).
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
from inferencesh._streaming import StreamOptions, iter_task_stream
from inferencesh.tasks import TaskStream

SHAPES = (1, 256)  # lines per chunk


class _Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def iter_raw(self) -> Iterator[bytes]:
        return iter(self.chunks)


class _Transport:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    @contextmanager
    def open_stream(self, path: str, **_: Any) -> Iterator[_Response]:
        yield _Response(self.chunks)


def _get_task(task_id: str) -> dict[str, Any]:
    return dict(TASK, status=10)


def _states(transport: _Transport) -> Iterator[dict[str, Any]]:
    return iter_task_stream(transport, "t1", StreamOptions(), _get_task)


def ours(transport: _Transport) -> int:
    count = 0
    with TaskStream(_states(transport)) as stream:
        for _ in stream:
            count += 1
    return count


def ours_read(transport: _Transport) -> int:
    """As a consumer that reads every update: its status and output."""
    count = 0
    with TaskStream(_states(transport)) as stream:
        for update in stream:
            update.status  # noqa: B018
            update.output  # noqa: B018
            count += 1
    return count


def machine_only(transport: _Transport) -> int:
    return sum(1 for _ in _states(transport))


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
    transport = _Transport(
        [b"".join(wire[i : i + per_chunk]) for i in range(0, len(wire), per_chunk)]
    )
    updates = ours(transport)
    assert updates >= n, updates
    count = n + 2
    return {
        "lines": count,
        "updates": updates,
        "ours_us": per_line(lambda: ours(transport), count, runs),
        "ours_read_us": per_line(lambda: ours_read(transport), count, runs),
        "machine_us": per_line(lambda: machine_only(transport), count, runs),
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
