"""Stream updates are built when first used: whenever and however they are read, each is the
TaskDTO its state validates to, and none changes once handed out."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import random
import weakref
from typing import Any

import pytest

from inferencesh import TaskStream
from inferencesh._generated.models import TaskDTO, TaskStatus
from inferencesh._runtime.base import TOLERANT
from inferencesh._streaming import TaskStreamMachine
from inferencesh._task_updates import _TaskBuilder, _to_task

from .wire import task


def lines(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def delta(seq: int, **fields: Any) -> dict[str, Any]:
    return {"event": "delta", "data": {"delta": fields, "seq": seq}}


STREAM = lines(
    task(status=7, output={"response": "a"}, later="x"),
    {"data": {"status": 7, "output": {"progress": 1}}, "fields": ["status"]},
    {"data": {"status": "running", "note": "extra"}, "fields": ["status", "error"]},
    delta(1, response="b", tool_calls=[{"index": 0, "function": {"name": "f"}}]),
    delta(2, response="c"),
    {"data": {"error": "boom", "other": 2}, "fields": ["error", "other"]},
    {"data": {"workers": None, "output": None}, "fields": ["workers", "output"]},
    delta(3, reasoning="r"),
    {"data": {"status": 99}, "fields": ["status"]},
    task(status=10, output={"response": "done"}),
)


def states() -> list[dict[str, Any]]:
    return TaskStreamMachine().feed(STREAM)


def full(state: dict[str, Any], context: Any = TOLERANT) -> dict[str, Any]:
    """What a fully validated TaskDTO of ``state`` holds, everything pydantic keeps."""
    want = _to_task(state, context)
    return {
        "dump": want.model_dump(),
        "json": json.loads(want.model_dump_json()),
        "set": want.model_fields_set,
        "extra": want.__pydantic_extra__,
        "status": type(want.status),
    }


def seen(update: TaskDTO) -> dict[str, Any]:
    return {
        "dump": update.model_dump(),
        "json": json.loads(update.model_dump_json()),
        "set": update.model_fields_set,
        "extra": update.__pydantic_extra__,
        "status": type(update.status),
    }


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("context", [TOLERANT, None], ids=["tolerant", "strict"])
def test_updates_read_in_any_order_at_any_time_are_their_states(seed: int, context: Any) -> None:
    rng = random.Random(seed)
    build = _TaskBuilder(context).build
    given = states()
    updates: list[TaskDTO] = []
    for state in given:
        updates.append(build(state))
        if rng.random() < 0.4:  # some are read as they arrive, the rest later
            rng.choice(updates).status  # noqa: B018
    order = list(range(len(updates)))
    rng.shuffle(order)
    for index in order:
        assert seen(updates[index]) == full(given[index], context), index


def test_an_update_is_a_task_dto_in_every_respect() -> None:
    state = states()[1]
    update = _TaskBuilder().build(state)
    assert isinstance(update, TaskDTO)
    want = _to_task(state)
    assert update == want and want == update
    assert repr(update) == repr(want)
    update = _TaskBuilder().build(state)
    assert update.status is TaskStatus.RUNNING and update["later"] == "x" and "later" in update
    for made in (copy.copy(update), copy.deepcopy(update), update.model_copy()):
        assert made == want and made.__dict__ is not update.__dict__
    revived = pickle.loads(pickle.dumps(_TaskBuilder().build(state)))
    assert type(revived) is TaskDTO and revived == want
    assert update.to_dict() == want.to_dict() and list(update.keys()) == list(want.keys())


def test_assigning_to_an_update_changes_no_other() -> None:
    build = _TaskBuilder().build
    given = states()
    first = build(given[0])
    assert first.error is None  # built: the next update builds on it
    second = build(given[1])
    first.error = "mine"
    first.output = {"mine": True}
    assert second.error is None and second.output == {"progress": 1}
    assert "error" not in second.model_fields_set
    third = build(given[2])
    del first.error
    assert third.error is None and third.__pydantic_extra__ == {"later": "x", "note": "extra"}
    assert first.output == {"mine": True} and "error" in first.model_fields_set


def test_updates_handed_out_and_dropped_are_freed() -> None:
    many = lines(
        task(status=7), *({"data": {"output": {"n": i}}, "fields": ["output"]} for i in range(50))
    )
    stream = TaskStream(iter(TaskStreamMachine().feed(many)))
    refs = [weakref.ref(update) for update in stream]
    gc.collect()
    # The stream keeps its last update (result) and what that one builds on, nothing older.
    assert sum(ref() is not None for ref in refs) <= 3
    assert stream.result is not None and stream.result.output == {"n": 49}
