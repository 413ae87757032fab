"""The smallest transport the generated endpoint classes can run on, for tests.

It sends exactly what the endpoint asked for, unwraps the v3 envelope ``{"data", "messages"}``
and validates the payload into the requested model. No retries, no error mapping: the tests
here are about the generated code, not the client's transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from inferencesh._runtime import RequestModel

M = TypeVar("M", bound=BaseModel)
Params = Mapping[str, str | int | float | bool | None] | None


def _payload(response: httpx.Response) -> Any:
    response.raise_for_status()
    if response.status_code == 204 or not response.content:
        return None
    body = response.json()
    if isinstance(body, dict) and "data" in body and set(body) <= {"data", "messages"}:
        return body["data"]
    return body


def _request_args(body: RequestModel | None, params: Params) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if body is not None:
        args["json"] = body.to_wire()
    if params is not None:
        args["params"] = dict(params)
    return args


class MiniTransport:
    """Blocking: satisfies ``inferencesh._runtime.transport.SyncTransport``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def _send(self, method: str, path: str, body: RequestModel | None, params: Params) -> Any:
        return _payload(self._client.request(method, path, **_request_args(body, params)))

    def request_model(
        self,
        method: str,
        path: str,
        *,
        model: type[M],
        body: RequestModel | None = None,
        params: Params = None,
    ) -> M:
        return model.model_validate(self._send(method, path, body, params))

    def request_list(
        self,
        method: str,
        path: str,
        *,
        item: type[M],
        body: RequestModel | None = None,
        params: Params = None,
    ) -> list[M]:
        return [item.model_validate(x) for x in self._send(method, path, body, params) or []]

    def request_none(
        self, method: str, path: str, *, body: RequestModel | None = None, params: Params = None
    ) -> None:
        self._send(method, path, body, params)

    def request_json(
        self, method: str, path: str, *, body: RequestModel | None = None, params: Params = None
    ) -> Any:
        return self._send(method, path, body, params)


class AsyncMiniTransport:
    """Async twin: satisfies ``inferencesh._runtime.transport.AsyncTransport``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _send(self, method: str, path: str, body: RequestModel | None, params: Params) -> Any:
        return _payload(await self._client.request(method, path, **_request_args(body, params)))

    async def request_model(
        self,
        method: str,
        path: str,
        *,
        model: type[M],
        body: RequestModel | None = None,
        params: Params = None,
    ) -> M:
        return model.model_validate(await self._send(method, path, body, params))

    async def request_list(
        self,
        method: str,
        path: str,
        *,
        item: type[M],
        body: RequestModel | None = None,
        params: Params = None,
    ) -> list[M]:
        return [item.model_validate(x) for x in await self._send(method, path, body, params) or []]

    async def request_none(
        self, method: str, path: str, *, body: RequestModel | None = None, params: Params = None
    ) -> None:
        await self._send(method, path, body, params)

    async def request_json(
        self, method: str, path: str, *, body: RequestModel | None = None, params: Params = None
    ) -> Any:
        return await self._send(method, path, body, params)
