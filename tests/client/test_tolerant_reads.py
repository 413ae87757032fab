"""A 2xx body that omits fields the schema calls required is read as Go zero values.

A loopback server answers like a server of another version (or a redacting gateway) would: the
fields named in the issue are missing from every task, file and created-task record, in each
envelope generation and in stream updates. The default client reads them; a strict client
refuses exactly those bodies.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from inferencesh import FileUploadError, InferenceError, InvalidResponseError
from inferencesh.types import ContentRating, FileDTO, TaskDTO, TaskResultDTO, TaskStatus

from .drive import MODES, call, collect
from .fault_server import FaultServer, Handler, Reply, Request
from .wire import created, file_record, task

Start = Callable[[Handler], FaultServer]

TASK_OMITTED = ("user_public_key", "engine_public_key", "is_featured", "rating")
FILE_OMITTED = ("short_id", "category", "remote_path", "team_id", "user_id", "visibility")
CREATED_OMITTED = ("status_text",)
ENVELOPES: dict[str, Callable[[Any], Any]] = {
    "v1": lambda data: {"success": True, "status": 200, "data": data, "error": None},
    "bare": lambda data: data,
    "v3": lambda data: {"data": data, "messages": []},
}


def without(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in names}


def lines(*objects: Any) -> list[bytes]:
    return [json.dumps(o).encode() + b"\n" for o in objects]


class SparseServer:
    """Answers run, get, stream and file upload with the issue's fields left out."""

    def __init__(self, envelope: str) -> None:
        self.wrap = ENVELOPES[envelope]
        self.base = ""
        self.stream_lines = lines(
            without(task(status=7), TASK_OMITTED),
            {"data": {"status": 7, "output": {"step": 1}}, "fields": ["status", "output"]},
            {"event": "delta", "data": {"delta": {"response": "hi"}, "seq": 1}},
            without(task(status=10, output={"response": "hi"}), TASK_OMITTED),
        )

    def handler(self, request: Request) -> Reply:
        if request.path == "/apps/run":
            return Reply.json(self.wrap(without(created(), CREATED_OMITTED)))
        if request.path == "/tasks/t1/stream":
            return Reply(headers={"content-type": "application/x-ndjson"}, chunks=self.stream_lines)
        if request.path == "/tasks/t1":
            return Reply.json(self.wrap(without(task(status=10), TASK_OMITTED)))
        if request.path == "/files":
            record = without(file_record(f"{self.base}/bucket/1"), FILE_OMITTED)
            return Reply.json(self.wrap([record]))
        if request.path.startswith("/bucket/"):
            return Reply(status=200)
        return Reply.problem(404, "not_found", request.path)


@pytest.fixture(params=list(ENVELOPES))
def sparse(request: pytest.FixtureRequest, fault: Start) -> tuple[SparseServer, FaultServer]:
    script = SparseServer(str(request.param))
    server = fault(script.handler)
    script.base = server.base_url
    return script, server


def assert_task_zero_values(value: TaskDTO) -> None:
    assert isinstance(value, TaskDTO)
    assert value.user_public_key is None and value.engine_public_key is None
    assert value.is_featured is False
    assert isinstance(value.rating, ContentRating) and value.rating.value == ""
    # Filled in, not sent: what the server sent is still told apart.
    assert not set(TASK_OMITTED) & set(value.to_dict())
    assert not set(TASK_OMITTED) & value.model_fields_set


@pytest.mark.parametrize("mode", MODES)
def test_run_and_get_read_records_with_missing_fields(
    mode: str, sparse: tuple[SparseServer, FaultServer]
) -> None:
    _, server = sparse

    def scenario(c: Any) -> Any:
        async def both() -> tuple[Any, Any]:
            return await c.tasks.run({"app": "a/b"}, wait=False), await c.tasks.get("t1")

        if mode == "async":
            return both()
        return c.tasks.run({"app": "a/b"}, wait=False), c.tasks.get("t1")

    created_task, got = call(mode, server.base_url, scenario)
    assert isinstance(created_task, TaskResultDTO)
    assert created_task.id == "t1" and created_task.status_text == ""
    assert created_task.status is TaskStatus.RECEIVED
    assert_task_zero_values(got)
    assert got.status is TaskStatus.COMPLETED


@pytest.mark.parametrize("mode", MODES)
def test_stream_updates_read_records_with_missing_fields(
    mode: str, sparse: tuple[SparseServer, FaultServer]
) -> None:
    _, server = sparse
    updates = call(
        mode,
        server.base_url,
        lambda c: collect(c.tasks.run({"app": "a/b"}, stream=True, reconnect_delay_ms=0)),
    )
    assert [u.status for u in updates] == [7, 7, 7, 10]
    outputs = [None, {"step": 1}, {"step": 1, "response": "hi"}, {"response": "hi"}]
    assert [u.output for u in updates] == outputs
    for update in updates:
        assert_task_zero_values(update)


@pytest.mark.parametrize("mode", MODES)
def test_wait_reads_records_with_missing_fields(
    mode: str, sparse: tuple[SparseServer, FaultServer]
) -> None:
    _, server = sparse
    result = call(mode, server.base_url, lambda c: c.tasks.run({"app": "a/b"}))
    assert_task_zero_values(result)
    assert result.output == {"response": "hi"}


@pytest.mark.parametrize("mode", MODES)
def test_file_upload_reads_records_with_missing_fields(
    mode: str, sparse: tuple[SparseServer, FaultServer]
) -> None:
    _, server = sparse
    record = call(mode, server.base_url, lambda c: c.files.upload(b"hello"))
    assert isinstance(record, FileDTO)
    assert record.uri == "https://files.example/f1"
    for name in ("short_id", "category", "remote_path", "team_id", "user_id"):
        assert getattr(record, name) == ""
    assert record.visibility.value == ""
    assert not set(FILE_OMITTED) & set(record.to_dict())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("operation", "missing"),
    [
        (lambda c: c.tasks.run({"app": "a/b"}, wait=False), "status_text"),
        (lambda c: c.tasks.get("t1"), "is_featured"),
        (lambda c: c.files.upload(b"hello"), "category"),
    ],
    ids=["run", "get", "upload"],
)
def test_strict_clients_refuse_missing_required_fields(
    mode: str,
    sparse: tuple[SparseServer, FaultServer],
    operation: Callable[[Any], Any],
    missing: str,
) -> None:
    _, server = sparse
    with pytest.raises(InferenceError, match=missing) as info:
        call(mode, server.base_url, operation, strict_responses=True)
    # An upload reports which file failed; the cause is the same refusal.
    refusal = info.value.__cause__ if isinstance(info.value, FileUploadError) else info.value
    assert isinstance(refusal, InvalidResponseError)


def test_strict_responses_must_be_a_bool() -> None:
    from inferencesh import InvalidInputError, inference

    with pytest.raises(InvalidInputError, match="strict_responses"):
        inference(api_key="k", base_url="http://127.0.0.1:9", strict_responses="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strict", [False, True], ids=["tolerant", "strict"])
@pytest.mark.parametrize("task_id", [None, "", 42], ids=["absent", "empty", "number"])
def test_a_created_task_without_an_id_is_refused(
    mode: str, strict: bool, task_id: Any, fault: Start
) -> None:
    body = without(created(), ("id",)) if task_id is None else {**created(), "id": task_id}
    server = fault(lambda r: Reply.json(body))
    with pytest.raises(InvalidResponseError) as info:
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.run({"app": "a/b"}, wait=False),
            strict_responses=strict,
        )
    assert "POST /apps/run" in str(info.value) and "id" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [{"code": 7}, [7], 7.5, True], ids=str)
def test_a_stream_update_with_an_unreadable_status_is_refused(
    mode: str, status: Any, fault: Start
) -> None:
    chunks = lines(task(status=7), {"data": {"status": status}, "fields": ["status"]})

    def handler(request: Request) -> Reply:
        if request.path == "/tasks/t1/stream":
            return Reply(headers={"content-type": "application/x-ndjson"}, chunks=chunks)
        return Reply.json(task(status=7))

    server = fault(handler)
    with pytest.raises(InvalidResponseError) as info:
        call(mode, server.base_url, lambda c: collect(c.tasks.stream("t1")))
    assert "GET /tasks/t1/stream" in str(info.value) and "status" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_values_of_the_wrong_type_are_kept_as_sent(
    mode: str, fault: Start, caplog: pytest.LogCaptureFixture
) -> None:
    body = task(status=10, is_featured="maybe", app_id=12, events="none", created_at=[1])
    server = fault(lambda r: Reply.json(body))
    caplog.set_level(logging.DEBUG, logger="inferencesh")
    got = call(mode, server.base_url, lambda c: c.tasks.get("t1"))
    assert (got.is_featured, got.app_id, got.events, got.created_at) == ("maybe", 12, "none", [1])
    assert got.status is TaskStatus.COMPLETED and got.rating is ContentRating.CONTENT_SAFE
    kept = {r.getMessage() for r in caplog.records if "kept TaskDTO." in r.getMessage()}
    assert {m.split("kept ")[1].split(" ")[0] for m in kept} == {
        "TaskDTO.is_featured",
        "TaskDTO.app_id",
        "TaskDTO.events",
        "TaskDTO.created_at",
    }
    with pytest.raises(InvalidResponseError, match="is_featured"):
        call(mode, server.base_url, lambda c: c.tasks.get("t1"), strict_responses=True)


def test_the_machine_refuses_an_unreadable_status_and_reads_an_unknown_name() -> None:
    from inferencesh import TaskStream
    from inferencesh._streaming import TaskStreamMachine

    machine = TaskStreamMachine(operation="GET /tasks/t9/stream")
    assert machine.feed(b"".join(lines(task(status="running"))))[0]["status"] == 7
    assert machine.feed(b"".join(lines(task(status="exploded"))))[0]["status"] == "exploded"
    assert not machine.done
    partial = {"data": {"status": "exploded"}, "fields": ["status"]}
    states = TaskStreamMachine().feed(b"".join(lines(task(status=7), partial)))
    assert [u.status for u in TaskStream(iter(states))] == [
        TaskStatus.RUNNING,
        TaskStatus.UNKNOWN,
    ]
    with pytest.raises(InvalidResponseError, match=r"GET /tasks/t9/stream: .*status is a dict"):
        machine.feed(b"".join(lines({"data": {"status": {}}, "fields": ["status"]})))
