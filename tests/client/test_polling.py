"""Polling instead of a stream: ``inference(stream=False, poll_interval=...)`` or a call's
``poll_interval``. Status reads decide when the task is read in full; the same callbacks,
timeouts and reconnect budget apply. Against the local runtime and against status routes that
lag, omit fields, say "done" too early, or do not exist."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from inferencesh import (
    AsyncInference,
    Inference,
    InvalidInputError,
    TaskFailedError,
    TaskStatus,
    TaskStreamError,
    WaitTimeoutError,
)
from inferencesh.types import TaskDTO

from .conftest import Recorder
from .drive import MODES, call, collect
from .fault_server import FaultServer, Handler, Reply, Request
from .wire import created, task, v3

Start = Callable[[Handler], FaultServer]

FAST = 0.01  # seconds between polls: these servers answer at once


def stamp(step: int) -> str:
    return f"2026-11-23T12:00:{step:02d}Z"


class PolledTask:
    """A task behind a status route: each status read returns the next entry of ``statuses``
    (the last one repeats); a full read returns ``tasks(reads)``, by default the status of the
    last status read. ``status`` can be replaced to make the route lie."""

    def __init__(
        self,
        statuses: list[Any],
        tasks: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        self.statuses = statuses
        self.status_reads = 0
        self.task_reads = 0
        self.current: Any = statuses[0]
        self.tasks = tasks or (lambda reads: task(status=self.current["status"]))

    def status(self) -> Reply:
        entry = self.statuses[min(self.status_reads, len(self.statuses) - 1)]
        self.status_reads += 1
        if isinstance(entry, Reply):
            return entry
        self.current = entry
        return Reply.json(v3(entry))

    def handler(self, request: Request) -> Reply:
        if request.path == "/apps/run":
            return Reply.json(v3(created()))
        if request.path == "/tasks/t1/status":
            return self.status()
        if request.path == "/tasks/t1":
            self.task_reads += 1
            return Reply.json(v3(self.tasks(self.task_reads)))
        if request.path == "/tasks/t1/stream":
            return Reply.problem(500, "internal_error", "a polling client opened the stream")
        return Reply.problem(404, "not_found", request.path)


def status(value: int, step: int) -> dict[str, Any]:
    return {"id": "t1", "status": value, "updated_at": stamp(step)}


@pytest.mark.parametrize("mode", MODES)
def test_the_task_is_read_only_when_its_status_changes(mode: str, fault: Start) -> None:
    statuses = [status(1, 0)] * 3 + [status(7, 1)] * 4 + [status(10, 2)]
    script = PolledTask(statuses)
    server = fault(script.handler)
    seen: list[TaskStatus] = []
    result = call(
        mode,
        server.base_url,
        lambda c: c.tasks.run({"app": "a/b"}, on_update=lambda t: seen.append(t.status)),
        stream=False,
        poll_interval=FAST,
    )
    assert result.status == TaskStatus.COMPLETED
    assert seen == [TaskStatus.RECEIVED, TaskStatus.RUNNING, TaskStatus.COMPLETED]
    assert script.status_reads == len(statuses)
    assert script.task_reads == 3
    assert server.count("GET", "/tasks/t1/stream") == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_status_route_that_lags_is_caught_up_by_periodic_full_reads(
    mode: str, fault: Start
) -> None:
    # The route never shows the end; the task itself completes at the second read.
    script = PolledTask([status(7, 0)], tasks=lambda reads: task(status=7 if reads < 2 else 10))
    server = fault(script.handler)
    result = call(
        mode,
        server.base_url,
        lambda c: c.tasks.wait_for_completion("t1", poll_interval=FAST),
    )
    assert result.status == TaskStatus.COMPLETED
    assert script.task_reads == 2
    assert script.status_reads == 12  # the first read, ten unchanged ones, then a full read


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "body",
    [{"id": "t1"}, {"id": "t1", "status": None, "updated_at": None}, {}, None],
    ids=["id-only", "nulls", "empty", "no-body"],
)
def test_a_status_route_that_omits_fields_means_a_full_read_every_poll(
    mode: str, body: Any, fault: Start
) -> None:
    reply = Reply.json(v3(body)) if body is not None else Reply(status=204)
    script = PolledTask([reply], tasks=lambda reads: task(status=7 if reads < 3 else 10))
    server = fault(script.handler)
    result = call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, poll_interval=FAST))
    assert result.status == TaskStatus.COMPLETED
    assert script.task_reads == script.status_reads == 3


@pytest.mark.parametrize("mode", MODES)
def test_a_status_that_says_done_too_early_is_checked_against_the_task(
    mode: str, fault: Start
) -> None:
    lying = [status(10, step) for step in range(20)]
    script = PolledTask(lying, tasks=lambda reads: task(status=7 if reads < 3 else 10))
    server = fault(script.handler)
    seen: list[TaskStatus] = []
    result = call(
        mode,
        server.base_url,
        lambda c: c.tasks.run(
            {"app": "a/b"}, poll_interval=FAST, on_update=lambda t: seen.append(t.status)
        ),
    )
    assert result.status == TaskStatus.COMPLETED
    assert seen == [TaskStatus.RUNNING, TaskStatus.COMPLETED]
    assert script.task_reads == 3


@pytest.mark.parametrize("mode", MODES)
def test_without_a_status_route_polling_reads_the_task(mode: str, fault: Start) -> None:
    missing = Reply.problem(404, "not_found", "no route")
    script = PolledTask([missing], tasks=lambda reads: task(status=7 if reads < 3 else 10))
    server = fault(script.handler)
    result = call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, poll_interval=FAST))
    assert result.status == TaskStatus.COMPLETED
    assert script.status_reads == 1 and script.task_reads == 3


@pytest.mark.parametrize("mode", MODES)
def test_a_task_that_does_not_exist_is_not_found_while_polling(mode: str, fault: Start) -> None:
    server = fault(lambda r: Reply.problem(404, "not_found", f"{r.path}: no such task"))
    with pytest.raises(Exception, match="no such task") as info:
        call(mode, server.base_url, lambda c: c.tasks.wait_for_completion("t9", poll_interval=1))
    assert type(info.value).__name__ == "NotFoundError"
    assert [r.path for r in server.requests] == ["/tasks/t9/status", "/tasks/t9"]


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_task_raises_as_when_streaming(mode: str, fault: Start) -> None:
    script = PolledTask([status(11, 0)], tasks=lambda reads: task(status=11, error="boom"))
    server = fault(script.handler)
    with pytest.raises(TaskFailedError, match="boom") as info:
        call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, poll_interval=FAST))
    assert info.value.task_id == "t1"


@pytest.mark.parametrize("mode", MODES)
def test_failed_polls_spend_the_reconnect_budget(mode: str, fault: Start) -> None:
    down = Reply.problem(503, "unavailable", "down")
    script = PolledTask([down])
    server = fault(script.handler)
    with pytest.raises(TaskStreamError, match="polling failed after 2 reconnects"):
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.wait_for_completion(
                "t1", poll_interval=FAST, max_reconnects=2, reconnect_delay_ms=0
            ),
            max_retries=0,
        )
    assert script.status_reads == 3


@pytest.mark.parametrize("mode", MODES)
def test_a_successful_poll_restores_the_budget(mode: str, fault: Start) -> None:
    down = Reply.problem(503, "unavailable", "down")
    flaky = [down, status(7, 0), down, status(7, 1), down, status(7, 2), down, status(10, 3)]
    script = PolledTask(flaky)
    server = fault(script.handler)
    result = call(
        mode,
        server.base_url,
        lambda c: c.tasks.wait_for_completion(
            "t1", poll_interval=FAST, max_reconnects=1, reconnect_delay_ms=0
        ),
        max_retries=0,
    )
    assert result.status == TaskStatus.COMPLETED
    assert script.status_reads == len(flaky)


@pytest.mark.parametrize("mode", MODES)
def test_auto_reconnect_false_gives_up_at_the_first_failed_poll(mode: str, fault: Start) -> None:
    script = PolledTask([Reply.problem(502, "bad_gateway", "down")])
    server = fault(script.handler)
    with pytest.raises(TaskStreamError, match="after 0 reconnects"):
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.wait_for_completion("t1", poll_interval=FAST, auto_reconnect=False),
            max_retries=0,
        )


@pytest.mark.parametrize("mode", MODES)
def test_a_poll_timeout_reads_the_task_once_more_then_raises(mode: str, fault: Start) -> None:
    script = PolledTask([status(7, 0)])
    server = fault(script.handler)
    with pytest.raises(WaitTimeoutError, match="t1"):
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.wait_for_completion("t1", timeout=0.2, poll_interval=FAST),
        )
    assert script.task_reads >= 2  # the first poll's read and the last read


@pytest.mark.parametrize("mode", MODES)
def test_a_streaming_client_polls_for_one_call_and_a_polling_client_for_all(
    mode: str, fault: Start
) -> None:
    script = PolledTask([status(10, 0)])
    server = fault(script.handler)
    call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}, poll_interval=FAST))
    call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}), stream=False)
    updates = call(
        mode,
        server.base_url,
        lambda c: collect(c.tasks.stream("t1")),
        stream=False,
        poll_interval=FAST,
    )
    assert [u.status for u in updates] == [TaskStatus.COMPLETED]
    assert server.count("GET", "/tasks/t1/stream") == 0
    assert script.status_reads == 3


@pytest.mark.parametrize("bad", [0, -1, "2", True, math.nan, math.inf, [1]])
def test_a_bad_poll_interval_is_refused_before_sending(
    bad: Any, offline: Inference, recorder: Recorder
) -> None:
    with pytest.raises(InvalidInputError, match="poll_interval must be a number of seconds > 0"):
        offline.tasks.run({"app": "a/b"}, poll_interval=bad)
    with pytest.raises(InvalidInputError, match="poll_interval"):
        offline.tasks.wait_for_completion("t1", poll_interval=bad)
    with pytest.raises(InvalidInputError, match="poll_interval"):
        Inference(api_key="k", base_url="http://127.0.0.1:9", poll_interval=bad)
    with pytest.raises(InvalidInputError, match="poll_interval"):
        AsyncInference(api_key="k", base_url="http://127.0.0.1:9", poll_interval=bad)
    assert recorder.requests == []


@pytest.mark.parametrize("bad", [0, -1, "2", True, math.nan, math.inf, 1e300, [1]])
def test_a_bad_timeout_is_refused_before_sending(
    bad: Any, offline: Inference, recorder: Recorder
) -> None:
    # nan passed a `timeout <= 0` check, and inf or 1e300 armed no wait (OverflowError).
    with pytest.raises(InvalidInputError, match="timeout must be a number of seconds > 0"):
        offline.tasks.wait_for_completion("t1", timeout=bad)
    assert recorder.requests == []


def test_stream_must_be_a_bool(offline: Inference) -> None:
    with pytest.raises(InvalidInputError, match="stream must be True or False"):
        Inference(api_key="k", base_url="http://127.0.0.1:9", stream="no")  # type: ignore[arg-type]


# Against the local runtime.


@pytest.fixture
def paths() -> list[str]:
    return []


@pytest.fixture
def polling(runtime: Any, paths: list[str]) -> Iterator[Inference]:
    http = httpx.Client(event_hooks={"request": [lambda r: paths.append(r.url.path)]})
    with Inference(
        api_key="inf_local",
        base_url=runtime.base_url,
        strict_responses=True,
        stream=False,
        poll_interval=FAST,
        http_client=http,
    ) as client:
        yield client
    http.close()


@pytest.fixture
async def apolling(runtime: Any, paths: list[str]) -> Any:
    async def record(request: httpx.Request) -> None:
        paths.append(request.url.path)

    http = httpx.AsyncClient(event_hooks={"request": [record]})
    async with AsyncInference(
        api_key="inf_local",
        base_url=runtime.base_url,
        strict_responses=True,
        stream=False,
        poll_interval=FAST,
        http_client=http,
    ) as client:
        yield client
    await http.aclose()


STREAM_APP = {"app": "infsh/stream", "input": {"text": "one two three", "delay": 0.02}}


def test_polling_the_local_runtime(polling: Inference, paths: list[str]) -> None:
    seen: list[TaskDTO] = []
    result = polling.tasks.run(STREAM_APP, on_update=seen.append)
    assert result.output["response"] == "one two three"
    assert seen[-1].status == TaskStatus.COMPLETED and seen[-1].output == result.output
    assert [t.status for t in seen] == sorted(t.status for t in seen)
    with polling.tasks.stream(result.id) as stream:
        assert [u.status for u in stream] == [TaskStatus.COMPLETED]
    assert f"/tasks/{result.id}/status" in paths
    assert not [path for path in paths if path.endswith("/stream")]


async def test_polling_the_local_runtime_async(apolling: AsyncInference, paths: list[str]) -> None:
    seen: list[TaskStatus] = []

    async def on_update(task: TaskDTO) -> None:
        seen.append(task.status)

    result = await apolling.tasks.run(STREAM_APP, on_update=on_update)
    assert result.output["response"] == "one two three"
    assert seen[-1] == TaskStatus.COMPLETED
    waited = await apolling.tasks.wait_for_completion(result.id, timeout=30)
    assert waited.id == result.id
    assert not [path for path in paths if path.endswith("/stream")]


async def test_a_polled_session_call(apolling: AsyncInference, paths: list[str]) -> None:
    async with await apolling.session("infsh/counter", input={"by": 2}) as session:
        seen: list[TaskStatus] = []
        result = await session.call("run", {"by": 3}, on_update=lambda t: seen.append(t.status))
        assert result.output["count"] == 5 and seen[-1] == TaskStatus.COMPLETED
    assert not [path for path in paths if path.endswith("/stream")]
