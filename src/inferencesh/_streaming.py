"""Following a task or a chat, the part without I/O: machines, reconnect policy, polling.

``TaskStreamMachine`` takes bytes in and gives task states out. It knows the wire (NDJSON by
default, SSE when asked; heartbeats; full snapshots that replace the state; ``{data, fields}``
partials that merge into it; ``delta`` events that accumulate into the output). It and the chat
machine (``inferencesh._agents._machine``) decide what happens when a connection ends
(:class:`Step`); ``Reconnects`` holds the budget, the delays and the deadline, ``StatusWatch``
decides when polling must read the whole record. The one driver that does the I/O is
``inferencesh._async.follow`` (and its generated blocking twin).
"""

from __future__ import annotations

import copy
import enum
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from pydantic_core import from_json

from inferencesh._errors import (
    APIConnectionError,
    InternalServerError,
    InvalidResponseError,
    RateLimitError,
    TaskStreamError,
)
from inferencesh._json import json_array as _arr
from inferencesh._json import json_object as _obj
from inferencesh._logging import logger
from inferencesh._status import is_terminal_status, parse_status

if TYPE_CHECKING:
    from inferencesh._generated.models import ResourceStatusDTO
    from inferencesh._transport import StreamOptions

__all__ = [
    "RECOVERABLE",
    "AsyncStatusRead",
    "DeltaState",
    "Machine",
    "Reconnects",
    "StatusRead",
    "StatusWatch",
    "Step",
    "StreamFramer",
    "TaskState",
    "TaskStreamMachine",
    "merge_delta",
    "next_step",
]

# Drops and server hiccups that a reconnect can cure; anything else (401, 404, ...) is final.
RECOVERABLE = (APIConnectionError, InternalServerError, RateLimitError)


_CONCAT = "concat"
_INDEXED = "indexed"
_NESTED = "nested"
_REPLACE = "replace"
# Merge strategy per field of an LLM delta; anything not listed is replaced.
_DELTA_RULES: dict[str, str] = {
    "response": _CONCAT,
    "reasoning": _CONCAT,
    "tool_calls": _INDEXED,
    "function": _NESTED,
    "arguments": _CONCAT,
}


def merge_delta(target: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Merge one LLM delta into ``target`` in place (concat text, tool calls by index)."""
    for key, value in delta.items():
        if value is None:
            continue
        rule = _DELTA_RULES.get(key, _REPLACE)
        if rule == _CONCAT and isinstance(value, str):
            current = target.get(key)
            target[key] = current + value if isinstance(current, str) else value
        elif rule == _INDEXED and (items := _arr(value)) is not None:
            target[key] = _merge_indexed(_arr(target.get(key)) or [], items)
        elif rule == _NESTED and (nested := _obj(value)) is not None:
            target[key] = merge_delta(dict(_obj(target.get(key)) or {}), nested)
        else:
            target[key] = value
    return target


def _merge_indexed(current: list[Any], items: list[Any]) -> list[Any]:
    by_index: dict[Any, dict[str, Any]] = {}
    for position, value in enumerate(current):
        item = _obj(value)
        if item is not None:
            by_index[item.get("index", position)] = dict(item)
    for position, value in enumerate(items):
        item = _obj(value)
        if item is None:
            continue
        index = item.get("index", position)
        by_index[index] = merge_delta(by_index.get(index, {}), item)
    return [by_index[key] for key in sorted(by_index, key=_sort_key)]


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


class TaskState(dict[str, Any]):
    """A task state as a plain dict, plus the fields that changed since the previous state.

    ``changed`` is ``None`` for a full snapshot (anything may have changed).
    """

    __slots__ = ("changed",)
    changed: frozenset[str] | None


class DeltaState(TaskState):
    """A task state made by a token delta: ``delta`` as sent, with its sequence number."""

    __slots__ = ("delta", "seq")
    delta: dict[str, Any]
    seq: int | None


class StreamFramer:
    """Bytes in, decoded JSON messages out: NDJSON lines, or SSE events when ``sse`` is true.

    A named SSE event becomes ``{"event": name, "data": payload}``, the NDJSON shape, so readers
    handle one shape. Lines that are not JSON are skipped with a warning.
    """

    __slots__ = ("_buffer", "_sse_data", "_sse_event", "sse")

    def __init__(self, *, sse: bool = False) -> None:
        self.sse = sse
        self._buffer = b""
        self._sse_data: list[bytes] = []
        self._sse_event: str | None = None

    def feed(self, chunk: bytes) -> list[Any]:
        """Feed raw bytes; return the complete messages they finish, in order."""
        return list(self.messages(chunk))

    def messages(self, chunk: bytes) -> Iterator[Any]:
        """Like ``feed``, but each message is decoded as it is read: use them before the next
        chunk. A long chunk's messages then need not all be alive together."""
        lines = self.lines(chunk)
        return self._sse_messages(lines) if self.sse else _ndjson_messages(lines)

    def lines(self, chunk: bytes) -> list[bytes]:
        """The lines ``chunk`` completes (without their ``\\n``); the rest waits for more."""
        data = self._buffer + chunk if self._buffer else chunk
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        return lines

    def _sse_messages(self, lines: list[bytes]) -> Iterator[Any]:
        for line in lines:
            message = self._frame_sse(line.rstrip(b"\r"))
            if message is not None:
                yield message

    def reset(self) -> None:
        """The connection ended: drop any half-received line or event."""
        self._buffer = b""
        self._sse_data = []
        self._sse_event = None

    def _frame_sse(self, line: bytes) -> Any:
        if not line:
            if not self._sse_data:
                self._sse_event = None
                return None
            payload = _decode(b"\n".join(self._sse_data))
            event, self._sse_data, self._sse_event = self._sse_event, [], None
            if event and event != "message" and payload is not None:
                return {"event": event, "data": payload}
            return payload
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._sse_data.append(value)
        elif name == b"event":
            self._sse_event = value.decode("utf-8", "replace").strip()
        return None


def _ndjson_messages(lines: list[bytes]) -> Iterator[Any]:
    for line in lines:
        if line:
            message = _decode(line)
            if message is not None:
                yield message


# Digits of an integer: from_json reads up to 4300, json.loads up to Python's limit (0 for none;
# a Python before 3.10.7 has none). A limit, when there is one, is at least 640, so a line no
# longer than that cannot hold a number over it.
_FROM_JSON_DIGITS = 4300
_SHORTEST_LIMIT = 640
_max_int_digits: Callable[[], int] = getattr(sys, "get_int_max_str_digits", lambda: 0)


def _decode(raw: bytes) -> Any:
    """One NDJSON line as JSON; ``None`` for blank lines and (with a warning) for garbage."""
    # pydantic-core's parser: several times faster than json.loads, with the same results. Only
    # keys go to its process-wide string cache, so values (outputs, secrets) are not kept there.
    if len(raw) <= _SHORTEST_LIMIT or _from_json_reads(len(raw)):
        try:
            return from_json(raw, cache_strings="keys")
        except ValueError:
            pass
    return _decode_refused(raw)


def _decode_refused(raw: bytes) -> Any:
    """A line pydantic-core's parser did not read (or may not: a long number)."""
    if raw.isspace():
        return None
    # It refuses a few texts json.loads takes (lone surrogates, a byte order mark, UTF-16, deep
    # nesting): json.loads decides those, and what neither reads is skipped.
    try:
        return json.loads(raw)
    except ValueError:
        logger.warning("stream: skipped a line that is not JSON (%d bytes)", len(raw))
        return None


def _from_json_reads(size: int) -> bool:
    limit = _max_int_digits()
    return not 0 < limit < _FROM_JSON_DIGITS or size <= limit


class TaskStreamMachine:
    """Bytes in, task states out; no I/O.

    ``feed`` returns the new states to hand to the user (deduplicated: a reconnect's opening
    snapshot that repeats the last state is not handed out again). ``done`` turns true at the
    first terminal status. ``end_of_connection`` resets the framing for the next connection.
    A status that is not a number or a name raises ``InvalidResponseError`` naming
    ``operation``: without it the client cannot tell when the task ends.
    """

    def __init__(self, *, sse: bool = False, operation: str = "task stream") -> None:
        self.sse = sse
        self.operation = operation
        self.state: dict[str, Any] | None = None
        self.done = False
        self._framer = StreamFramer(sse=sse)
        # The accumulated LLM output; shared with a snapshot's output until a delta modifies it.
        self._delta_output: dict[str, Any] | None = None
        self._delta_owned = False
        self._last_seq: int | None = None
        self._emitted: dict[str, Any] | None = None
        self._stale = False  # the state moved without being emitted: next one is a full one

    @staticmethod
    def is_terminal(state: dict[str, Any]) -> bool:
        """True when ``state`` has a terminal status (an unknown status never is)."""
        return is_terminal_status(state.get("status"))

    # Framing.

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Feed raw bytes from the connection; return the states to emit, in order."""
        return list(self.updates(chunk))

    def updates(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        """Like ``feed``, but each message is decoded and applied as the states are read: use
        them before the next chunk. The drivers use this, so that a long chunk's messages and
        states need not all be alive together (each one the garbage collector would visit)."""
        if self.done:
            return iter(())
        if self.sse:
            return self._updates(self._framer.messages(chunk))
        return self._ndjson_updates(self._framer.lines(chunk))

    def _ndjson_updates(self, lines: list[bytes]) -> Iterator[dict[str, Any]]:
        # The hot loop of a stream: framing, decoding and applying in one frame, with the common
        # cases of _decode (a short line pydantic-core reads) and of handle (a partial update or
        # a delta) inline; everything else goes through handle.
        handle, partial, delta = self.handle, self._partial, self._delta
        for line in lines:
            if not line:
                continue
            if len(line) <= _SHORTEST_LIMIT:
                try:
                    message = from_json(line, cache_strings="keys")
                except ValueError:
                    message = _decode_refused(line)
            else:
                message = _decode(line)
            if (
                type(message) is dict
                and "type" not in message
                and type(data := message.get("data")) is dict  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType, reportUnknownArgumentType]
            ):
                event = message.get("event")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if event is None and "fields" in message:
                    update = partial(data, message["fields"])  # pyright: ignore[reportUnknownArgumentType]
                elif event == "delta":
                    update = delta(data)  # pyright: ignore[reportUnknownArgumentType]
                else:
                    update = handle(message)
            else:
                update = handle(message)
            if update is not None:
                yield update
            if self.done:
                return

    def _updates(self, messages: Iterator[Any]) -> Iterator[dict[str, Any]]:
        for message in messages:
            update = self.handle(message)
            if update is not None:
                yield update
                if self.done:
                    return

    def end_of_connection(self) -> None:
        """The connection ended: drop any half-received line or event."""
        self._framer.reset()
        self._last_seq = None

    def ended(self, expired: bool, reconciled: bool) -> Step:
        """What the driver does now that a connection ended (see :func:`next_step`)."""
        return next_step(self.done, expired, reconciled)

    # Messages.

    def handle(self, decoded: Any) -> dict[str, Any] | None:
        """Apply one decoded message; return the new state if it is worth emitting."""
        if not isinstance(decoded, dict) or self.done:
            return None
        # No cast() calls on this path: it runs once per streamed line.
        message: dict[str, Any] = decoded  # pyright: ignore[reportUnknownVariableType]
        if message.get("type") == "heartbeat":
            return None
        data = message.get("data")
        event = message.get("event")
        if event is None:
            if "fields" in message and isinstance(data, dict):
                return self._partial(data, message["fields"])  # pyright: ignore[reportUnknownArgumentType]
            return self._snapshot(message)
        if not isinstance(data, dict):
            return None
        if event == "delta":
            return self._delta(data)  # pyright: ignore[reportUnknownArgumentType]
        if event in ("task", "tasks"):
            fields = message.get("fields")
            return self._partial(data, fields) if fields else self._snapshot(data)  # pyright: ignore[reportUnknownArgumentType]
        return None

    def reconcile(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """Adopt a task read with ``GET /tasks/{id}`` after a stream ended early.

        Only a terminal state is emitted: any other change shows up in the opening snapshot of
        the next connection, and emitting it here too would hand the same state out twice.
        """
        emitted = self._emitted
        update = self._snapshot(task)
        if not self.done:
            self._emitted = emitted
            self._stale = True
            return None
        return update

    def adopt(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """Adopt a task read with ``GET /tasks/{id}`` while polling; the new state if it
        differs from the last one handed out."""
        if self.done:
            return None
        return self._snapshot(task)

    def _snapshot(self, task: dict[str, Any]) -> dict[str, Any] | None:
        state = TaskState(task)
        state.changed = None
        output = state.get("output")
        if output and isinstance(output, dict):
            # The server's view of the output includes every delta sent before this snapshot.
            self._delta_output = output  # pyright: ignore[reportUnknownMemberType]
            self._delta_owned = False
        elif output is None and self._delta_output is not None:
            state["output"] = dict(self._delta_output)
        self.state = state
        return self._emit(state, state != self._emitted)

    def _partial(self, data: dict[str, Any], fields: Any) -> dict[str, Any] | None:
        previous = self.state
        if previous is None:
            state = TaskState(data)
        else:
            state = TaskState(previous)
            state.update(data)
        changed = frozenset(data)
        if type(fields) is list:
            listed: list[Any] = fields  # pyright: ignore[reportUnknownVariableType]
            for name in listed:
                if isinstance(name, str) and name not in data:
                    state[name] = None
                    changed = changed | {name}
        output = data.get("output")
        if output and isinstance(output, dict):
            self._delta_output = output  # pyright: ignore[reportUnknownMemberType]
            self._delta_owned = False
        elif self._delta_output is not None and state.get("output") is None:
            state["output"] = dict(self._delta_output)
            changed = changed | _OUTPUT
        self.state = state
        emitted = self._emitted
        if previous is None or previous is not emitted or self._stale:
            state.changed = changed if previous is not None and not self._stale else None
            return self._emit(state, state != emitted)
        state.changed = changed
        # The usual case: the last state was handed out, and only what this update names can
        # differ from it.
        status = state.get("status")
        if status is previous.get("status"):
            # The very status object read before (a running task repeats it): read already,
            # and not terminal, or the stream would have ended.
            for key in changed:
                if state[key] != previous.get(key):
                    self._emitted = state
                    return state
            return None
        differs = False
        for key in changed:
            if state[key] != previous.get(key):
                differs = True
                break
        return self._emit(state, differs)

    def _delta(self, data: dict[str, Any]) -> dict[str, Any] | None:
        seq = data.get("seq")
        if isinstance(seq, int):
            last_seq = self._last_seq
            if last_seq is not None and seq <= last_seq:
                return None
            self._last_seq = seq
        raw = data.get("delta")
        if not isinstance(raw, dict):
            return None
        delta: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        accumulated = self._delta_output
        if not self._delta_owned or accumulated is None:
            accumulated = copy.deepcopy(accumulated) if accumulated else {}
            self._delta_output, self._delta_owned = accumulated, True
        text = delta.get("response")
        if type(text) is str and len(delta) == 1:  # the usual token: a piece of the reply
            current = accumulated.get("response")
            accumulated["response"] = current + text if isinstance(current, str) else text
        else:
            merge_delta(accumulated, delta)
        previous = self.state
        state = DeltaState() if previous is None else DeltaState(previous)
        if "id" not in state and isinstance(data.get("resource_id"), str):
            state["id"] = data["resource_id"]
        state.delta = delta
        state.seq = seq if type(seq) is int else None
        state["output"] = {**accumulated}
        if previous is not None and not self._stale and "id" in previous:
            state.changed = _OUTPUT
        else:
            state.changed = None
        self._stale = False
        self.state = state
        self._emitted = state
        return state

    def _emit(self, state: TaskState, differs: bool) -> dict[str, Any] | None:
        raw = state.get("status")
        info = _STATUS_CACHE.get(raw) if type(raw) in _CACHED_TYPES else None
        if info is None:
            info = _status_info(raw, self.operation)
        normal, terminal = info
        if normal is not raw:
            state["status"] = normal
            differs = state != self._emitted
        if terminal:
            self.done = True
        if not differs:
            return None
        self._stale = False
        self._emitted = state
        return state


_OUTPUT = frozenset({"output"})
# status as sent -> (status as handed out, is it terminal); exact ints and strs only, so that
# True is not taken for 1.
_STATUS_CACHE: dict[Any, tuple[Any, bool]] = {}
_CACHED_TYPES = (int, str)


def _status_info(raw: Any, operation: str) -> tuple[Any, bool]:
    """``(status as sent, or its number when sent as a known name; is it terminal)``."""
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, (int, str))):
        raise InvalidResponseError(
            f"{operation}: an update's status is a {type(raw).__name__}, not a task status; "
            "the client cannot tell whether the task ended",
            status_code=200,
        )
    from inferencesh._generated.models import TASK_STATUS_TERMINAL

    status = parse_status(raw)
    normal = raw
    if isinstance(raw, str) and status is not None and status.name.lower() == raw.lower():
        # One spelling per status, so a GET and a stream line describing the same state match.
        normal = int(status)
    info = (normal, status is not None and status in TASK_STATUS_TERMINAL)
    if type(raw) in _CACHED_TYPES and len(_STATUS_CACHE) < 1024:
        _STATUS_CACHE[raw] = info
    return info


class Step(enum.Enum):
    """What a driver does when a connection ends."""

    DONE = "done"
    """The machine saw the end (a terminal task, a finished turn): stop."""
    EXPIRED = "expired"
    """The caller's deadline passed: stop; the caller decides (a last read, a timeout error)."""
    RECONCILE = "reconcile"
    """Read the record with a GET (the stream may have missed the end), then ask again."""
    RECONNECT = "reconnect"
    """Wait the reconnect delay (spending the budget) and open a new connection."""


def next_step(done: bool, expired: bool, reconciled: bool) -> Step:
    """The rule both machines follow: done, else out of time, else read the record once, else
    reconnect."""
    if done:
        return Step.DONE
    if expired:
        return Step.EXPIRED
    return Step.RECONNECT if reconciled else Step.RECONCILE


class Machine(Protocol):
    """What the driver needs of a machine: bytes in, events out, and the decisions."""

    @property
    def done(self) -> bool:
        """True once the machine saw the end of what it follows."""
        ...

    def updates(self, chunk: bytes) -> Iterable[Any]:
        """The events a chunk of the stream completes; use each before the next chunk."""
        ...

    def end_of_connection(self) -> None:
        """The connection ended: drop what a half-received line left."""
        ...

    def ended(self, expired: bool, reconciled: bool) -> Step:
        """What to do now that a connection ended (``reconciled``: after the GET)."""
        ...


class Reconnects:
    """The driver-independent part of reconnecting: budget, delays and the deadline.

    Failures (dropped connections, failed polls) count against ``max_reconnects`` and any
    progress resets the count. ``give_up(reason, failures)`` builds the exception raised when the
    budget is spent; by default a ``TaskStreamError`` naming ``what``.
    """

    def __init__(
        self,
        what: str,
        options: StreamOptions,
        deadline: float | None,
        give_up: Callable[[str, int], Exception] | None = None,
    ) -> None:
        self.what = what
        self.options = options
        self.deadline = deadline
        self.failures = 0
        self._give_up = give_up or self._task_error

    def _task_error(self, reason: str, failures: int) -> Exception:
        if self.options.poll_interval is not None:
            return TaskStreamError(
                f"{self.what}: polling failed after {failures} reconnects ({reason})"
            )
        return TaskStreamError(
            f"{self.what}: the stream ended without a terminal status after "
            f"{failures} reconnects ({reason})"
        )

    def idle_timeout(self) -> float | None:
        """The read timeout of a stream connection: the idle timeout, or less near the deadline."""
        idle = self.options.idle_timeout
        if self.deadline is None:
            return idle
        remaining = max(0.001, self.deadline - time.monotonic())
        return remaining if idle is None else min(idle, remaining)

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def progress(self) -> None:
        """Something arrived: the budget starts again."""
        self.failures = 0

    def next_delay(self, reason: str) -> float:
        """Seconds to wait before reconnecting; raises when the budget is spent."""
        if not self.options.auto_reconnect or self.failures >= self.options.max_reconnects:
            raise self._give_up(reason, self.failures)
        self.failures += 1
        return self._until_deadline(self.options.reconnect_delay)

    def poll_delay(self) -> float:
        """Seconds to wait before the next poll (never past the deadline)."""
        return self._until_deadline(self.options.poll_interval or 0.0)

    def _until_deadline(self, delay: float) -> float:
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        return delay


StatusRead = Callable[[], "ResourceStatusDTO"]
"""A status read of the record a poll follows (``GET /tasks/{id}/status`` or the chat's)."""
AsyncStatusRead = Callable[[], Awaitable["ResourceStatusDTO"]]
"""The same, awaited."""

# Polling reads the whole record after this many status reads that showed no change, in case
# the status endpoint lags behind (or lies).
_FULL_READ_EVERY = 10


class StatusWatch:
    """Polling: decides from a status read (``GET /tasks/{id}/status`` or the chat's) whether
    the whole record must be read.

    It must when the status or its update time changed, when either is missing (a server that
    omits them cannot be trusted to show a change), every ``_FULL_READ_EVERY``-th unchanged read,
    and for every poll once the status route turned out not to exist (``without_status``).
    """

    __slots__ = ("_last", "_quiet", "uses_status")

    def __init__(self) -> None:
        self._last: tuple[Any, Any] | None = None
        self._quiet = 0
        self.uses_status = True

    def without_status(self) -> None:
        """The server has no status route: read the whole record on every poll."""
        self.uses_status = False

    def changed(self, status: ResourceStatusDTO) -> bool:
        """True when the whole record must be read after this status read."""
        sent = status.model_fields_set
        value = status.status if "status" in sent else None
        when = status.updated_at if "updated_at" in sent else None
        key = (_status_key(value), when)
        if value is None or when is None or key != self._last or self._quiet >= _FULL_READ_EVERY:
            self._last = key
            self._quiet = 0
            return True
        self._quiet += 1
        return False


def _status_key(value: Any) -> Any:
    """One spelling per status (``10``, ``"completed"`` and ``TaskStatus.COMPLETED`` agree)."""
    raw = getattr(value, "value", value)
    if isinstance(raw, str) and not raw.isdigit():
        status = parse_status(raw)
        if status is not None and status.is_known:
            return int(status)
        return raw.lower()
    return raw
