"""Status helpers for task and chat message statuses, as they arrive on the wire.

Which statuses are terminal is declared once, in schema/overrides.yaml (``terminal``), and
generated as ``TASK_STATUS_TERMINAL`` and ``CHAT_MESSAGE_STATUS_TERMINAL``; nothing here matches
statuses by name.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskStatus

__all__ = ["is_message_ready", "is_terminal_status", "parse_status"]


def parse_status(value: Any) -> TaskStatus | None:
    """A task status from an int, a member name or a lowercase string; ``None`` for ``None``.

    A value this client does not know becomes ``TaskStatus.UNKNOWN``, which is never terminal.
    """
    from inferencesh._generated.models import TaskStatus

    if value is None:
        return None
    if isinstance(value, TaskStatus):
        return value if value.is_known else TaskStatus.UNKNOWN
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return TaskStatus.UNKNOWN
    try:
        status = TaskStatus(value)  # type: ignore[arg-type]  # names are accepted too
    except ValueError:
        return TaskStatus.UNKNOWN
    return status if status.is_known else TaskStatus.UNKNOWN


def is_terminal_status(value: Any) -> bool:
    """True for a status the schema declares terminal (completed, failed, cancelled, rejected);
    never for an unknown status."""
    from inferencesh._generated.models import TASK_STATUS_TERMINAL

    status = parse_status(value)
    return status is not None and status in TASK_STATUS_TERMINAL


def is_message_ready(value: Any) -> bool:
    """True when a chat message status means finished (ready, failed, cancelled), not pending or
    queued; an unknown status is not finished."""
    from inferencesh._generated.models import CHAT_MESSAGE_STATUS_TERMINAL, ChatMessageStatus

    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        return False
    status = ChatMessageStatus(value.strip().lower())
    return status in CHAT_MESSAGE_STATUS_TERMINAL
