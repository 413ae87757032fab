"""The stream state machine, fed with plain lines: no sockets."""

from __future__ import annotations

import json
from typing import Any

from inferencesh._streaming import TaskStreamMachine, merge_delta


def lines(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def feed_all(machine: TaskStreamMachine, data: bytes, step: int = 0) -> list[dict[str, Any]]:
    if not step:
        return machine.feed(data)
    out: list[dict[str, Any]] = []
    for start in range(0, len(data), step):
        out.extend(machine.feed(data[start : start + step]))
    return out


def test_heartbeats_are_skipped() -> None:
    m = TaskStreamMachine()
    out = m.feed(lines({"type": "heartbeat"}, {"id": "t", "status": 7}, {"type": "heartbeat"}))
    assert out == [{"id": "t", "status": 7}]


def test_full_snapshot_replaces_state() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7, "output": {"a": 1}, "extra": True}))
    out = m.feed(lines({"id": "t", "status": 7, "output": {"b": 2}}))
    assert out == [{"id": "t", "status": 7, "output": {"b": 2}}]


def test_partial_update_merges_into_last_state() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7, "session_id": "s1", "output": None}))
    out = m.feed(
        lines({"data": {"status": 10, "output": {"x": 1}}, "fields": ["status", "output"]})
    )
    assert out == [{"id": "t", "status": 10, "session_id": "s1", "output": {"x": 1}}]
    assert m.done


def test_partial_listed_field_missing_from_data_becomes_null() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7, "error": "old"}))
    out = m.feed(lines({"data": {"status": 7}, "fields": ["status", "error"]}))
    assert out == [{"id": "t", "status": 7, "error": None}]


def test_deltas_accumulate_into_output() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7}))
    out = m.feed(
        lines(
            {"event": "delta", "data": {"delta": {"response": "Hel"}, "seq": 1}},
            {"event": "delta", "data": {"delta": {"response": "lo", "reasoning": "r"}, "seq": 2}},
        )
    )
    assert [u["output"] for u in out] == [
        {"response": "Hel"},
        {"response": "Hello", "reasoning": "r"},
    ]
    final = m.feed(lines({"id": "t", "status": 10}))
    assert final[0]["output"] == {"response": "Hello", "reasoning": "r"}


def test_duplicate_delta_sequence_numbers_are_dropped() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7}))
    d = {"event": "delta", "data": {"delta": {"response": "a"}, "seq": 1}}
    out = m.feed(lines(d, d))
    assert len(out) == 1 and out[0]["output"] == {"response": "a"}


def test_tool_call_deltas_merge_by_index() -> None:
    acc: dict[str, Any] = {}
    merge_delta(acc, {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f"}}]})
    merge_delta(acc, {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]})
    merge_delta(acc, {"tool_calls": [{"index": 1, "id": "c2"}]})
    merge_delta(acc, {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})
    merge_delta(acc, {"usage": {"t": 1}, "response": None})
    merge_delta(acc, {"usage": {"t": 2}})
    assert acc == {
        "tool_calls": [
            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a":1}'}},
            {"index": 1, "id": "c2"},
        ],
        "usage": {"t": 2},
    }


def test_lines_split_across_chunks() -> None:
    data = lines(*({"id": "t", "status": 7, "output": {"n": i}} for i in range(20)))
    for step in (1, 3, 7, 64):
        m = TaskStreamMachine()
        out = feed_all(m, data, step)
        assert [u["output"]["n"] for u in out] == list(range(20))


def test_half_line_is_dropped_at_end_of_connection() -> None:
    m = TaskStreamMachine()
    assert m.feed(b'{"id": "t", "status": 7}\n{"id": "t", "sta') == [{"id": "t", "status": 7}]
    m.end_of_connection()
    assert m.feed(lines({"id": "t", "status": 7, "output": 1})) == [
        {"id": "t", "status": 7, "output": 1}
    ]


def test_reconnect_snapshot_equal_to_last_state_is_not_emitted_twice() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7}))
    m.end_of_connection()
    assert m.feed(lines({"id": "t", "status": 7})) == []


def test_string_status_is_normalised_and_terminal() -> None:
    m = TaskStreamMachine()
    out = m.feed(lines({"id": "t", "status": "running"}, {"id": "t", "status": "completed"}))
    assert [u["status"] for u in out] == [7, 10]
    assert m.done


def test_unknown_status_is_never_terminal() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 99}, {"id": "t", "status": "exploded"}))
    assert not m.done


def test_nothing_is_emitted_after_terminal() -> None:
    m = TaskStreamMachine()
    out = m.feed(lines({"id": "t", "status": 11, "error": "x"}, {"id": "t", "status": 7}))
    assert len(out) == 1 and m.done
    assert m.feed(lines({"id": "t", "status": 7})) == []


def test_reconcile_emits_only_terminal_states() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7}))
    assert m.reconcile({"id": "t", "status": 7, "created_at": "x"}) is None
    assert m.feed(lines({"id": "t", "status": 7})) == []
    assert m.reconcile({"id": "t", "status": 10, "output": 1}) == {
        "id": "t",
        "status": 10,
        "output": 1,
    }
    assert m.done


def test_sse_framing_with_comments_events_and_multiline_data() -> None:
    m = TaskStreamMachine(sse=True)
    data = (
        b": keep-alive\r\n\r\n"
        b'data: {"id": "t",\r\ndata: "status": 7}\r\n\r\n'
        b"event: delta\n"
        b'data: {"delta": {"response": "hi"}, "seq": 1}\n\n'
        b'data: {"data": {"status": 10}, "fields": ["status"]}\n\n'
    )
    out = feed_all(m, data, 5)
    assert [u["status"] for u in out] == [7, 7, 10]
    assert out[-1]["output"] == {"response": "hi"}


def test_garbage_lines_are_skipped() -> None:
    m = TaskStreamMachine()
    out = m.feed(b"<html>\n" + lines({"id": "t", "status": 7}) + b"[1, 2]\n")
    assert out == [{"id": "t", "status": 7}]


def test_listed_fields_that_are_not_names_are_ignored() -> None:
    m = TaskStreamMachine()
    m.feed(lines({"id": "t", "status": 7}))
    out = m.feed(lines({"data": {"status": 10}, "fields": [{}, ["x"], 3, "status", "error"]}))
    assert out == [{"id": "t", "status": 10, "error": None}] and m.done
