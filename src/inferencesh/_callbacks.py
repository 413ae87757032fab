"""The run callbacks of a task: which of ``on_update``, ``on_partial_update`` and ``on_delta`` an
update calls, and with what. No I/O: the tasks' stream calls them (awaiting those that are
coroutines on the async client)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inferencesh._streaming import DeltaState

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskDTO

__all__ = [
    "DeltaCallback",
    "PartialUpdateCallback",
    "TaskCallbacks",
    "TaskDelta",
    "UpdateCallback",
]


@dataclass(frozen=True)
class TaskDelta:
    """A token delta of a task's output: ``delta`` as sent, ``output`` merged so far, ``seq``
    its sequence number (``None`` when the server sent none)."""

    task_id: str
    delta: dict[str, Any]
    output: dict[str, Any]
    seq: int | None
    caught_up: str = ""
    """Output text that reached this client in a task state rather than as a delta (sent before
    the stream opened, or while it reconnected), handed out ahead of this delta's text. When the
    task ends with text that no delta handed out, a last delta carries it here (``delta`` is
    then ``{}`` and ``seq`` ``None``)."""

    @property
    def text(self) -> str:
        """The output text new to this client: ``caught_up`` and then ``delta["response"]``.

        Joined, the ``text`` of every delta of a call is the task's ``output["response"]``.
        """
        value = self.delta.get("response")
        return self.caught_up + value if isinstance(value, str) else self.caught_up


UpdateCallback = Callable[["TaskDTO"], object]
"""``on_update``: called with every update of the task (the typed ``TaskDTO``)."""
PartialUpdateCallback = Callable[["TaskDTO", list[str]], object]
"""``on_partial_update``: called for a partial update, with the names of the fields it changed."""
DeltaCallback = Callable[[TaskDelta], object]
"""``on_delta``: called with each token delta of the task's output."""


_Call = tuple[Callable[..., object], tuple[Any, ...]]


class TaskCallbacks:
    """The run callbacks of one call; which of them an update calls, and with what."""

    __slots__ = ("_handed", "on_delta", "on_partial_update", "on_update")

    def __init__(
        self,
        on_update: UpdateCallback | None,
        on_partial_update: PartialUpdateCallback | None,
        on_delta: DeltaCallback | None,
    ) -> None:
        self.on_update = on_update
        self.on_partial_update = on_partial_update
        self.on_delta = on_delta
        self._handed = 0  # how much of the output's text on_delta has been handed

    def calls(
        self, task: TaskDTO, state: dict[str, Any]
    ) -> list[tuple[Callable[..., object], tuple[Any, ...]]]:
        """The callbacks an update calls, with their arguments, in order: ``on_delta`` for a
        token delta, ``on_partial_update`` for a partial update, then ``on_update``."""
        calls: list[_Call] = []
        if type(state) is DeltaState:
            if self.on_delta is not None:
                output: dict[str, Any] = state.get("output") or {}
                sent = state.delta.get("response")
                new = self._new_text(output)
                if not isinstance(sent, str):
                    caught_up = new
                else:  # the new text ends with the delta's own (the machine appended it)
                    caught_up = new[: len(new) - len(sent)] if new.endswith(sent) else ""
                delta = TaskDelta(task.id, state.delta, output, state.seq, caught_up)
                calls.append((self.on_delta, (delta,)))
        else:
            changed: frozenset[str] | None = getattr(state, "changed", None)
            if changed is not None and self.on_partial_update is not None:
                calls.append((self.on_partial_update, (task, sorted(changed))))
            if self.on_delta is not None and _terminal(state.get("status")):
                final = state.get("output")
                if isinstance(final, dict):
                    ended: dict[str, Any] = final  # pyright: ignore[reportUnknownVariableType]
                    rest = self._new_text(ended)
                    if rest:  # text no delta handed out: the stream opened late, or none came
                        calls.append((self.on_delta, (TaskDelta(task.id, {}, ended, None, rest),)))
        if self.on_update is not None:
            calls.append((self.on_update, (task,)))
        return calls

    def _new_text(self, output: dict[str, Any]) -> str:
        """The part of ``output["response"]`` not handed to ``on_delta`` yet (now handed)."""
        text = output.get("response")
        handed = self._handed
        if not isinstance(text, str) or len(text) <= handed:
            return ""
        # By length, not by comparing the text (that would cost the whole reply per token): the
        # text only grows, deltas append to it and a state holds at least what they sent.
        self._handed = len(text)
        return text[handed:]


def _terminal(status: Any) -> bool:
    from inferencesh._generated.models import TASK_STATUS_TERMINAL

    return status in TASK_STATUS_TERMINAL
