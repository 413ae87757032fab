"""The one driver that follows a task or a chat until its machine says it is done.

It streams (open a connection, feed its chunks to the machine, hand out what the machine makes)
or polls (``source.poll()`` every ``poll_interval`` seconds). When a connection ends, the machine
decides what happens (``Step``): done, out of time, read the record once (``source.reconcile()``),
or reconnect after the delay the ``Reconnects`` policy gives (which raises once its budget is
spent). Failed polls spend the same budget. The I/O itself is the ``source``'s, written by the
tasks and the agents.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from inferencesh._concurrency import AsyncConcurrency
from inferencesh._errors import InvalidResponseError, NotFoundError
from inferencesh._logging import logger
from inferencesh._streaming import (
    RECOVERABLE,
    AsyncStatusRead,
    Machine,
    Reconnects,
    StatusWatch,
    Step,
)

__all__ = ["AsyncSource", "follow", "status_changed"]


class AsyncSource(Protocol):
    """The I/O of following one task or chat."""

    def open(self, idle_timeout: float | None) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Open the stream; its body in chunks."""
        ...

    async def opened(self) -> Sequence[Any]:
        """Called once, when the first stream is open (or polling starts); its events."""
        ...

    async def reconcile(self) -> Sequence[Any]:
        """Read the record after a stream ended early; the events the machine makes of it."""
        ...

    async def poll(self) -> Sequence[Any]:
        """One poll: read the status and, when it changed, the record; the events."""
        ...


async def follow(machine: Machine, source: AsyncSource, policy: Reconnects) -> AsyncGenerator[Any]:
    """Events of ``machine`` until it is done, or until the deadline passes (then it just stops:
    the caller decides)."""
    if policy.options.poll_interval is not None:
        async for event in _poll(machine, source, policy):
            yield event
        return
    opened = False
    while True:
        reason = "the stream ended"
        try:
            async with source.open(policy.idle_timeout()) as chunks:
                if not opened:
                    opened = True
                    for event in await source.opened():
                        yield event
                if not machine.done:
                    async for chunk in chunks:
                        for event in machine.updates(chunk):
                            policy.failures = 0  # progress (inline: once per update)
                            yield event
                        if machine.done or policy.expired():
                            break
        except RECOVERABLE as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            machine.end_of_connection()
        step = machine.ended(policy.expired(), reconciled=False)
        if step is Step.RECONCILE:
            logger.debug("%s: %s before the end", policy.what, reason)
            for event in await source.reconcile():
                policy.progress()
                yield event
            step = machine.ended(policy.expired(), reconciled=True)
        if step is not Step.RECONNECT:
            return
        await AsyncConcurrency.sleep(policy.next_delay(reason))


async def _poll(machine: Machine, source: AsyncSource, policy: Reconnects) -> AsyncGenerator[Any]:
    for event in await source.opened():
        yield event
    while not machine.done:
        try:
            events = await source.poll()
        except RECOVERABLE as exc:
            if policy.expired():
                return
            await AsyncConcurrency.sleep(policy.next_delay(f"{type(exc).__name__}: {exc}"))
            continue
        policy.progress()
        for event in events:
            yield event
        if machine.done or policy.expired():
            return
        await AsyncConcurrency.sleep(policy.poll_delay())


async def status_changed(watch: StatusWatch, read: AsyncStatusRead) -> bool:
    """For a poll: must the whole record be read? It must when the status ``read()`` returns
    changed (``watch`` decides), when the status cannot be read, and from the first 404 on (the
    server has no status route; a record that does not exist then 404s when it is read)."""
    if not watch.uses_status:
        return True
    try:
        status = await read()
    except NotFoundError:
        watch.without_status()
        return True
    except InvalidResponseError:
        return True
    return watch.changed(status)
