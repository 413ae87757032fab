"""The run callbacks of a task: which of ``on_update``, ``on_partial_update`` and ``on_delta`` an
update calls, and with what. No I/O: the tasks' stream calls them (awaiting those that are
coroutines on the async client)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inferencesh._errors import InvalidInputError
from inferencesh._streaming import DeltaState

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskDTO

__all__ = [
    "DeltaCallback",
    "PartialUpdateCallback",
    "TaskCallbacks",
    "TaskDelta",
    "UpdateCallback",
    "task_callbacks",
]


@dataclass(frozen=True)
class TaskDelta:
    """A token delta of a task's output: ``delta`` as sent, ``output`` merged so far, ``seq``
    its sequence number (``None`` when the server sent none)."""

    task_id: str
    delta: dict[str, Any]
    output: dict[str, Any]
    seq: int | None

    @property
    def text(self) -> str:
        """The new text of this delta (``delta["response"]``), or ``""``."""
        value = self.delta.get("response")
        return value if isinstance(value, str) else ""


UpdateCallback = Callable[["TaskDTO"], object]
"""``on_update``: called with every update of the task (the typed ``TaskDTO``)."""
PartialUpdateCallback = Callable[["TaskDTO", list[str]], object]
"""``on_partial_update``: called for a partial update, with the names of the fields it changed."""
DeltaCallback = Callable[[TaskDelta], object]
"""``on_delta``: called with each token delta of the task's output."""


_Call = tuple[Callable[..., object], tuple[Any, ...]]


class TaskCallbacks:
    """The run callbacks of one call; which of them an update calls, and with what."""

    __slots__ = ("on_delta", "on_partial_update", "on_update")

    def __init__(
        self,
        on_update: UpdateCallback | None,
        on_partial_update: PartialUpdateCallback | None,
        on_delta: DeltaCallback | None,
    ) -> None:
        self.on_update = on_update
        self.on_partial_update = on_partial_update
        self.on_delta = on_delta

    def calls(
        self, task: TaskDTO, state: dict[str, Any]
    ) -> list[tuple[Callable[..., object], tuple[Any, ...]]]:
        """The callbacks an update calls, with their arguments, in order: ``on_delta`` for a
        token delta, ``on_partial_update`` for a partial update, then ``on_update``."""
        calls: list[_Call] = []
        if type(state) is DeltaState:
            if self.on_delta is not None:
                delta = TaskDelta(task.id, state.delta, state.get("output") or {}, state.seq)
                calls.append((self.on_delta, (delta,)))
        else:
            changed: frozenset[str] | None = getattr(state, "changed", None)
            if changed is not None and self.on_partial_update is not None:
                calls.append((self.on_partial_update, (task, sorted(changed))))
        if self.on_update is not None:
            calls.append((self.on_update, (task,)))
        return calls


def task_callbacks(
    on_update: UpdateCallback | None,
    on_partial_update: PartialUpdateCallback | None,
    on_delta: DeltaCallback | None,
    *,
    follows: bool = True,
) -> TaskCallbacks | None:
    """The callbacks of a call, checked before anything is sent; ``None`` without any.
    ``follows`` is false for ``run(wait=False)``, which hands out no updates to call them with."""
    given = {"on_update": on_update, "on_partial_update": on_partial_update, "on_delta": on_delta}
    for name, callback in given.items():
        if callback is not None and not callable(callback):
            raise InvalidInputError(f"{name} must be a function, got {type(callback).__name__}")
    if all(callback is None for callback in given.values()):
        return None
    if not follows:
        named = ", ".join(name for name, callback in given.items() if callback is not None)
        raise InvalidInputError(
            f"{named}: callbacks need a call that follows the task (wait=True or stream=True), "
            "not wait=False"
        )
    return TaskCallbacks(on_update, on_partial_update, on_delta)
