"""Run one scenario with the sync client or the async client: the same test covers both."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from inferencesh import AsyncInference, Inference

MODES = ["sync", "async"]


def call(mode: str, base_url: str, fn: Callable[[Any], Any], **options: Any) -> Any:
    """``fn(client)`` with a fresh client of the given mode; awaits what needs awaiting."""
    options.setdefault("api_key", "inf_test")
    if mode == "sync":
        with Inference(base_url=base_url, **options) as client:
            return fn(client)

    async def main() -> Any:
        async with AsyncInference(base_url=base_url, **options) as client:
            result = fn(client)
            while inspect.isawaitable(result):
                result = await result
            return result

    return asyncio.run(main())


async def _acollect(stream: Any) -> list[Any]:
    if inspect.isawaitable(stream):
        stream = await stream
    return [update async for update in stream]


def collect(stream: Any) -> Any:
    """All updates of a task stream (a coroutine for the async client)."""
    if inspect.isawaitable(stream) or hasattr(stream, "__aiter__"):
        return _acollect(stream)
    return list(stream)
