"""Streams cut at random points: every update arrives once, in order, and nothing is lost."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inferencesh import TaskStreamError, WaitTimeoutError

from .drive import MODES, call, collect
from .fault_server import FaultServer, Handler, Reply, Request
from .wire import created, task, v3

Start = Callable[[Handler], FaultServer]

WORDS = [f"w{i} " for i in range(120)]


class ScriptedTask:
    """A task whose progress is the number of stream lines the server has started writing.

    Each connection opens with a snapshot of the current state, then continues the script and
    is cut after a few lines, sometimes in the middle of a line. A line that was cut already
    advanced the task, so the next snapshot carries it: the client must neither miss it nor
    show a state twice.
    """

    def __init__(self, seed: int, deltas: bool, max_cuts: int) -> None:
        self.rng = random.Random(seed)
        self.deltas = deltas
        self.cuts_left = max_cuts
        self.cuts = 0
        self.progress = 0
        self.total = len(WORDS)

    def state(self, k: int) -> dict[str, Any]:
        if k >= self.total:
            return task(
                status=10, output={"response": "".join(WORDS)} if self.deltas else {"step": k}
            )
        if self.deltas:
            return task(status=7, output={"response": "".join(WORDS[:k])} if k else None)
        return task(status=7, output={"step": k})

    def line(self, k: int) -> bytes:
        if k >= self.total:
            obj = self.state(k)
        elif self.deltas:
            obj = {
                "event": "delta",
                "data": {"delta": {"response": WORDS[k - 1]}, "seq": k, "resource_id": "t1"},
            }
        else:
            obj = {"data": {"output": {"step": k}}, "fields": ["output"]}
        return json.dumps(obj).encode() + b"\n"

    def stream(self) -> Reply:
        chunks: list[bytes] = [json.dumps(self.state(self.progress)).encode() + b"\n"]
        cut: bytes | None = None
        budget = self.rng.randint(1, 12) if self.cuts_left else 10**9
        while self.progress < self.total and budget:
            self.progress += 1
            budget -= 1
            line = self.line(self.progress)
            if not budget and self.progress < self.total:
                self.cuts_left -= 1
                self.cuts += 1
                cut = line[: self.rng.randrange(len(line) + 1)]
                if len(cut) == len(line) and self.rng.random() < 0.5:
                    chunks.append(line)
                    cut = b""
                break
            chunks.append(b'{"type":"heartbeat"}\n' if self.rng.random() < 0.1 else b"")
            chunks.append(line)
        return Reply(headers={"content-type": "application/x-ndjson"}, chunks=chunks, cut=cut)

    def handler(self, request: Request) -> Reply:
        if request.path == "/apps/run":
            return Reply.json(v3(created()))
        if request.path == "/tasks/t1/stream":
            return self.stream()
        return Reply.json(v3(self.state(self.progress)))


def expected(script: ScriptedTask) -> list[Any]:
    return [script.state(k)["output"] for k in range(script.total + 1)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("deltas", [False, True], ids=["partials", "deltas"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_drops_lose_and_duplicate_nothing(
    mode: str, deltas: bool, seed: int, fault: Start
) -> None:
    script = ScriptedTask(seed, deltas, max_cuts=25)
    server = fault(script.handler)
    updates = call(
        mode,
        server.base_url,
        lambda c: collect(
            c.tasks.run({"app": "a/b", "input": {}}, stream=True, reconnect_delay_ms=0)
        ),
    )
    outputs = [u.output for u in updates]
    assert script.cuts >= 10
    assert outputs == expected(script)
    assert updates[-1].status == 10
    assert server.count("GET", "/tasks/t1/stream") == script.cuts + 1


@pytest.mark.parametrize("mode", MODES)
def test_wait_survives_drops(mode: str, fault: Start) -> None:
    script = ScriptedTask(7, True, max_cuts=10)
    server = fault(script.handler)
    result = call(
        mode,
        server.base_url,
        lambda c: c.tasks.run({"app": "a/b", "input": {}}, reconnect_delay_ms=0),
    )
    assert result.output == {"response": "".join(WORDS)}


@pytest.mark.parametrize("mode", MODES)
def test_reconnect_budget_resets_on_progress_but_not_on_empty_connections(
    mode: str, fault: Start
) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/tasks/t1/stream":
            return Reply(
                headers={"content-type": "application/x-ndjson"}, chunks=[b'{"type":"heartbeat"}\n']
            )
        return Reply.json(v3(task(status=7)))

    server = fault(handler)
    with pytest.raises(TaskStreamError):
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.wait_for_completion("t1", max_reconnects=3, reconnect_delay_ms=0),
        )
    assert server.count("GET", "/tasks/t1/stream") == 4


@pytest.mark.parametrize("mode", MODES)
def test_stream_end_without_terminal_status_is_decided_by_get(mode: str, fault: Start) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/tasks/t1/stream":
            return Reply(
                headers={"content-type": "application/x-ndjson"},
                chunks=[json.dumps(task(status=7)).encode() + b"\n"],
            )
        return Reply.json(v3(task(status=10, output={"ok": True})))

    server = fault(handler)
    result = call(mode, server.base_url, lambda c: c.tasks.wait_for_completion("t1"))
    assert result.output == {"ok": True}
    assert server.count("GET", "/tasks/t1/stream") == 1


@pytest.mark.parametrize("mode", MODES)
def test_unknown_status_keeps_waiting(mode: str, fault: Start) -> None:
    lines = [task(status=7), task(status=42), task(status="teleporting"), task(status=10, output=1)]

    def handler(request: Request) -> Reply:
        return Reply(
            headers={"content-type": "application/x-ndjson"},
            chunks=[json.dumps(x).encode() + b"\n" for x in lines],
        )

    server = fault(handler)
    updates = call(mode, server.base_url, lambda c: collect(c.tasks.stream("t1")))
    assert [int(u.status) for u in updates] == [7, 42, 0, 10]


@pytest.mark.parametrize("mode", MODES)
def test_sse_stream(mode: str, fault: Start) -> None:
    body = [
        b": hello\n\n",
        b"data: " + json.dumps(task(status=7)).encode() + b"\n\n",
        b"event: delta\ndata: "
        + json.dumps({"delta": {"response": "hi"}, "seq": 1}).encode()
        + b"\n\n",
        b'data: {"data": {"status": 10}, "fields": ["status"]}\n\n',
    ]
    seen: list[str] = []

    def handler(request: Request) -> Reply:
        seen.append(request.headers.get("accept", ""))
        return Reply(headers={"content-type": "text/event-stream"}, chunks=body)

    server = fault(handler)
    updates = call(mode, server.base_url, lambda c: collect(c.tasks.stream("t1", sse=True)))
    assert [u.status for u in updates] == [7, 7, 10]
    assert updates[-1].output == {"response": "hi"}
    assert seen == ["text/event-stream"]


@pytest.mark.parametrize("mode", MODES)
def test_stream_of_a_missing_task_raises_not_found_without_reconnecting(
    mode: str, fault: Start
) -> None:
    from inferencesh import NotFoundError

    server = fault(lambda r: Reply.problem(404, "not_found", "no task"))
    with pytest.raises(NotFoundError):
        call(mode, server.base_url, lambda c: collect(c.tasks.stream("t1")))
    assert server.count("GET", "/tasks/t1/stream") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_silent_stream_is_reopened_after_the_idle_timeout(mode: str, fault: Start) -> None:
    opened: list[int] = []

    def handler(request: Request) -> Reply:
        if request.path == "/tasks/t1/stream":
            opened.append(1)
            if len(opened) == 1:  # a snapshot, then silence on an open connection
                return Reply(
                    headers={"content-type": "application/x-ndjson"},
                    chunks=_silent_after(json.dumps(task(status=7)).encode() + b"\n"),
                )
            return Reply(
                headers={"content-type": "application/x-ndjson"},
                chunks=[json.dumps(task(status=10, output=3)).encode() + b"\n"],
            )
        return Reply.json(v3(task(status=7)))

    server = fault(handler)
    updates = call(
        mode,
        server.base_url,
        lambda c: collect(c.tasks.stream("t1", reconnect_delay_ms=0)),
        stream_idle_timeout=0.3,
    )
    assert [u.status for u in updates] == [7, 10] and len(opened) == 2


def _silent_after(first: bytes) -> Iterator[bytes]:
    yield first
    time.sleep(1.5)  # blocks the fault server's loop: the client sees no byte at all
    yield b""


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_completion_timeout(mode: str, fault: Start) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/tasks/t1/stream":
            beats = [json.dumps(task(status=7)).encode() + b"\n"]
            return Reply(headers={"content-type": "application/x-ndjson"}, chunks=beats)
        return Reply.json(v3(task(status=7)))

    server = fault(handler)
    with pytest.raises(WaitTimeoutError, match="t1"):
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.wait_for_completion(
                "t1", timeout=0.5, max_reconnects=1000, reconnect_delay_ms=50
            ),
        )
    assert isinstance(WaitTimeoutError("x"), TimeoutError)
