"""Cursor pages: one page of a ``POST /<resource>/list`` call that can fetch the next ones.

A page is the page model itself (``items``, ``next_cursor``, ``has_next``, dict-style reads) plus
the call that produced it, so ``next_page()`` repeats that call with the next cursor and the same
per-call options. Iterating a page yields its items and then those of every following page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic

from pydantic import PrivateAttr

# The page's own type parameter: a subclass parametrized with a different TypeVar would make
# pydantic build CursorListResponse when this module is imported.
from inferencesh._runtime.envelope import CursorListResponse, ItemT

if TYPE_CHECKING:
    from inferencesh._runtime.request import Call, RequestOptions
    from inferencesh._runtime.response import APIResponse
    from inferencesh._runtime.transport import AsyncTransport, SyncTransport

__all__ = [
    "AsyncPage",
    "AsyncPager",
    "SyncPage",
    "async_page",
    "async_page_raw",
    "sync_page",
    "sync_page_raw",
]


class _Page(CursorListResponse[ItemT], Generic[ItemT]):
    _call: Call[Any] | None = PrivateAttr(default=None)
    _options: RequestOptions | None = PrivateAttr(default=None)

    @property
    def has_more(self) -> bool:
        """True when the server says another page follows (and named a new cursor for it)."""
        if not self.has_next or not self.next_cursor:
            return False
        # A cursor that repeats the one just sent would page in a circle.
        return self._call is None or self.next_cursor != self._call.sent_cursor

    def _next_call(self) -> Call[Any] | None:
        if not self.has_more or self._call is None or self.next_cursor is None:
            return None
        return self._call.with_cursor(self.next_cursor)


class SyncPage(_Page[ItemT], Generic[ItemT]):
    """One page of a cursor list; ``for item in page`` walks it and every following page."""

    _transport: SyncTransport | None = PrivateAttr(default=None)

    def attach(
        self, transport: SyncTransport, call: Call[SyncPage[ItemT]], options: RequestOptions
    ) -> SyncPage[ItemT]:
        """Remember the call that fetched this page, so ``next_page()`` can repeat it."""
        self._transport, self._call, self._options = transport, call, options
        return self

    def next_page(self) -> SyncPage[ItemT] | None:
        """The following page, or ``None`` when this is the last one."""
        call = self._next_call()
        if call is None or self._transport is None or self._options is None:
            return None
        return sync_page(self._transport, call, self._options)

    def iter_pages(self) -> Iterator[SyncPage[ItemT]]:
        """This page and every following page, fetched one at a time."""
        page: SyncPage[ItemT] | None = self
        while page is not None:
            yield page
            page = page.next_page()

    # Iterating yields items, not pydantic's (field, value) pairs: a page reads as a list.
    # dict(page) still works through keys() and [].
    def __iter__(self) -> Iterator[ItemT]:  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        for page in self.iter_pages():
            yield from page.items


class AsyncPage(_Page[ItemT], Generic[ItemT]):
    """Async twin of :class:`SyncPage`: ``async for item in page`` walks every following page."""

    _transport: AsyncTransport | None = PrivateAttr(default=None)

    def attach(
        self, transport: AsyncTransport, call: Call[AsyncPage[ItemT]], options: RequestOptions
    ) -> AsyncPage[ItemT]:
        """Remember the call that fetched this page, so ``next_page()`` can repeat it."""
        self._transport, self._call, self._options = transport, call, options
        return self

    async def next_page(self) -> AsyncPage[ItemT] | None:
        """The following page, or ``None`` when this is the last one."""
        call = self._next_call()
        if call is None or self._transport is None or self._options is None:
            return None
        return await async_page(self._transport, call, self._options)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[ItemT]]:
        """This page and every following page, fetched one at a time."""
        page: AsyncPage[ItemT] | None = self
        while page is not None:
            yield page
            page = await page.next_page()

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item


def sync_page(
    transport: SyncTransport, call: Call[SyncPage[ItemT]], options: RequestOptions
) -> SyncPage[ItemT]:
    """Fetch the page ``call`` asks for."""
    return transport.call(call, options).attach(transport, call, options)


def sync_page_raw(
    transport: SyncTransport, call: Call[SyncPage[ItemT]], options: RequestOptions
) -> APIResponse[SyncPage[ItemT]]:
    """Fetch the page ``call`` asks for, with its HTTP response."""
    response = transport.call_raw(call, options)
    response.parsed.attach(transport, call, options)
    return response


async def async_page(
    transport: AsyncTransport, call: Call[AsyncPage[ItemT]], options: RequestOptions
) -> AsyncPage[ItemT]:
    """Fetch the page ``call`` asks for."""
    return (await transport.call(call, options)).attach(transport, call, options)


async def async_page_raw(
    transport: AsyncTransport, call: Call[AsyncPage[ItemT]], options: RequestOptions
) -> APIResponse[AsyncPage[ItemT]]:
    """Fetch the page ``call`` asks for, with its HTTP response."""
    response = await transport.call_raw(call, options)
    response.parsed.attach(transport, call, options)
    return response


class AsyncPager(Generic[ItemT]):
    """What an async list method returns: ``await`` it for the first page, or ``async for``
    over it for every item of every page. The arguments were checked when it was made."""

    __slots__ = ("_call", "_options", "_transport")

    def __init__(
        self, transport: AsyncTransport, call: Call[AsyncPage[ItemT]], options: RequestOptions
    ) -> None:
        self._transport = transport
        self._call = call
        self._options = options

    def __await__(self) -> Generator[Any, None, AsyncPage[ItemT]]:
        return async_page(self._transport, self._call, self._options).__await__()

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        page = await self
        async for item in page:
            yield item
