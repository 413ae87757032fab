"""Status helpers for task and chat message statuses, as they arrive on the wire."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskStatus

__all__ = ["is_message_ready", "is_terminal_status", "parse_status"]

_TERMINAL_NAMES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "REJECTED"})
_MESSAGE_READY = frozenset({"ready", "failed", "cancelled"})


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
    """True for completed, failed, cancelled and rejected tasks; never for an unknown status."""
    status = parse_status(value)
    return status is not None and status.name in _TERMINAL_NAMES


def is_message_ready(value: Any) -> bool:
    """True when a chat message status is ready, failed or cancelled (not pending or queued)."""
    if isinstance(value, Enum):
        value = value.value
    return isinstance(value, str) and value.strip().lower() in _MESSAGE_READY
