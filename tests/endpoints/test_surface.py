"""The client surface against the spec: every operation id of schema/openapi.yaml is a method of
``inference()`` and of ``async_inference()``, with the per-call options, and sync and async agree.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from tests.endpoints._spec import generated_operations, operations

from inferencesh import AsyncInference, Inference, async_inference, inference
from inferencesh._generated import params
from inferencesh._generated.resources.agents import AgentsResource, AsyncAgentsResource
from inferencesh._generated.resources.files import AsyncFilesResource, FilesResource
from inferencesh._generated.resources.tasks import AsyncTasksResource, TasksResource
from inferencesh._runtime import request
from inferencesh._runtime.request import OPTION_NAMES

OPTIONS = {"timeout", "extra_headers", "extra_query", "extra_body"}


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[Inference, AsyncInference]]:
    sync = inference(api_key="inf_test", base_url="http://127.0.0.1:9")
    asynchronous = async_inference(api_key="inf_test", base_url="http://127.0.0.1:9")
    yield sync, asynchronous
    sync.close()


def options_of(method: Any) -> set[str]:
    """The keys of the TypedDict a method's ``**`` parameter unpacks."""
    [kwargs] = [p for p in inspect.signature(method).parameters.values() if p.kind is p.VAR_KEYWORD]
    annotation = str(kwargs.annotation)
    assert annotation.startswith("Unpack["), annotation
    name = annotation.removeprefix("Unpack[").removesuffix("]")
    typed = getattr(params, name, None) or getattr(request, name)
    return set(typed.__annotations__)  # a TypedDict's annotations include its bases'


def test_the_option_names_are_the_documented_ones() -> None:
    assert OPTION_NAMES == OPTIONS


@pytest.mark.parametrize("op", generated_operations(), ids=str)
def test_every_operation_is_a_method_of_both_clients_with_the_options(
    clients: tuple[Inference, AsyncInference], op: Any
) -> None:
    sync, asynchronous = clients
    for client, is_async in ((sync, False), (asynchronous, True)):
        group = getattr(client, op.group)
        method = getattr(group, op.verb)
        raw = getattr(group.with_raw_response, op.verb)
        assert OPTIONS <= options_of(method), (op, is_async)
        assert OPTIONS <= options_of(raw), (op, is_async)
        pager = is_async and op.payload[0] == "cursor"
        assert inspect.iscoroutinefunction(method) is (is_async and not pager), op
        assert inspect.iscoroutinefunction(raw) is is_async, op
    sync_method = getattr(getattr(sync, op.group), op.verb)
    async_method = getattr(getattr(asynchronous, op.group), op.verb)
    assert list(inspect.signature(sync_method).parameters) == list(
        inspect.signature(async_method).parameters
    )


def test_the_task_stream_is_a_hand_written_method(
    clients: tuple[Inference, AsyncInference],
) -> None:
    assert "tasks.stream" in {op.operation_id for op in operations() if op.stream}
    for client in clients:
        assert callable(client.tasks.stream)


def test_every_group_is_a_cached_property_of_both_clients() -> None:
    for cls in (Inference, AsyncInference):
        for group in {op.group for op in operations()}:
            attribute = inspect.getattr_static(cls, group)
            assert isinstance(attribute, functools.cached_property), (cls, group)


@pytest.mark.parametrize(
    ("attribute", "sync_base", "async_base"),
    [
        ("tasks", TasksResource, AsyncTasksResource),
        ("files", FilesResource, AsyncFilesResource),
        ("agents", AgentsResource, AsyncAgentsResource),
    ],
)
def test_hand_written_groups_extend_the_generated_resource(
    clients: tuple[Inference, AsyncInference], attribute: str, sync_base: type, async_base: type
) -> None:
    sync, asynchronous = clients
    assert isinstance(getattr(sync, attribute), sync_base)
    assert isinstance(getattr(asynchronous, attribute), async_base)


def test_tasks_has_run_and_every_generated_task_operation(
    clients: tuple[Inference, AsyncInference],
) -> None:
    sync, asynchronous = clients
    verbs = {op.verb for op in generated_operations() if op.group == "tasks"}
    for tasks in (sync.tasks, asynchronous.tasks):
        for verb in verbs | {"run", "wait_for_completion", "stream"}:
            assert callable(getattr(tasks, verb)), verb
