"""Task logs as text.

A task's logs (``task.logs``, ``client.tasks.logs(id).logs``, the ``logs`` of a stream update) are
``TaskLog`` records, one per kind (``TaskLogType``: build, run, serve, setup, task), whose
``content`` is the log's bytes in base64 (a Go ``[]byte`` on the wire). Older servers and test
doubles send plain text there, so a content that is not base64 of UTF-8 text is taken as it is.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskLog, TaskLogType

__all__ = ["decode_log", "log_text"]


def _field(log: Any, name: str) -> Any:
    if isinstance(log, Mapping):
        return cast(Mapping[str, Any], log).get(name)
    return getattr(log, name, None)


def decode_log(log: TaskLog | Mapping[str, Any]) -> str:
    """The text of one log record (a ``TaskLog`` or its JSON dict).

    >>> decode_log({"log_type": 4, "content": "aGVsbG8K"})
    'hello\\n'
    """
    return _text(_field(log, "content"))


def _text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, (bytes, bytearray)):
        return bytes(cast(bytes, content)).decode("utf-8", errors="replace")
    if not isinstance(content, str):
        raise TypeError(f"log content must be a string or bytes, not {type(content).__name__}")
    try:
        raw = base64.b64decode(content, validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return content


def _logs_of(source: Any) -> list[object]:
    if isinstance(source, Mapping):
        logs = cast(Mapping[str, Any], source).get("logs")
    elif hasattr(source, "logs"):
        logs = source.logs
    else:
        logs = source
    if logs is None:
        return []
    if isinstance(logs, (str, bytes)) or not isinstance(logs, Iterable):
        raise TypeError("expected a task, a TaskLogsDTO, their dict, or a list of logs")
    return list(cast("Iterable[object]", logs))


def log_text(source: Any, *, log_type: TaskLogType | int | None = None) -> str:
    """All log text of a task, joined in the order the records come.

    ``source`` is a task (``TaskDTO`` or its dict), ``client.tasks.logs(id)``, or a list of
    log records; ``log_type`` keeps only one kind (``TaskLogType.TASK``: what the app printed
    while it ran; ``TaskLogType.SETUP``: during its setup).

    >>> log_text(client.tasks.logs(task_id), log_type=TaskLogType.TASK)  # doctest: +SKIP
    'step 1\\nstep 2\\n'
    """
    wanted = None if log_type is None else int(log_type)
    parts: list[str] = []
    for log in _logs_of(source):
        kind = _field(log, "log_type")
        if wanted is not None and (kind is None or int(kind) != wanted):
            continue
        parts.append(_text(_field(log, "content")))
    return "".join(parts)
