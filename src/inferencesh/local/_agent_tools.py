"""How an agent's tool calls run, per kind: app tools as tasks, HTTP/call and hook tools as
requests. Client tools and approvals are waits, and agent tools (sub-agents) child chats, both
handled by the turn (``_agent_runs``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import httpx

from inferencesh._generated.models import AgentTool, TaskStatus, ToolType
from inferencesh.local._agent_templates import tool_type
from inferencesh.local._errors import ApiError
from inferencesh.local._fanout import END
from inferencesh.local._records import TERMINAL
from inferencesh.local._tasks import Tasks

__all__ = ["ToolFailed", "ToolRunner"]

_RESULT_LIMIT = 64 * 1024
_CONTEXT = re.compile(r"\{\{\s*context\.([\w.-]+)\s*\}\}")
_SECRET = re.compile(r"\$\{\{\s*secrets\.([\w.-]+)\s*\}\}")


class ToolFailed(Exception):
    """One tool call failed; the model reports it and the turn goes on."""


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    items: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    return dict(items)


def _substitute(text: str, context: Mapping[str, str], secrets: Mapping[str, str]) -> str:
    text = _SECRET.sub(lambda m: secrets.get(m[1], os.environ.get(m[1], "")), text)
    return _CONTEXT.sub(lambda m: context.get(m[1], ""), text)


def _fill(value: Any, context: Mapping[str, str], secrets: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _substitute(value, context, secrets)
    if isinstance(value, dict):
        items = cast(dict[str, Any], value)
        return {key: _fill(item, context, secrets) for key, item in items.items()}
    if isinstance(value, list):
        entries: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return [_fill(item, context, secrets) for item in entries]
    return value


class ToolRunner:
    """Runs the tools that execute on the server."""

    def __init__(self, tasks: Tasks, secrets: Mapping[str, str]) -> None:
        self.tasks = tasks
        self.secrets = secrets

    async def run(
        self,
        tool: AgentTool,
        arguments: dict[str, Any],
        context: Mapping[str, str],
        on_task: Callable[[str], None],
    ) -> str:
        """The tool's result text; ``on_task`` gets the id of the task an app tool starts."""
        kind = tool_type(tool)
        if kind == ToolType.APP:
            return await self._app(tool, arguments, on_task)
        if kind in (ToolType.HTTP, ToolType.CALL, ToolType.HOOK):
            return await self._request(tool, arguments, context)
        raise ToolFailed(f"{kind.value} tools are not available on the local runtime")

    async def _app(
        self, tool: AgentTool, arguments: dict[str, Any], on_task: Callable[[str], None]
    ) -> str:
        config = tool.app
        if config is None or not config.ref:
            raise ToolFailed("the app tool has no app ref")
        given = _mapping(config.input)
        fixed = _mapping(config.fixed_input)
        body: dict[str, Any] = {"app": config.ref, "input": {**given, **arguments, **fixed}}
        if config.setup is not None:
            body["setup"] = config.setup
        if config.function:
            body["function"] = config.function
        try:
            created = self.tasks.create(body)
        except ApiError as exc:
            raise ToolFailed(exc.detail) from None
        on_task(created.id)
        _, queue = self.tasks.subscribe(created.id)
        try:
            while queue is not None and await queue.get() is not END:
                pass
        except asyncio.CancelledError:
            self.tasks.cancel(created.id)
            raise
        finally:
            if queue is not None:
                self.tasks.unsubscribe(created.id, queue)
        task = self.tasks.get(created.id)
        if task.status == TaskStatus.COMPLETED:
            return json.dumps(task.output, separators=(",", ":"))
        if task.status not in TERMINAL:
            raise ToolFailed("the task did not finish")
        raise ToolFailed(task.error or task.status.name.lower())

    async def _request(
        self, tool: AgentTool, arguments: dict[str, Any], context: Mapping[str, str]
    ) -> str:
        secrets = self.secrets
        headers: dict[str, str] = {}
        if tool.hook is not None:
            url, method = tool.hook.url, "POST"
            if tool.hook.secret:
                headers["X-Hook-Secret"] = tool.hook.secret
        else:
            config = tool.http or tool.call
            if config is None:
                raise ToolFailed("the tool has no URL")
            url, method = config.url, (config.method or "POST").upper()
            for key, value in (config.headers or {}).items():
                headers[key] = _substitute(value, context, secrets)
            auth = config.auth
            if auth is not None and auth.secret:
                value = secrets.get(auth.secret, os.environ.get(auth.secret, ""))
                if auth.type == "bearer":
                    headers["Authorization"] = f"Bearer {value}"
                elif auth.type == "api_key":
                    headers[auth.header or "X-API-Key"] = value
        if not url:
            raise ToolFailed("the tool has no URL")
        url = _substitute(url, context, secrets)
        payload = _fill(arguments, context, secrets)
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=None) as client:
                if method in ("GET", "DELETE", "HEAD"):
                    params = {
                        key: value if isinstance(value, str) else json.dumps(value)
                        for key, value in payload.items()
                    }
                    response = await client.request(method, url, params=params, headers=headers)
                else:
                    response = await client.request(method, url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise ToolFailed(f"{type(exc).__name__}: {exc}") from None
        text = response.text[:_RESULT_LIMIT]
        if response.status_code >= 400:
            raise ToolFailed(f"HTTP {response.status_code}: {text[:500]}")
        return text
