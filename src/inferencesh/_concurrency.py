"""The waiting primitives of the two layers, side by side.

The client layer is written once, async (``inferencesh._async``), and its blocking twin is
generated from it by renaming (``AsyncConcurrency`` -> ``Concurrency``, ``await`` dropped; see
``codegen/unasync.py``). What cannot be a rename lives here as a pair written by hand: sleeping,
bounding concurrency, running several calls at once, calling user code that may or may not be a
coroutine, reading files without blocking an event loop, and starting a resource that is used
with ``with`` (a blocking call starts it at once; an async one is awaited or entered).

asyncio and thread pools are imported where they are used: the blocking client seldom needs
them, and importing asyncio costs about as much as the rest of the client.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeAlias, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncConcurrency", "AsyncStarting", "Concurrency", "Starting", "run_to_completion"]

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C", bound=AbstractAsyncContextManager[Any])

Starting: TypeAlias = Annotated[T, "started when called"]
"""The blocking twin of ``AsyncStarting``: a blocking call has started the resource, which it
returns as it is (``Starting[Session]`` is ``Session``)."""


class AsyncStarting(Generic[C]):
    """An async resource on its way: ``await`` it for the started resource, or enter it directly
    with ``async with`` (which ends it on leaving), as the blocking ``with`` does.

    ``async with client.session(app) as session:`` and
    ``session = await client.session(app)`` are both this.
    """

    def __init__(self, start: Awaitable[C]) -> None:
        self._start = start
        self._entered: C | None = None

    def __await__(self) -> Generator[Any, None, C]:
        return self._start.__await__()

    async def __aenter__(self) -> C:
        resource = await self._start
        await resource.__aenter__()
        self._entered = resource
        return resource

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._entered is not None  # __aexit__ runs only after __aenter__ returned
        return await self._entered.__aexit__(exc_type, exc, tb)


# Uploads (and other fan-outs) run at most this many at once.
MAX_PARALLEL = 4


def run_to_completion(awaitable: Awaitable[T]) -> T:
    """Run an awaitable (an async callback or handler given to the blocking client) to the end."""

    import asyncio
    import concurrent.futures

    async def wait() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # Called from inside an event loop (blocking client in async code): use a private loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()


class Concurrency:
    """Blocking primitives: threads wait, each for its own call."""

    @staticmethod
    def sleep(seconds: float) -> None:
        """Wait ``seconds``."""
        time.sleep(seconds)

    @staticmethod
    def limiter(size: int) -> contextlib.nullcontext[None]:
        """Bound on requests in flight: none for blocking callers (each thread waits for its
        own request, and the pool keeps ``size`` connections alive)."""
        return contextlib.nullcontext()

    @staticmethod
    def map(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``function`` over ``items``, a few at a time in threads; results in order."""
        if len(items) <= 1:
            return [function(item) for item in items]
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(min(MAX_PARALLEL, len(items))) as pool:
            return list(pool.map(function, items))

    @staticmethod
    def call(callback: Callable[..., Any], *args: Any) -> None:
        """Call user code; a coroutine it returns is run to completion."""
        result = callback(*args)
        if inspect.isawaitable(result):
            run_to_completion(result)

    @staticmethod
    def run_handler(handler: Callable[[T], Any], argument: T) -> Any:
        """A tool handler's result; an async handler is run to completion."""
        result = handler(argument)
        return run_to_completion(result) if inspect.isawaitable(result) else result

    @staticmethod
    def chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
        """An upload body read from disk: as it is."""
        return chunks

    @staticmethod
    def starting(resource: T) -> Starting[T]:
        """A resource the blocking call has already started: as it is."""
        return resource


class AsyncConcurrency:
    """Async primitives on the running event loop."""

    @staticmethod
    async def sleep(seconds: float) -> None:
        """Wait ``seconds`` without blocking the loop."""
        import asyncio

        await asyncio.sleep(seconds)

    @staticmethod
    def limiter(size: int) -> asyncio.Semaphore:
        """Bound on requests in flight: more wait here rather than in the connection pool."""
        import asyncio

        return asyncio.Semaphore(size)

    @staticmethod
    async def map(function: Callable[[T], Awaitable[R]], items: Sequence[T]) -> list[R]:
        """``function`` over ``items``, a few at a time; results in order."""
        import asyncio

        limiter = asyncio.Semaphore(MAX_PARALLEL)

        async def one(item: T) -> R:
            async with limiter:
                return await function(item)

        return list(await asyncio.gather(*(one(item) for item in items)))

    @staticmethod
    async def call(callback: Callable[..., Any], *args: Any) -> None:
        """Call user code, sync or async; a coroutine it returns is awaited."""
        result = callback(*args)
        if inspect.isawaitable(result):
            await result

    @staticmethod
    async def run_handler(handler: Callable[[T], Any], argument: T) -> Any:
        """A tool handler's result: an async handler is awaited, a blocking one runs in a worker
        thread so that it does not stall the event loop (and other chats on it)."""
        import asyncio

        if inspect.iscoroutinefunction(handler):
            return await handler(argument)
        result = await asyncio.to_thread(handler, argument)
        return await result if inspect.isawaitable(result) else result

    @staticmethod
    async def chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        """An upload body read from disk in a worker thread, so a large file never blocks the
        event loop."""
        import asyncio

        sentinel = b""
        while True:
            chunk = await asyncio.to_thread(next, chunks, sentinel)
            if chunk is sentinel or not chunk:
                return
            yield chunk

    @staticmethod
    def starting(start: Awaitable[C]) -> AsyncStarting[C]:
        """A resource that ``start`` starts, awaited or entered with ``async with``."""
        return AsyncStarting(start)
