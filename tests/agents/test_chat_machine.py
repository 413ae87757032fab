"""The sans-I/O chat machine, fed with plain lists of lines; plus twins and schema checks."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from inferencesh._agents._machine import (
    ApprovalWaiting,
    ChatChanged,
    ChatMachine,
    DeltaReceived,
    MessageChanged,
    ToolWaiting,
)
from inferencesh._agents._types import schema_errors
from inferencesh._async.agent import AsyncAgent, AsyncAgents
from inferencesh._generated.sync.agent import Agent, Agents


def lines(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def chat(status: str, run_state: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event": "chats", "data": {"id": "c1", "status": status, **extra}}
    if run_state is not None:
        body["data"]["active_run"] = {"id": "r1", "state": run_state}
    return body


def message(mid: str, status: str, text: str = "", order: int = 1, **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": text}] if text else []
    data = {"id": mid, "role": "assistant", "status": status, "order": order, "content": content}
    return {"event": "chat_messages", "data": {**data, **extra}}


def delta(mid: str, text: str, seq: int) -> dict[str, Any]:
    return {"event": "delta", "data": {"delta": {"response": text}, "seq": seq, "resource_id": mid}}


def test_the_previous_turns_idle_snapshot_does_not_end_the_turn() -> None:
    m = ChatMachine()
    m.feed(lines(chat("idle", "completed"), message("old", "ready", "earlier", order=0)))
    m.accept_post({"id": "u", "order": 1}, {"id": "a", "order": 2, "status": "pending"})
    assert not m.done
    m.feed(lines(chat("busy", "working")))
    assert not m.done
    m.feed(lines(chat("idle", "completed")))
    assert m.done


def test_a_turn_over_before_the_stream_opened_ends_on_its_ready_reply() -> None:
    m = ChatMachine()
    m.accept_post(None, {"id": "a", "order": 2, "status": "pending"})
    m.feed(lines(chat("idle", "completed")))
    assert not m.done  # the reply's final state is not known yet
    assert m.needs_messages()
    m.adopt_messages([{"id": "a", "order": 2, "status": "ready", "content": []}])
    assert m.done


def test_input_required_and_unknown_run_states_keep_the_turn_open() -> None:
    m = ChatMachine()
    m.accept_post(None, {"id": "a", "order": 2, "status": "pending"})
    m.feed(lines(chat("awaiting_input", "input_required")))
    m.feed(lines(chat("idle", "some_future_state")))
    assert not m.done
    m.feed(lines(chat("idle", "completed")))
    assert m.done


def test_partials_merge_and_listed_missing_fields_are_cleared() -> None:
    m = ChatMachine(gate=False)
    m.feed(lines(chat("busy", "working", output={"x": 1}, name="n")))
    events = m.feed(
        lines({"event": "chats", "data": {"status": "idle"}, "fields": ["status", "output"]})
    )
    assert isinstance(events[0], ChatChanged)
    assert m.chat is not None
    assert (m.chat["status"], m.chat["output"], m.chat["name"]) == ("idle", None, "n")
    assert m.chat["active_run"]["state"] == "working"
    m.feed(lines({"event": "agent_runs", "data": {"id": "r1", "state": "completed"}}))
    assert m.chat["active_run"]["state"] == "completed"
    assert not m.done  # a watching machine never ends


def test_deltas_accumulate_per_message_once_per_seq_and_survive_a_cut_line() -> None:
    m = ChatMachine(gate=False)
    m.feed(lines(message("a", "pending")))
    data = lines(delta("a", "Hel", 1), delta("a", "lo", 2), delta("a", "lo", 2), delta("b", "x", 1))
    events = [e for i in range(0, len(data), 7) for e in m.feed(data[i : i + 7])]
    outputs = [e.output["response"] for e in events if isinstance(e, DeltaReceived)]
    assert outputs == ["Hel", "Hello", "x"]
    texts = [e.message["content"] for e in events if isinstance(e, MessageChanged)]
    assert texts[-1] == [{"type": "text", "text": "Hello"}]
    # A reconnect's snapshot carries the text so far: it replaces the accumulator.
    m.end_of_connection()
    m.feed(lines(message("a", "pending", "Hello wor")))
    events = m.feed(lines(delta("a", "ld", 4)))
    assert [e.output["response"] for e in events if isinstance(e, DeltaReceived)] == ["Hello world"]
    m.feed(lines(message("a", "ready", "Hello world!")))
    assert m.presented("a")["content"] == [{"type": "text", "text": "Hello world!"}]


def test_text_known_only_from_a_message_state_goes_out_with_the_next_delta() -> None:
    m = ChatMachine(gate=False)
    # The turn's first words were sent before this stream opened: only its snapshot has them.
    m.feed(lines(message("a", "pending", "You")))
    events = m.feed(lines(delta("a", " said", 1), delta("a", " hi", 2)))
    received = [e for e in events if isinstance(e, DeltaReceived)]
    assert [e.caught_up for e in received] == ["You", ""]
    assert [e.delta["response"] for e in received] == [" said", " hi"]  # as sent
    # A reconnect's snapshot that is ahead of the deltas: its extra text comes with the next one.
    m.end_of_connection()
    m.feed(lines(message("a", "pending", "You said hi the")))
    events = m.feed(lines(delta("a", "re", 5)))
    assert [e.caught_up for e in events if isinstance(e, DeltaReceived)] == [" the"]
    # A state that holds less than the deltas did (text stored only at the end) adds nothing.
    m.feed(lines(message("a", "pending", "")))
    events = m.feed(lines(delta("a", "!", 6)))
    assert [e.caught_up for e in events if isinstance(e, DeltaReceived)] == [""]


def test_a_reply_that_ended_with_text_no_delta_carried_gets_a_last_delta() -> None:
    m = ChatMachine()
    m.accept_post({"id": "u", "order": 1}, {"id": "a", "order": 2, "status": "pending"})
    m.feed(lines(delta("a", "You", 1)))
    # The stream was cut and the reply finished meanwhile: the rest comes in one last delta.
    events = m.feed(lines(message("a", "ready", "You said: hi", order=2)))
    tails = [e for e in events if isinstance(e, DeltaReceived)]
    assert [(t.delta, t.seq, t.caught_up) for t in tails] == [({}, None, " said: hi")]
    kinds = [type(e) for e in events]
    assert kinds.index(DeltaReceived) < kinds.index(MessageChanged)  # before the final state
    # The same final state again (a reconnect's snapshot, a read of the messages): nothing.
    assert not [e for e in m.feed(lines(message("a", "ready", "You said: hi", order=2)))]
    # A turn whose whole reply came before the stream opened: all of it, once.
    m = ChatMachine()
    m.accept_post(None, {"id": "b", "order": 4, "status": "pending"})
    events = m.feed(lines(message("b", "ready", "All at once", order=4)))
    assert [e.caught_up for e in events if isinstance(e, DeltaReceived)] == ["All at once"]
    # Other messages (earlier turns, the user's own) never become deltas.
    m = ChatMachine()
    m.accept_post({"id": "u2", "order": 5}, {"id": "c", "order": 6, "status": "pending"})
    events = m.feed(
        lines(
            message("old", "ready", "before", order=3),
            message("u2", "ready", "hi", order=5, role="user"),
        )
    )
    assert not [e for e in events if isinstance(e, DeltaReceived)]
    # An assistant message of this turn written before a tool call, its text seen only in
    # its states: its last state hands the text out, before the reply's deltas begin.
    events = m.feed(
        lines(
            message("t", "pending", "Let me", order=7),
            message("t", "ready", "Let me look.", order=7),
            delta("c", "Found", 1),
        )
    )
    received = [
        (e.message_id, e.caught_up, e.delta) for e in events if isinstance(e, DeltaReceived)
    ]
    assert received == [("t", "Let me look.", {}), ("c", "", {"response": "Found"})]
    # A watch (no turn) hands out no such tails: it cannot tell this turn's messages.
    m = ChatMachine(gate=False)
    events = m.feed(lines(message("w", "pending", "Hi", order=1), message("w", "ready", "Hi!")))
    assert not [e for e in events if isinstance(e, DeltaReceived)]


def test_tool_calls_and_approvals_are_handed_out_once() -> None:
    dispatched: set[str] = set()
    approvals: set[str] = set()
    invocation = {
        "id": "t1",
        "type": "client",
        "status": "awaiting_input",
        "function": {"name": "f", "arguments": {"a": 1}},
    }
    asked = {
        "id": "t2",
        "type": "app",
        "status": "awaiting_approval",
        "function": {"name": "g", "arguments": {}},
    }
    msg = message("a", "pending", tool_invocations=[invocation, asked])
    first = ChatMachine(dispatched=dispatched, approvals=approvals, gate=False).feed(
        lines(msg, msg)
    )
    assert [type(e) for e in first if not isinstance(e, MessageChanged)] == [
        ToolWaiting,
        ApprovalWaiting,
    ]
    # A new connection (or turn) sharing the ids never hands them out again.
    again = ChatMachine(dispatched=dispatched, approvals=approvals, gate=False).feed(lines(msg))
    assert not [e for e in again if isinstance(e, (ToolWaiting, ApprovalWaiting))]


def test_pending_interrupts_surface_approvals_of_unseen_invocations() -> None:
    interrupt = {
        "reason": "tool_approval",
        "status": "pending",
        "resource_id": "t9",
        "meta": json.dumps({"tool_name": "rm", "arguments": {"path": "/"}}),
    }
    events = ChatMachine(gate=False).feed(
        lines(chat("busy", "input_required", pending_interrupts=[interrupt]))
    )
    approval = [e for e in events if isinstance(e, ApprovalWaiting)]
    assert approval[0].invocation["function"] == {"name": "rm", "arguments": {"path": "/"}}


def test_heartbeats_garbage_and_unknown_events_are_skipped() -> None:
    m = ChatMachine(gate=False)
    assert m.feed(b'{"type":"heartbeat"}\nnot json\n{"event":"future","data":{}}\n') == []


def test_schema_errors_are_structural_and_named_by_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "kind": {"enum": ["a", "b"]},
            "n": {"type": "integer"},
        },
        "required": ["tags"],
        "additionalProperties": False,
    }
    assert schema_errors({"tags": ["x"], "kind": "a", "n": 2.0}, schema) == []
    assert schema_errors({"tags": [1], "kind": "c", "n": True, "extra": 0}, schema) == [
        "$.tags[0]: expected string, got integer",
        "$.kind: must be one of ['a', 'b'], got 'c'",
        "$.n: expected integer, got boolean",
        "$: unexpected property 'extra'",
    ]
    assert schema_errors({}, schema) == ["$: missing required property 'tags'"]


def public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


@pytest.mark.parametrize(("sync", "async_"), [(Agent, AsyncAgent), (Agents, AsyncAgents)])
def test_async_twins_have_the_same_methods_and_parameters(sync: type, async_: type) -> None:
    sync_methods, async_methods = public(sync), public(async_)
    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert list(signature.parameters) == list(async_methods[name].parameters), name
