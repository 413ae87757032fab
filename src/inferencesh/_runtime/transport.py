"""The interface the generated resource classes call, and their bases.

Generated code builds a :class:`~inferencesh._runtime.request.Call` and hands it, with the
per-call options, to ``call`` (the parsed value) or ``call_raw`` (the value and the HTTP
response). The client's transport (``inferencesh._transport``: retries, envelopes, errors)
implements both; nothing else is needed to run a generated method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from inferencesh._runtime.request import Call, RequestOptions
    from inferencesh._runtime.response import APIResponse

__all__ = ["AsyncResource", "AsyncTransport", "SyncResource", "SyncTransport"]

T = TypeVar("T")


class SyncTransport(Protocol):
    """Blocking transport used by the generated resource classes."""

    def call(self, call: Call[T], options: RequestOptions) -> T:
        """Send ``call`` with ``options``; return its parsed payload or raise the typed error."""
        ...

    def call_raw(self, call: Call[T], options: RequestOptions) -> APIResponse[T]:
        """Like :meth:`call`, with the HTTP response alongside the parsed payload."""
        ...


class AsyncTransport(Protocol):
    """Async twin of :class:`SyncTransport`."""

    async def call(self, call: Call[T], options: RequestOptions) -> T:
        """Send ``call`` with ``options``; return its parsed payload or raise the typed error."""
        ...

    async def call_raw(self, call: Call[T], options: RequestOptions) -> APIResponse[T]:
        """Like :meth:`call`, with the HTTP response alongside the parsed payload."""
        ...


class SyncResource:
    """Base of every generated blocking resource (one API group of schema/openapi.yaml)."""

    def __init__(self, transport: SyncTransport) -> None:
        self._transport = transport


class AsyncResource:
    """Base of every generated async resource."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport
