"""Live updates for stream readers: one bounded queue per reader, ended by a sentinel."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["BACKLOG", "END", "Subscribers", "broadcast", "end_all", "new_queue"]

BACKLOG = 10_000

# Sentinel a subscriber queue receives when its resource has ended.
END: dict[str, Any] = {}

Subscribers = set[asyncio.Queue[dict[str, Any]]]


def new_queue() -> asyncio.Queue[dict[str, Any]]:
    """A reader's queue."""
    return asyncio.Queue(BACKLOG)


def broadcast(subscribers: Subscribers, message: dict[str, Any]) -> None:
    """Queue ``message`` for every stream reader; a reader too far behind is ended."""
    for queue in list(subscribers):
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            # A reader this far behind reconnects and starts from a fresh snapshot.
            subscribers.discard(queue)
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(END)


def end_all(subscribers: Subscribers) -> None:
    """Tell every reader that the resource has ended."""
    for queue in list(subscribers):
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(END)
