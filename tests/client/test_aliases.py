"""The client-level names of the official Python SDK 0.36 (``get_task``, ``cancel``,
``stream_task``, ``wait_for_completion``): aliases of the ``client.tasks`` methods, on both
clients, against the local runtime."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from inferencesh import AsyncInference, Inference, TaskFailedError, TaskStatus

SLOW = {"app": "infsh/slow", "input": {"seconds": 30}}
ECHO = {"app": "infsh/echo", "input": {"text": "hi"}}


def keyword_only(function: Callable[..., object]) -> set[str]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}


def test_aliases_take_what_their_tasks_methods_take() -> None:
    from inferencesh._async.tasks import AsyncTasks
    from inferencesh._generated.sync.tasks import Tasks
    from inferencesh._tasks import FollowOptions, RunOptions

    follow = set(FollowOptions.__annotations__)  # a TypedDict's keys, its bases' included
    aliases = {"get_task": "get", "cancel": "cancel"}
    followers = {
        "stream_task": ("stream", {"sse"}),
        "wait_for_completion": ("wait_for_completion", {"timeout"}),
    }
    for client, tasks in ((Inference, Tasks), (AsyncInference, AsyncTasks)):
        for alias, method in {**aliases, **{a: m for a, (m, _) in followers.items()}}.items():
            assert f"Alias of ``client.tasks.{method}``" in (getattr(client, alias).__doc__ or "")
        for alias, (method, own) in followers.items():
            # The alias names its own keywords and passes FollowOptions on: together they are
            # exactly the keywords of the tasks method.
            assert keyword_only(getattr(client, alias)) == own
            assert keyword_only(getattr(tasks, method)) == follow | own
        assert keyword_only(tasks.run) == set(RunOptions.__annotations__) | {"wait", "stream"}
        assert list(inspect.signature(client.cancel).parameters) == ["self", "task_id"]


def test_sync_aliases(client: Inference) -> None:
    done = client.tasks.run(ECHO)
    assert client.get_task(done.id).output == {"text": "hi"}
    assert client.wait_for_completion(done.id, timeout=30).id == done.id
    with client.stream_task(done.id) as stream:
        assert [u.status for u in stream] == [TaskStatus.COMPLETED]
    slow = client.tasks.run(SLOW, wait=False)
    client.cancel(slow.id)
    try:
        client.wait_for_completion(slow.id, timeout=60)
    except TaskFailedError as exc:
        assert exc.task.status == TaskStatus.CANCELLED
    else:
        raise AssertionError("a cancelled task completed")


async def test_async_aliases(aclient: AsyncInference) -> None:
    done = await aclient.tasks.run(ECHO)
    assert (await aclient.get_task(done.id)).output == {"text": "hi"}
    statuses: list[TaskStatus] = []
    waited = await aclient.wait_for_completion(
        done.id, on_update=lambda t: statuses.append(t.status)
    )
    assert waited.id == done.id and statuses == [TaskStatus.COMPLETED]
    async with aclient.stream_task(done.id) as stream:
        assert [u.status async for u in stream] == [TaskStatus.COMPLETED]
    slow = await aclient.tasks.run(SLOW, wait=False)
    await aclient.cancel(slow.id)
    try:
        await aclient.wait_for_completion(slow.id, timeout=60)
    except TaskFailedError as exc:
        assert exc.task.status == TaskStatus.CANCELLED
    else:
        raise AssertionError("a cancelled task completed")
