"""The interface the generated endpoint classes call.

Generated code only knows these four methods; the client's transport (retries, envelopes, errors)
implements them. Keeping the surface this small is what lets the endpoint stubs stay generated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from inferencesh._runtime.base import RequestModel

__all__ = ["AsyncTransport", "Body", "Params", "SyncTransport", "coerce_body"]

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=RequestModel)

Body = RequestModel | None
Params = Mapping[str, str | int | float | bool | None] | None


def coerce_body(model: type[R], value: R | Mapping[str, Any]) -> R:
    """Accept a request as the documented dict or as the generated model; validate it."""
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, exclude_unset=True)
    return model.model_validate(value)


class SyncTransport(Protocol):
    """Blocking transport used by the generated ``*Endpoints`` classes."""

    def request_model(
        self, method: str, path: str, *, model: type[M], body: Body = None, params: Params = None
    ) -> M: ...

    def request_list(
        self, method: str, path: str, *, item: type[M], body: Body = None, params: Params = None
    ) -> list[M]: ...

    def request_none(
        self, method: str, path: str, *, body: Body = None, params: Params = None
    ) -> None: ...

    def request_json(
        self, method: str, path: str, *, body: Body = None, params: Params = None
    ) -> Any: ...


class AsyncTransport(Protocol):
    """Async twin of :class:`SyncTransport`."""

    async def request_model(
        self, method: str, path: str, *, model: type[M], body: Body = None, params: Params = None
    ) -> M: ...

    async def request_list(
        self, method: str, path: str, *, item: type[M], body: Body = None, params: Params = None
    ) -> list[M]: ...

    async def request_none(
        self, method: str, path: str, *, body: Body = None, params: Params = None
    ) -> None: ...

    async def request_json(
        self, method: str, path: str, *, body: Body = None, params: Params = None
    ) -> Any: ...
