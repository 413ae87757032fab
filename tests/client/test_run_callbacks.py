"""Run callbacks: ``on_update`` for every update, ``on_partial_update`` with the changed fields,
``on_delta`` with each token delta and its sequence number; on both clients, sync or async
callbacks on the async one, against the local runtime and a server that batches its lines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from inferencesh import (
    AsyncInference,
    Inference,
    InvalidInputError,
    TaskDelta,
    TaskStatus,
)
from inferencesh.types import TaskDTO

from .conftest import Recorder
from .drive import MODES, call, collect
from .fault_server import FaultServer, Handler, Reply, Request
from .wire import created, task, v3

Start = Callable[[Handler], FaultServer]

STREAM_APP = {"app": "infsh/stream", "input": {"text": "one two three four", "delay": 0.01}}


class Seen:
    """Every callback call, in order, as ``(kind, ...)`` tuples."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def update(self, task: TaskDTO) -> None:
        assert isinstance(task, TaskDTO)
        self.calls.append(("update", task.status, task.output))

    def partial(self, task: TaskDTO, fields: list[str]) -> None:
        assert isinstance(task, TaskDTO) and all(isinstance(name, str) for name in fields)
        self.calls.append(("partial", fields))

    def delta(self, delta: TaskDelta) -> None:
        self.calls.append(("delta", delta.seq, delta.text, delta.output))

    def kinds(self, kind: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == kind]

    def options(self) -> dict[str, Any]:
        return {"on_update": self.update, "on_partial_update": self.partial, "on_delta": self.delta}


class AsyncSeen(Seen):
    """The same, as coroutines (the async client awaits them)."""

    async def aupdate(self, task: TaskDTO) -> None:
        await asyncio.sleep(0)
        self.update(task)

    async def apartial(self, task: TaskDTO, fields: list[str]) -> None:
        await asyncio.sleep(0)
        self.partial(task, fields)

    async def adelta(self, delta: TaskDelta) -> None:
        await asyncio.sleep(0)
        self.delta(delta)

    def options(self) -> dict[str, Any]:
        return {
            "on_update": self.aupdate,
            "on_partial_update": self.apartial,
            "on_delta": self.adelta,
        }


def check_stream_app_calls(seen: Seen, result: TaskDTO) -> None:
    updates = seen.kinds("update")
    deltas = seen.kinds("delta")
    assert updates[-1][1] == TaskStatus.COMPLETED and result.status == TaskStatus.COMPLETED
    assert [d[1] for d in deltas] == sorted({d[1] for d in deltas})  # rising, no repeats
    # The stream may attach after the first tokens (a loaded machine): those arrive in its first
    # snapshot, and every delta after it adds to the accumulated text without a gap.
    joined = "".join(d[2] for d in deltas)
    before = deltas[0][3]["response"][: -len(deltas[0][2])]
    assert joined and before + joined == "one two three four"
    # Other output fields (the app's `progress`) may arrive in a snapshot between deltas.
    assert deltas[-1][3]["response"] == "one two three four"
    assert all(d[3]["response"].endswith(d[2]) for d in deltas)
    assert any("status" in p[1] for p in seen.kinds("partial"))
    # Every delta and every partial update is also an update.
    assert len(updates) >= len(deltas) + len(seen.kinds("partial"))


def test_sync_callbacks_against_the_local_runtime(client: Inference) -> None:
    seen = Seen()
    result = client.tasks.run(STREAM_APP, **seen.options())
    check_stream_app_calls(seen, result)


async def test_async_and_sync_callbacks_on_the_async_client(aclient: AsyncInference) -> None:
    seen = AsyncSeen()
    result = await aclient.tasks.run(STREAM_APP, **seen.options())
    check_stream_app_calls(seen, result)
    plain = Seen()
    result = await aclient.tasks.run(STREAM_APP, **plain.options())
    check_stream_app_calls(plain, result)


def test_callbacks_on_a_stream_run_as_the_updates_are_read(client: Inference) -> None:
    seen = Seen()
    with client.tasks.run(STREAM_APP, stream=True, on_update=seen.update) as stream:
        for index, update in enumerate(stream, 1):
            assert len(seen.kinds("update")) == index
            assert seen.calls[-1][1] == update.status
    assert seen.calls[-1][1] == TaskStatus.COMPLETED


async def test_wait_for_completion_and_stream_take_callbacks(aclient: AsyncInference) -> None:
    created_task = await aclient.tasks.run(STREAM_APP, wait=False)
    waited = AsyncSeen()
    result = await aclient.tasks.wait_for_completion(created_task.id, **waited.options())
    assert result.status == TaskStatus.COMPLETED and waited.kinds("update")
    streamed = Seen()
    async with aclient.tasks.stream(created_task.id, **streamed.options()) as stream:
        updates = [update async for update in stream]
    assert [u.status for u in updates] == [c[1] for c in streamed.kinds("update")]


def test_a_session_call_takes_callbacks(client: Inference) -> None:
    with client.session("infsh/counter", input={"by": 1}) as session:
        seen = Seen()
        result = session.call("run", {"by": 2}, on_update=seen.update)
        assert seen.kinds("update")[-1][1] == TaskStatus.COMPLETED
        assert seen.kinds("update")[-1][2] == result.output


def batched_server(fault: Start, lines: list[Any]) -> FaultServer:
    """A server that sends the whole stream in one chunk, then ends it."""
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)

    def handler(request: Request) -> Reply:
        if request.path == "/apps/run":
            return Reply.json(v3(created()))
        if request.path == "/tasks/t1/stream":
            return Reply(headers={"content-type": "application/x-ndjson"}, chunks=[body])
        return Reply.json(v3(task(status=10)))

    return fault(handler)


BATCH = [
    task(status=7, logs=["started"]),
    {"type": "heartbeat"},
    {"data": {"logs": ["started", "thinking"]}, "fields": ["logs"]},
    {"event": "delta", "data": {"delta": {"response": "Hel"}, "seq": 1, "resource_id": "t1"}},
    {"event": "delta", "data": {"delta": {"response": "lo"}, "seq": 2, "resource_id": "t1"}},
    {"event": "delta", "data": {"delta": {"response": "lo"}, "seq": 2, "resource_id": "t1"}},
    {"data": {"status": 10, "output": {"response": "Hello"}}, "fields": ["status", "output"]},
]


@pytest.mark.parametrize("mode", MODES)
def test_one_batched_chunk_gives_each_callback_exactly_its_calls(mode: str, fault: Start) -> None:
    server = batched_server(fault, BATCH)
    seen = AsyncSeen() if mode == "async" else Seen()
    result = call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, **seen.options()))
    assert result.output == {"response": "Hello"}
    assert seen.calls == [
        ("update", TaskStatus.RUNNING, None),
        ("partial", ["logs"]),
        ("update", TaskStatus.RUNNING, None),
        ("delta", 1, "Hel", {"response": "Hel"}),
        ("update", TaskStatus.RUNNING, {"response": "Hel"}),
        ("delta", 2, "lo", {"response": "Hello"}),
        ("update", TaskStatus.RUNNING, {"response": "Hello"}),
        ("partial", ["output", "status"]),
        ("update", TaskStatus.COMPLETED, {"response": "Hello"}),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_a_delta_without_a_sequence_number_has_seq_none(mode: str, fault: Start) -> None:
    lines = [
        task(status=7),
        {"event": "delta", "data": {"delta": {"response": "hi"}, "resource_id": "t1"}},
        task(status=10, output={"response": "hi"}),
    ]
    server = batched_server(fault, lines)
    deltas: list[TaskDelta] = []
    call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, on_delta=deltas.append))
    assert [(d.task_id, d.seq, d.text) for d in deltas] == [("t1", None, "hi")]


@pytest.mark.parametrize("mode", MODES)
def test_an_exception_in_a_callback_ends_the_call(mode: str, fault: Start) -> None:
    server = batched_server(fault, BATCH)

    def boom(task: TaskDTO) -> None:
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, on_update=boom))


@pytest.mark.parametrize("mode", MODES)
def test_callbacks_see_the_same_updates_as_iteration(mode: str, fault: Start) -> None:
    server = batched_server(fault, BATCH)
    seen: list[TaskDTO] = []
    updates = call(
        mode,
        server.base_url,
        lambda c: collect(c.tasks.run({"app": "a/b"}, stream=True, on_update=seen.append)),
    )
    assert seen == updates


def test_callbacks_are_refused_before_sending(offline: Inference, recorder: Recorder) -> None:
    with pytest.raises(InvalidInputError, match="on_update.*wait=False"):
        offline.tasks.run({"app": "a/b"}, wait=False, on_update=print)
    with pytest.raises(InvalidInputError, match="on_delta must be a function"):
        offline.tasks.run({"app": "a/b"}, on_delta="print")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="on_partial_update must be a function"):
        offline.tasks.stream("t1", on_partial_update=1)  # type: ignore[arg-type]
    assert recorder.requests == []


async def test_async_callbacks_are_refused_before_sending(
    aoffline: AsyncInference, recorder: Recorder
) -> None:
    with pytest.raises(InvalidInputError, match="wait=False"):
        await aoffline.tasks.run({"app": "a/b"}, wait=False, on_delta=print)
    with pytest.raises(InvalidInputError, match="on_update must be a function"):
        await aoffline.tasks.wait_for_completion("t1", on_update=[])  # type: ignore[arg-type]
    assert recorder.requests == []


def test_delta_texts_join_up_to_the_response_however_late_the_stream_opened() -> None:
    from inferencesh._callbacks import TaskCallbacks
    from inferencesh._streaming import DeltaState, TaskState

    got: list[TaskDelta] = []
    callbacks = TaskCallbacks(None, None, got.append)
    dto = TaskDTO.model_construct(id="t1")

    def state(kind: type[TaskState], status: int, response: str, sent: str | None = None) -> Any:
        made = kind({"id": "t1", "status": status, "output": {"response": response}})
        if isinstance(made, DeltaState):
            made.delta, made.seq = {"response": sent}, None
        return made

    def hand(made: TaskState) -> None:
        for function, args in callbacks.calls(dto, made):
            function(*args)

    # "one" went out before the stream opened: the first state seen already holds it.
    hand(state(TaskState, 7, "one"))
    hand(state(DeltaState, 7, "one two", " two"))
    hand(state(DeltaState, 7, "one two three", " three"))
    assert [(d.caught_up, d.text) for d in got] == [("one", "one two"), ("", " three")]
    hand(state(TaskState, 10, "one two three"))  # completed: nothing left to hand out
    assert len(got) == 2
    # A task that ended before any delta was seen: its whole text in one last delta.
    got.clear()
    callbacks = TaskCallbacks(None, None, got.append)
    hand(state(TaskState, 10, "all at once"))
    assert [(d.delta, d.seq, d.text) for d in got] == [({}, None, "all at once")]
