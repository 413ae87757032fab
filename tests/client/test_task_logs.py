"""The log helpers: base64 content as the wire sends it, plain text as older servers do."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from inferencesh import decode_log, log_text
from inferencesh._generated.models import TaskLog, TaskLogType

STAMP = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _log(kind: TaskLogType, content: str | None) -> TaskLog:
    return TaskLog(
        id="l", created_at=STAMP, updated_at=STAMP, task_id="t", log_type=kind, content=content
    )


def test_base64_content_decodes_to_text() -> None:
    encoded = base64.b64encode("héllo\n".encode()).decode()
    assert decode_log(_log(TaskLogType.TASK, encoded)) == "héllo\n"
    assert decode_log({"log_type": 4, "content": encoded}) == "héllo\n"


@pytest.mark.parametrize("plain", ["loading model...", "abcd", "step 1\nstep 2"])
def test_plain_text_content_is_kept_as_it_is(plain: str) -> None:
    assert decode_log({"content": plain}) == plain


def test_missing_content_is_empty_and_other_types_are_refused() -> None:
    assert decode_log({"content": None}) == decode_log({}) == ""
    with pytest.raises(TypeError, match="string or bytes"):
        decode_log({"content": 12})


def test_log_text_joins_records_and_keeps_one_kind() -> None:
    setup = _log(TaskLogType.SETUP, base64.b64encode(b"set up\n").decode())
    task = _log(TaskLogType.TASK, base64.b64encode(b"ran\n").decode())
    assert log_text([setup, task]) == "set up\nran\n"
    assert log_text({"logs": [setup, task]}, log_type=TaskLogType.TASK) == "ran\n"
    assert log_text({"logs": None}) == ""
    with pytest.raises(TypeError, match="a list of logs"):
        log_text("not logs")
