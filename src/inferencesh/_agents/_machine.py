"""The chat turn, written once: a sans-I/O state machine fed with chat stream bytes.

``ChatMachine`` reads ``GET /chats/{id}/stream`` (NDJSON or SSE; heartbeats; ``chats``,
``chat_messages``, ``agent_runs`` and ``delta`` events, each a snapshot or a ``{data, fields}``
partial), keeps the merged chat and message states, accumulates deltas per message, and says
what the drivers must do: hand out a changed message, a delta, a tool call that waits for the
client or for approval. It also decides when the turn is finished (the turn gate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from inferencesh._generated.models import CHAT_MESSAGE_STATUS_TERMINAL
from inferencesh._json import json_array as _arr
from inferencesh._json import json_object as _obj
from inferencesh._streaming import Step, StreamFramer, merge_delta, next_step

__all__ = [
    "ApprovalWaiting",
    "ChatChanged",
    "ChatMachine",
    "DeltaReceived",
    "MachineEvent",
    "MessageChanged",
    "ToolWaiting",
    "chat_is_busy",
    "message_text",
]

# Run states that keep the turn open. Unknown states count as busy: a state added upstream must
# never end a turn early.
_RUN_DONE = frozenset({"completed", "failed", "canceled", "cancelled", "rejected", "auth_required"})
_CHAT_IDLE = frozenset({"idle", "completed"})
# Finished message statuses as wire values, declared in schema/overrides.yaml (`terminal`).
_MESSAGE_DONE = frozenset(str(status.value) for status in CHAT_MESSAGE_STATUS_TERMINAL)
# Older servers mark a client tool that waits for its result `in_progress`.
_CLIENT_WAITING = frozenset({"awaiting_input", "in_progress"})
_APPROVAL_WAITING = "awaiting_approval"


@dataclass(frozen=True)
class ChatChanged:
    """The chat state changed (``chat`` is the merged state)."""

    chat: dict[str, Any]


@dataclass(frozen=True)
class MessageChanged:
    """A message changed; its text includes the deltas received so far."""

    message: dict[str, Any]


@dataclass(frozen=True)
class DeltaReceived:
    """A token delta for a message, and the output accumulated so far."""

    message_id: str
    delta: dict[str, Any]
    output: dict[str, Any]
    seq: int | None
    # Reply text known from a message state that no delta handed out; the last delta of a turn
    # whose reply ended with such text has only this (``delta`` ``{}``, ``seq`` ``None``).
    caught_up: str = ""


@dataclass(frozen=True)
class ToolWaiting:
    """A client tool invocation waits for its result; handed out once per invocation id."""

    invocation: dict[str, Any]


@dataclass(frozen=True)
class ApprovalWaiting:
    """A tool invocation waits for approval; handed out once per invocation id."""

    invocation: dict[str, Any]


MachineEvent = ChatChanged | MessageChanged | DeltaReceived | ToolWaiting | ApprovalWaiting


def _value(value: Any) -> Any:
    """An enum member's wire value, anything else as is."""
    raw = getattr(value, "value", value)
    return raw.lower() if isinstance(raw, str) else raw


def chat_is_busy(chat: Mapping[str, Any] | None) -> bool | None:
    """Whether the agent is working on a turn; ``None`` when nothing is known yet."""
    if chat is None:
        return None
    run = _obj(chat.get("active_run"))
    if run is not None and run.get("state") is not None:
        return _value(run.get("state")) not in _RUN_DONE
    status = chat.get("status")
    if status is None:
        return None
    return _value(status) not in _CHAT_IDLE


def message_text(message: Mapping[str, Any], kind: str = "text") -> str:
    """The text of a message's content parts of one kind, joined."""
    parts: list[str] = []
    for value in _arr(message.get("content")) or ():
        part = _obj(value)
        if part is not None and _value(part.get("type")) == kind:
            text = part.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def _with_text(message: dict[str, Any], output: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` with its text and reasoning parts replaced by the accumulated output."""
    content: list[Any] = []
    replaced: set[str] = set()
    for value in _arr(message.get("content")) or ():
        part = _obj(value)
        kind = _value(part.get("type")) if part is not None else None
        field = {"text": "response", "reasoning": "reasoning"}.get(kind) if kind else None
        if part is not None and kind is not None and field is not None and field in output:
            if kind in replaced:
                continue  # the accumulated text already holds every part of this kind
            replaced.add(kind)
            content.append({**part, "text": output[field]})
        else:
            content.append(value)
    for kind, field in (("reasoning", "reasoning"), ("text", "response")):
        text = output.get(field)
        if kind not in replaced and isinstance(text, str) and text:
            content.append({"type": kind, "text": text})
    updated = dict(message)
    updated["content"] = content
    return updated


class ChatMachine:
    """Bytes in, chat events out; no I/O.

    ``dispatched`` and ``approvals`` are the invocation ids already handed out; they are shared
    between the turns of one agent, so that an invocation is handed out exactly once whatever
    snapshots and reconnects repeat it. With ``gate=False`` the machine only watches the chat and
    is never done. Otherwise ``done`` turns true when the turn is finished: the agent
    is not busy, and either it was seen busy since the stream opened or this turn's assistant
    message reached a final status (the first idle snapshot may belong to the previous turn).
    """

    def __init__(
        self,
        *,
        dispatched: set[str] | None = None,
        approvals: set[str] | None = None,
        sse: bool = False,
        gate: bool = True,
    ) -> None:
        self.chat: dict[str, Any] | None = None
        self.messages: dict[str, dict[str, Any]] = {}
        self.assistant_id: str | None = None
        # Messages ordered before this turn's user message belong to earlier turns: kept for
        # the state, never handed out again.
        self.floor: int | None = None
        self.posted = not gate
        self.seen_busy = False
        self.done = False
        self._gate = gate
        self._framer = StreamFramer(sse=sse)
        self._dispatched: set[str] = dispatched if dispatched is not None else set()
        self._approvals: set[str] = approvals if approvals is not None else set()
        self._outputs: dict[str, dict[str, Any]] = {}
        self._seqs: dict[str, int] = {}
        self._handed: dict[str, int] = {}  # message id -> length of the reply text handed out

    # Input.

    def feed(self, chunk: bytes) -> list[MachineEvent]:
        """Feed raw bytes from the connection; return the events they produce, in order."""
        events: list[MachineEvent] = []
        if self.done:
            return events
        for message in self._framer.feed(chunk):
            events.extend(self.handle(message))
            if self.done:
                break
        return events

    def updates(self, chunk: bytes) -> list[MachineEvent]:
        """The events a chunk of the stream completes (the driver's name for ``feed``)."""
        return self.feed(chunk)

    def end_of_connection(self) -> None:
        """The connection ended: drop any half-received line or event."""
        self._framer.reset()

    def ended(self, expired: bool, reconciled: bool) -> Step:
        """What the driver does now that a connection ended: a watch (no gate) reconnects
        until the caller stops; a turn follows :func:`next_step`."""
        if not self._gate:
            return Step.RECONNECT
        return next_step(self.done, expired, reconciled)

    def handle(self, decoded: Any) -> list[MachineEvent]:
        """Apply one decoded stream message."""
        message = _obj(decoded)
        if message is None or self.done or message.get("type") == "heartbeat":
            return []
        event = message.get("event")
        data = _obj(message.get("data"))
        if data is None:
            return []
        fields = _arr(message.get("fields"))
        if event == "chats":
            return self._chat(data, fields)
        if event == "chat_messages":
            return self._message(data, fields)
        if event == "agent_runs":
            return self._run(data, fields)
        if event == "delta":
            return self._delta(data)
        return []

    def accept_post(
        self, user: Mapping[str, Any] | None, assistant: Mapping[str, Any] | None
    ) -> list[MachineEvent]:
        """The ``POST /agents/run`` answer arrived: remember this turn's assistant message."""
        events: list[MachineEvent] = []
        self.posted = True
        for value in (user, assistant):
            order = value.get("order") if value is not None else None
            if isinstance(order, int) and (self.floor is None or order < self.floor):
                self.floor = order
        if assistant is not None and isinstance(assistant.get("id"), str):
            self.assistant_id = assistant["id"]
        for value in (user, assistant):
            if value is None:
                continue
            message_id = value.get("id")
            # The stream may already have shown a newer state of these messages.
            if isinstance(message_id, str) and message_id not in self.messages:
                events.extend(self._message(dict(value), None))
        self._check_done()
        return events

    def reconcile(self, chat: Mapping[str, Any]) -> list[MachineEvent]:
        """Adopt a chat read with ``GET /chats/{id}`` after the stream ended early."""
        if self.done:
            return []
        return self._chat(dict(chat), None)

    def needs_messages(self) -> bool:
        """True when the turn is over (or only waits for it) but this turn's reply is not
        known in its final state: read the messages with ``GET /chats/{id}/messages``."""
        if not self.posted or chat_is_busy(self.chat) is not False:
            return False
        reply = self.messages.get(self.assistant_id) if self.assistant_id else None
        return reply is None or _value(reply.get("status")) not in _MESSAGE_DONE

    def adopt_messages(self, messages: Iterable[Mapping[str, Any]]) -> list[MachineEvent]:
        """Adopt messages read with ``GET /chats/{id}/messages``: this turn's only (a watch
        without a turn takes them all)."""
        events: list[MachineEvent] = []
        for message in messages:
            order = message.get("order")
            ours = not self._gate or (
                message.get("id") == self.assistant_id
                or (self.floor is not None and isinstance(order, int) and order >= self.floor)
            )
            if ours:
                events.extend(self._message(dict(message), None))
        return events

    # Events.

    def _chat(self, data: dict[str, Any], fields: list[Any] | None) -> list[MachineEvent]:
        chat = _merge(self.chat, data, fields)
        if chat == self.chat:
            return []
        self.chat = chat
        events: list[MachineEvent] = [ChatChanged(chat)]
        for embedded in _arr(data.get("chat_messages")) or ():
            item = _obj(embedded)
            if item is not None:
                events.extend(self._message(item, None))
        events.extend(self._interrupts(chat))
        self._note_busy()
        return events

    def _run(self, data: dict[str, Any], fields: list[Any] | None) -> list[MachineEvent]:
        chat = dict(self.chat or {})
        previous = _obj(chat.get("active_run"))
        if previous is not None and data.get("id") not in (None, previous.get("id")):
            previous = None  # a new run replaces the previous one
        chat["active_run"] = _merge(previous, data, fields)
        if chat == self.chat:
            return []
        self.chat = chat
        self._note_busy()
        return [ChatChanged(chat)]

    def _message(self, data: dict[str, Any], fields: list[Any] | None) -> list[MachineEvent]:
        message_id = data.get("id")
        if not isinstance(message_id, str):
            return []
        previous = self.messages.get(message_id)
        if previous is None and fields is not None:
            return []  # a partial of a message never seen: nothing to merge it into
        merged = _merge(previous, data, fields)
        tail: DeltaReceived | None = None
        if _value(merged.get("status")) in _MESSAGE_DONE:
            self._outputs.pop(message_id, None)
            handed = self._handed.pop(message_id, 0)
            ended_now = previous is None or _value(previous.get("status")) not in _MESSAGE_DONE
            if ended_now and self._replies_this_turn(merged):
                # An assistant message of this turn ended with text no delta handed out (it
                # came before the stream opened, or while it reconnected): one last delta
                # carries it.
                text = message_text(merged)
                if len(text) > handed:
                    ended = _output_of(text, message_text(merged, "reasoning"))
                    tail = DeltaReceived(message_id, {}, ended, None, text[handed:])
        else:
            text, reasoning = message_text(merged), message_text(merged, "reasoning")
            output = self._outputs.get(message_id)
            # The server's content includes every delta sent before it; it replaces the
            # accumulator unless it holds less (a server that stores text only at the end).
            if output is None or len(text) >= len(output.get("response", "")):
                if text or reasoning or output is None:
                    self._outputs[message_id] = _output_of(text, reasoning)
        self.messages[message_id] = merged
        events: list[MachineEvent] = []
        order = merged.get("order")
        if self.floor is not None and isinstance(order, int) and order < self.floor:
            return events
        if tail is not None:
            events.append(tail)
        if merged != previous:
            events.append(MessageChanged(self.presented(message_id)))
        events.extend(self._invocations(merged))
        self._check_done()
        return events

    def _replies_this_turn(self, message: Mapping[str, Any]) -> bool:
        """True for this turn's reply and any other assistant message of this turn (one
        written between tool calls, say); never for earlier turns or a watch's messages."""
        if message.get("id") == self.assistant_id:
            return True
        order = message.get("order")
        return (
            _value(message.get("role")) == "assistant"
            and self.floor is not None
            and isinstance(order, int)
            and order >= self.floor
        )

    def _delta(self, data: dict[str, Any]) -> list[MachineEvent]:
        message_id = data.get("resource_id")
        delta = _obj(data.get("delta"))
        if not isinstance(message_id, str) or not message_id or delta is None:
            return []
        seq = data.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            # Sequence numbers count per message on the wire, across connections.
            if seq <= self._seqs.get(message_id, 0):
                return []
            self._seqs[message_id] = seq
        else:
            seq = None
        message = self.messages.get(message_id)
        if message is not None and _value(message.get("status")) in _MESSAGE_DONE:
            return []  # late delta of a finished message: its content is final
        output = self._outputs.setdefault(message_id, {})
        # Text that came in a message state (the turn's first words, posted before the stream
        # opened, or a reconnect's snapshot) goes out with this delta, so that the deltas'
        # texts joined are the whole reply.
        known, handed = output.get("response"), self._handed.get(message_id, 0)
        caught_up = known[handed:] if isinstance(known, str) else ""
        merge_delta(output, delta)
        text = output.get("response")
        self._handed[message_id] = len(text) if isinstance(text, str) else handed
        events: list[MachineEvent] = [
            DeltaReceived(message_id, delta, dict(output), seq, caught_up)
        ]
        if message is not None:
            events.append(MessageChanged(self.presented(message_id)))
        return events

    def presented(self, message_id: str) -> dict[str, Any]:
        """A message as handed out: its text includes the deltas received so far."""
        message = self.messages[message_id]
        output = self._outputs.get(message_id)
        return _with_text(message, output) if output else message

    def _invocations(self, message: Mapping[str, Any]) -> list[MachineEvent]:
        events: list[MachineEvent] = []
        for value in _arr(message.get("tool_invocations")) or ():
            invocation = _obj(value)
            if invocation is None:
                continue
            invocation_id = invocation.get("id")
            if not isinstance(invocation_id, str) or not invocation_id:
                continue
            status = _value(invocation.get("status"))
            if status == _APPROVAL_WAITING:
                if invocation_id not in self._approvals:
                    self._approvals.add(invocation_id)
                    events.append(ApprovalWaiting(invocation))
            elif _value(invocation.get("type")) == "client" and status in _CLIENT_WAITING:
                if invocation_id not in self._dispatched:
                    self._dispatched.add(invocation_id)
                    events.append(ToolWaiting(invocation))
        return events

    def _interrupts(self, chat: Mapping[str, Any]) -> list[MachineEvent]:
        """Approvals listed as pending interrupts of the chat (the invocation may be unseen)."""
        events: list[MachineEvent] = []
        for value in _arr(chat.get("pending_interrupts")) or ():
            interrupt = _obj(value)
            if interrupt is None or _value(interrupt.get("reason")) != "tool_approval":
                continue
            if _value(interrupt.get("status")) not in (None, "pending"):
                continue
            meta = _meta(interrupt.get("meta"))
            invocation_id = interrupt.get("resource_id") or meta.get("tool_invocation_id")
            if not isinstance(invocation_id, str) or invocation_id in self._approvals:
                continue
            self._approvals.add(invocation_id)
            arguments = meta.get("arguments")
            name = meta.get("tool_name")
            events.append(
                ApprovalWaiting(
                    {
                        "id": invocation_id,
                        "status": _APPROVAL_WAITING,
                        "function": {
                            "name": name if isinstance(name, str) else "",
                            "arguments": _meta(arguments),
                        },
                    }
                )
            )
        return events

    # The turn gate.

    def _note_busy(self) -> None:
        if chat_is_busy(self.chat):
            self.seen_busy = True
        self._check_done()

    def _check_done(self) -> None:
        if self.done or not self.posted or not self._gate:
            return
        if chat_is_busy(self.chat) is not False:
            return
        if self.seen_busy:
            self.done = True
            return
        assistant = self.messages.get(self.assistant_id) if self.assistant_id else None
        if assistant is not None and _value(assistant.get("status")) in _MESSAGE_DONE:
            self.done = True


def _output_of(text: str, reasoning: str) -> dict[str, Any]:
    output: dict[str, Any] = {"response": text}
    if reasoning:
        output["reasoning"] = reasoning
    return output


def _meta(value: Any) -> dict[str, Any]:
    """An interrupt's ``meta`` (or tool arguments), which may arrive as a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(cast("dict[str, Any]", value)) if isinstance(value, dict) else {}


def _merge(
    previous: Mapping[str, Any] | None, data: Mapping[str, Any], fields: Iterable[Any] | None
) -> dict[str, Any]:
    """A snapshot replaces the state; a ``{data, fields}`` partial merges into it."""
    if fields is None:
        return dict(data)
    merged = dict(previous or {})
    merged.update(data)
    for name in fields:
        if isinstance(name, str) and name not in data:
            merged[name] = None
    return merged
