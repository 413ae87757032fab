"""The stream's fast paths give what the plain ones give, and updates handed out never change."""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import struct
import sys
from typing import Any

import pytest

from inferencesh import TaskStream
from inferencesh._streaming import StreamFramer, TaskStreamMachine
from inferencesh._task_updates import _TaskBuilder, _to_task

from .wire import task

EDGE_LINES = [
    b'{"data": {"status": 7}, "fields": ["status"]}',
    b"NaN",
    b"[NaN, Infinity, -Infinity]",
    b"123456789012345678901234567890",
    b"1" * 4301,  # over Python's digit limit: json.loads refuses it
    b"1" * 5000 + b".5",  # a float json.loads reads as inf
    b"-0",
    b"-0.0",
    b"1E2",
    b"5e-324",
    b"1e400",
    b'{"a": 1, "b": 2, "a": 3}',
    b'"\\ud800"',  # a lone surrogate, escaped
    b'"\xed\xa0\x80"',  # a lone surrogate, raw
    b'"\\ud83d\\ude00 \xf0\x9f\x98\x80"',
    b"\xef\xbb\xbf{}",  # a byte order mark
    '{"a": "é"}'.encode("utf-16-le"),
    b"[" * 300 + b"]" * 300,
    b'"\xff"',
    b'"a\x01b"',
    b"{} x",
    b"{}\r",
    b"{}  \t",
    b"  {}",
    b"{}\x0b",
    b"\x0c{}",
    b"\x00{}",
    b"{}\x00",
    b"\xc2\xa0{}",
    b"01",
    b"[1,]",
    b"null",
    b"true",
    b"<html>",
]


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down and floats equal to the bit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("d", a) == struct.pack("d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def json_loads_framing(line: bytes) -> list[Any]:
    """What a line framed to: ``json.loads`` of it, nothing for ``null`` or a refused line."""
    if not line.strip():
        return []
    try:
        value = json.loads(line)
    except ValueError:
        return []
    return [] if value is None else [value]


@pytest.mark.parametrize("line", EDGE_LINES)
def test_lines_frame_as_json_loads_reads_them(line: bytes) -> None:
    assert same(StreamFramer().feed(line + b"\n"), json_loads_framing(line))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False, rng.randint(-(2**70), 2**70), rng.randint(-9, 9)])
    if kind == 1:
        return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind in (3, 4):
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(rng.randrange(5)): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_random_lines_frame_as_json_loads_reads_them() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = json.dumps(random_value(rng), ensure_ascii=rng.random() < 0.5)
        line = bytearray(text.encode("utf-8", "surrogatepass"))
        if rng.random() < 0.3:  # a damaged byte
            line[rng.randrange(len(line))] = rng.randrange(256)
        raw = bytes(line).replace(b"\n", b" ")
        assert same(StreamFramer().feed(raw + b"\n"), json_loads_framing(raw)), raw


def test_only_lines_with_text_that_is_not_json_are_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="inferencesh")
    assert StreamFramer().feed(b"\n \t\r\n\x0b\x0c\n") == []
    assert caplog.records == []
    assert StreamFramer().feed(b"<html>\n") == []
    assert len(caplog.records) == 1


def lines(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def delta(seq: int, **fields: Any) -> dict[str, Any]:
    return {"event": "delta", "data": {"delta": fields, "seq": seq}}


STREAM = lines(
    task(status=7, output={"response": "a"}),
    {"data": {"status": 7, "output": {"progress": 1}}, "fields": ["status"]},
    {"data": {"status": "running", "note": "extra"}, "fields": ["status", "error"]},
    delta(1, response="b", tool_calls=[{"index": 0, "function": {"name": "f"}}]),
    delta(2, response="c", tool_calls=[{"index": 0, "function": {"arguments": "{}"}}]),
    {"data": {"workers": None, "output": None}, "fields": ["workers", "output"]},
    delta(3, reasoning="r"),
    {"data": {"status": 99}, "fields": ["status"]},
    task(status=10, output={"response": "done"}, later="x"),
)


def test_incremental_updates_equal_full_validation() -> None:
    build = _TaskBuilder().build
    states = TaskStreamMachine().feed(STREAM)
    assert len(states) == 9
    for state in states:
        got, want = build(state), _to_task(state)
        assert got.model_dump() == want.model_dump()
        assert got.__pydantic_fields_set__ == want.__pydantic_fields_set__
        assert got.__pydantic_extra__ == want.__pydantic_extra__
        assert type(got.status) is type(want.status)


def test_updates_handed_out_never_change() -> None:
    machine = TaskStreamMachine()
    states: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for start in range(0, len(STREAM), 40):
        for state in machine.feed(STREAM[start : start + 40]):
            states.append((state, copy.deepcopy(state)))
    assert all(state == seen for state, seen in states)

    updates = [(u, copy.deepcopy(u.model_dump())) for u in TaskStream(iter(s for s, _ in states))]
    assert all(update.model_dump() == seen for update, seen in updates)
    outputs = [update.output for update, _ in updates]
    # Deltas rebuild the output each time: no update shares it with the one before.
    assert outputs[3] is not outputs[4] and outputs[4] is not outputs[5]


def test_an_update_shares_no_mutable_slot_with_the_one_before() -> None:
    build = _TaskBuilder().build
    states = TaskStreamMachine().feed(
        lines(
            task(status=7, extra_field={"k": 1}),
            {"data": {"error": "x", "other": 2}, "fields": ["error", "other"]},
        )
    )
    before = build(states[0])
    assert before.status == 7  # read: the next update builds on it
    after = build(states[1])
    assert after.error == "x" and after["other"] == 2 and before.error is None
    assert "other" not in before and "error" not in before.__pydantic_fields_set__
    assert after.__dict__ is not before.__dict__
    assert after.__pydantic_extra__ is not before.__pydantic_extra__
    assert after.__pydantic_fields_set__ is not before.__pydantic_fields_set__
    assert after.model_dump(exclude={"error", "other"}) == before.model_dump(exclude={"error"})


def test_states_read_one_at_a_time_are_the_states_fed() -> None:
    fed = TaskStreamMachine().feed(STREAM)
    machine = TaskStreamMachine()
    read: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for state in machine.updates(STREAM):
        read.append((state, copy.deepcopy(state)))
    assert [seen for _, seen in read] == fed
    assert all(state == seen for state, seen in read)
    assert [getattr(s, "changed", 0) for s, _ in read] == [getattr(s, "changed", 0) for s in fed]
    assert machine.done and list(machine.updates(lines(task(status=7)))) == []


def test_reading_stops_at_the_terminal_state() -> None:
    machine = TaskStreamMachine()
    data = lines(task(status=7), task(status=10), task(status=7), task(status=11))
    assert [s["status"] for s in machine.updates(data)] == [7, 10]


def test_a_lowered_integer_digit_limit_is_respected() -> None:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        for line in (b"1" * 1000, b"[" + b"1" * 641 + b"]", b"1" * 640, b'{"a": 1}'):
            assert same(StreamFramer().feed(line + b"\n"), json_loads_framing(line))
    finally:
        sys.set_int_max_str_digits(limit)
