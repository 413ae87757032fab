"""Cursor lists, a task's files and its logs, through the generated client methods and pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from local_helpers import assert_problem

from inferencesh import AsyncInference, BadRequestError, Inference, log_text
from inferencesh._generated.models import TaskLogType, TaskStatus
from inferencesh.local import LocalRuntime

KEY = "inf_lists"
AGENT = {"core_app": {"ref": "infsh/scripted-llm"}, "name": "lister"}


@pytest.fixture(scope="module")
def lists_runtime() -> Iterator[LocalRuntime]:
    # Its own runtime: the tests count what is listed.
    with LocalRuntime(agent_token_delay=0.0) as rt:
        yield rt


@pytest.fixture
def client(lists_runtime: LocalRuntime) -> Iterator[Inference]:
    with Inference(api_key=KEY, base_url=lists_runtime.base_url, strict_responses=True) as c:
        yield c


@pytest.fixture(scope="module")
def echoes(lists_runtime: LocalRuntime) -> list[str]:
    """Five finished echo tasks, oldest first."""
    with Inference(api_key=KEY, base_url=lists_runtime.base_url) as c:
        return [c.tasks.run({"app": "infsh/echo", "input": {"n": n}}).id for n in range(5)]


def test_tasks_list_walks_every_page_newest_first(client: Inference, echoes: list[str]) -> None:
    first = client.tasks.list(limit=2)
    assert len(first.items) == 2 and first.has_next and first.next_cursor
    assert [task.id for task in first.items] == echoes[::-1][:2]
    walked = [task.id for task in client.tasks.list(limit=2)]
    assert walked[: len(echoes)] == echoes[::-1]
    pages = list(client.tasks.list(limit=2).iter_pages())
    assert [len(p.items) for p in pages][:2] == [2, 2] and not pages[-1].has_next
    assert not pages[0].has_previous and pages[1].has_previous


def test_tasks_list_sorts_filters_and_searches(client: Inference, echoes: list[str]) -> None:
    oldest = client.tasks.list(limit=5, sort=[{"field": "created_at", "dir": "asc"}])
    assert [task.id for task in oldest.items] == echoes
    inputs = client.tasks.list(filters=[{"field": "input.n", "operator": "gte", "value": 3}])
    assert sorted(task.input["n"] for task in inputs.items) == [3, 4]
    done = client.tasks.list(filters=[{"field": "status", "operator": "in", "value": [10]}])
    assert {task.status for task in done.items} == {TaskStatus.COMPLETED}
    found = client.tasks.list(search={"term": echoes[2][:10]})
    assert [task.id for task in found.items] == [echoes[2]]


async def test_tasks_list_pages_on_the_async_client(
    lists_runtime: LocalRuntime, echoes: list[str]
) -> None:
    async with AsyncInference(api_key=KEY, base_url=lists_runtime.base_url) as c:
        walked = [task.id async for task in c.tasks.list(limit=2)]
        assert walked[: len(echoes)] == echoes[::-1]
        first = await c.tasks.list(limit=3)
        second = await first.next_page()
        assert second is not None and [t.id for t in second.items][:2] == echoes[::-1][3:5]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"sort": [{"field": "status"}]}, "sort.0.field"),
        ({"filters": [{"field": "a b", "operator": "eq", "value": 1}]}, "filters.0.field"),
        ({"filters": [{"field": "status", "operator": "near", "value": 1}]}, "filters.0.operator"),
        ({"filters": [{"field": "status", "operator": "in", "value": 1}]}, "filters.0.value"),
    ],
)
def test_a_list_request_it_cannot_serve_is_refused_naming_the_field(
    lists_runtime: LocalRuntime, body: dict[str, Any], field: str
) -> None:
    with httpx.Client(base_url=lists_runtime.base_url) as http:
        response = http.post("/tasks/list", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert assert_problem(response, 400, "validation_error")["detail"].startswith(field)


def test_a_bad_limit_is_a_typed_error_on_the_client(client: Inference) -> None:
    with pytest.raises(BadRequestError, match="limit"):
        client.tasks.list(limit=500)


def test_files_list_pages_through_every_record(client: Inference) -> None:
    created = client.files.create(files=[{"uri": "", "filename": f"f{n}.txt"} for n in range(3)])
    names = [record.filename for record in client.files.list(limit=2)]
    assert names[:3] == ["f2.txt", "f1.txt", "f0.txt"]
    only = client.files.list(filters=[{"field": "filename", "operator": "like", "value": "f1%"}])
    assert [record.id for record in only.items] == [created[1].id]
    assert only.items[0].uri.startswith(created[1].uri.split("?")[0])


def test_apps_list_names_every_registered_app(client: Inference) -> None:
    refs = [f"{app.namespace}/{app.name}" for app in client.apps.list(limit=3)]
    assert "infsh/echo" in refs and "infsh/counter" in refs and len(refs) == len(set(refs))
    found = client.apps.list(search={"term": "counter", "exact": True})
    assert [app.name for app in found.items] == ["counter"]


def test_chats_list_pages_through_chats(client: Inference) -> None:
    made = [client.agents.run(agent_config=AGENT, input={"text": f"hello {n}"}) for n in range(3)]
    chat_ids = [sent.user_message.chat_id for sent in made if sent.user_message is not None]
    listed = [chat.id for chat in client.chats.list(limit=2)]
    assert listed[:3] == chat_ids[::-1]


def test_task_files_name_the_input_and_the_output(client: Inference, tmp_path: Any) -> None:
    source = tmp_path / "words.txt"
    source.write_text("quiet words")
    uploaded = client.files.upload(str(source))
    task = client.tasks.run({"app": "infsh/file", "input": {"file": uploaded.uri}})
    assert task.status == TaskStatus.COMPLETED
    files = client.tasks.files(task.id)
    roles = {entry.role.value: entry for entry in files if entry.role is not None}
    assert set(roles) == {"input", "output"}
    assert roles["input"].id == uploaded.id and roles["input"].filename == "words.txt"
    assert roles["output"].filename == "words-upper.txt" and roles["output"].size == 11
    assert httpx.get(str(roles["output"].uri)).content == b"QUIET WORDS"
    only = client.tasks.files(task.id, role="output")
    assert [entry.id for entry in only] == [roles["output"].id]
    deleted = client.tasks.delete_files(task.id, role="output")
    assert deleted.deleted == [roles["output"].id]
    assert [entry.role for entry in client.tasks.files(task.id)] == [roles["input"].role]


def test_task_logs_decode_to_the_apps_text(client: Inference) -> None:
    task = client.tasks.run({"app": "infsh/slow", "input": {"seconds": 0}})
    logs = client.tasks.logs(task.id)
    assert logs.task_id == task.id and logs.status == TaskStatus.COMPLETED
    assert [event.status for event in logs.events][-1] == TaskStatus.COMPLETED
    assert "sleeping 0.0 s" in log_text(logs, log_type=TaskLogType.TASK)
    assert log_text(logs, log_type=TaskLogType.BUILD) == ""
    assert log_text(client.tasks.get(task.id)) == log_text(logs)


def test_deleting_a_task_with_its_files_removes_them(client: Inference, tmp_path: Any) -> None:
    source = tmp_path / "gone.txt"
    source.write_text("gone")
    uploaded = client.files.upload(str(source))
    task = client.tasks.run({"app": "infsh/file", "input": {"file": uploaded.uri}})
    names = {entry.id for entry in client.tasks.files(task.id)}
    client.tasks.delete(task.id, files=True)
    remaining = {record.id for record in client.files.list(limit=100).items}
    assert names and not names & remaining
