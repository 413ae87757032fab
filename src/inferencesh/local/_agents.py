"""Agents on the local runtime: template agents, chats, runs, tool invocations and chat streams.

Each user message is one turn played by the scripted model (``_scripted``); this module runs
the turn's tool calls for real and keeps the records the API shows (``ChatDTO``,
``ChatMessageDTO``, ``AgentRunDTO``, ``ToolInvocationDTO``, ``InterruptDTO``), all in memory.

Statuses during a turn: the chat is ``busy`` (``awaiting_input`` while a tool waits for the
client or an approval) and ``idle`` after it; the run is ``working`` (``input_required`` while
waiting) and then ``completed``, ``failed`` or ``canceled``; the assistant message is
``pending`` until the turn ends, then ``ready`` (``failed``/``cancelled``). The last run stays
the chat's ``active_run``. A message sent to a busy chat is ``queued`` and played afterwards.

Tool calls: client tools wait in ``awaiting_input`` for ``POST /tools/{id}``; a tool with
``require_approval`` first waits in ``awaiting_approval`` for ``/invoke`` (then runs) or
``/reject`` (then ends ``cancelled`` with the reason as its result); app tools run their app as
a task on this runtime (``execution_id`` is the task id); ``http``/``call`` and ``hook`` tools
make their HTTP request, with ``{{context.KEY}}`` and ``${{secrets.NAME}}`` filled in. Other
tool types fail. A wait or a tool that lasts longer than ``agent_tool_timeout`` fails the
invocation and the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel, ValidationError

from inferencesh._generated.models import (
    AgentConfigInput,
    AgentDTO,
    AgentRunDTO,
    AgentRunState,
    AgentTool,
    ApiAgentRunRequest,
    ChatDTO,
    ChatMessageContent,
    ChatMessageContentType,
    ChatMessageDTO,
    ChatMessageRole,
    ChatMessageStatus,
    ChatSettingsRequest,
    ChatStatus,
    CreateAgentMessageResponse,
    CreateAgentRequest,
    DeltaEvent,
    FileRef,
    InterruptDTO,
    InterruptReason,
    InterruptResolution,
    InterruptStatus,
    ResourceStatusDTO,
    TaskStatus,
    ToolInvocationDTO,
    ToolInvocationStatus,
    ToolResultRequest,
    ToolType,
)
from inferencesh._runtime import CursorListResponse
from inferencesh.local import _scripted
from inferencesh.local._engine import (
    END,
    TERMINAL,
    Engine,
    _new_id,  # pyright: ignore[reportPrivateUsage]
    _now,  # pyright: ignore[reportPrivateUsage]
    _owner,  # pyright: ignore[reportPrivateUsage]
    _stable_id,  # pyright: ignore[reportPrivateUsage]
    _validation_detail,  # pyright: ignore[reportPrivateUsage]
    broadcast,
)
from inferencesh.local._errors import ApiError
from inferencesh.local._registry import DEFAULT_NAMESPACE

__all__ = ["Agents", "load_templates", "templates_from"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_BACKLOG = 10_000
_RESULT_LIMIT = 64 * 1024
_TOOL_KEYS = ("client", "app", "http", "call", "hook", "agent", "mcp", "internal")
_CONTEXT = re.compile(r"\{\{\s*context\.([\w.-]+)\s*\}\}")
_SECRET = re.compile(r"\$\{\{\s*secrets\.([\w.-]+)\s*\}\}")
_AGENT_REF = re.compile(r"^(?P<ns>[A-Za-z0-9][\w.-]*)/(?P<name>[A-Za-z0-9][\w.-]*)(@[\w.-]+)?$")


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    items: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    return dict(items)


def _tool_type(tool: AgentTool) -> ToolType:
    if tool.type is not None:
        return tool.type
    for key in _TOOL_KEYS:
        if getattr(tool, key) is not None:
            return ToolType(key)
    return ToolType.CLIENT


def _check_config(config: AgentConfigInput) -> list[AgentTool]:
    tools: list[AgentTool] = []
    seen: set[str] = set()
    for index, tool in enumerate(config.tools or []):
        if tool is None:
            continue
        if not tool.name:
            raise ApiError(400, "validation_error", f"agent_config.tools.{index}.name: required")
        if tool.name in seen:
            raise ApiError(400, "validation_error", f"tool {tool.name!r} is defined twice")
        seen.add(tool.name)
        tool.type = _tool_type(tool)
        tools.append(tool)
    return tools


def _finishes(config: AgentConfigInput) -> bool:
    internal = config.internal_tools
    return config.output_schema is not None or bool(internal is not None and internal.finish)


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


def load_templates(source: Any) -> list[tuple[str, AgentConfigInput]]:
    """Template agents from a YAML/JSON file path or a mapping ``{"ns/name": AgentConfig}``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(cast("str | os.PathLike[str]", source))
        text = path.read_text()
        if path.suffix == ".json":
            loaded: Any = json.loads(text)
        else:
            import yaml  # type: ignore[import-untyped]

            loaded = yaml.safe_load(text) or {}
    else:
        loaded = source
    if not isinstance(loaded, Mapping):
        raise ValueError("an agents file maps 'namespace/name' to an agent config")
    table: Mapping[Any, Any] = loaded  # pyright: ignore[reportUnknownVariableType]
    templates: list[tuple[str, AgentConfigInput]] = []
    for ref, raw in table.items():
        name = str(ref) if "/" in str(ref) else f"{DEFAULT_NAMESPACE}/{ref}"
        if not _AGENT_REF.match(name):
            raise ValueError(f"an agent ref is 'namespace/name', not {ref!r}")
        config = raw if isinstance(raw, AgentConfigInput) else AgentConfigInput.model_validate(raw)
        templates.append((name.split("@", 1)[0], config))
    return templates


class _TurnFailed(Exception):
    """The run cannot go on (a timeout); the message says why."""


class _ToolFailed(Exception):
    """One tool call failed; the model reports it and the turn goes on."""


@dataclass
class _Agent:
    dto: AgentDTO
    config: AgentConfigInput


@dataclass
class _Chat:
    dto: ChatDTO
    config: AgentConfigInput
    tools: dict[str, AgentTool]
    messages: list[ChatMessageDTO] = field(default_factory=lambda: [])
    runs: dict[str, AgentRunDTO] = field(default_factory=lambda: {})
    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=lambda: set())
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    turns: set[asyncio.Task[None]] = field(default_factory=lambda: set())
    delta_seq: int = 0


@dataclass
class _Call:
    chat: _Chat
    message: ChatMessageDTO
    run: AgentRunDTO
    dto: ToolInvocationDTO
    waiting: str | None = None
    future: asyncio.Future[tuple[str, str]] | None = None
    interrupt: InterruptDTO | None = None


class Agents:
    """Agent templates and chats of one runtime, on the engine's event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.agents: dict[str, _Agent] = {}
        self.chats: dict[str, _Chat] = {}
        self.calls: dict[str, _Call] = {}
        self.interrupts: dict[str, list[InterruptDTO]] = {}

    # ------------------------------------------------------------------ templates

    def add_template(
        self, ref: str, config: AgentConfigInput, *, title: str | None = None
    ) -> AgentDTO:
        """Register (or replace) a template agent ``namespace/name``."""
        tools = _check_config(config)
        namespace, name = ref.split("/", 1)
        now = _now()
        agent_id = _stable_id("agent_", ref)
        body = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        body.pop("name", None)
        version_id = _stable_id("agv_", ref + json.dumps(body, sort_keys=True))
        try:
            version = {
                **body,
                "id": version_id,
                "short_id": version_id[4:12],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "description": config.description or "",
                "example_prompts": config.example_prompts or [],
                "skills": body.get("skills") or [],
                "system_prompt": config.system_prompt or "",
                "tools": [
                    {"description": "", **tool.model_dump(mode="json", exclude_none=True)}
                    for tool in tools
                ],
            }
            dto = AgentDTO.model_validate(
                {
                    "id": agent_id,
                    "short_id": agent_id[6:14],
                    "created_at": now,
                    "updated_at": now,
                    **_owner(),
                    "images": {},
                    "name": name,
                    "namespace": namespace,
                    "title": title or config.name or name,
                    "version_id": version_id,
                    "version": version,
                }
            )
        except ValidationError as exc:
            raise ApiError(400, "validation_error", _validation_detail(exc)) from None
        self.agents[ref] = _Agent(dto, config)
        return dto

    def create_agent(self, body: Any) -> AgentDTO:
        """``POST /agents``: store a template agent from a ``CreateAgentRequest``."""
        request = _parse(CreateAgentRequest, body)
        if not request.name:
            raise ApiError(400, "validation_error", "name: required")
        ref = f"{request.namespace or DEFAULT_NAMESPACE}/{request.name}"
        if not _AGENT_REF.match(ref):
            raise ApiError(400, "validation_error", f"name: {request.name!r} is not a valid name")
        return self.add_template(ref, request.version or AgentConfigInput(), title=request.title)

    def _template(self, ref: str) -> _Agent:
        agent = self.agents.get(ref.split("@", 1)[0])
        if agent is None:
            raise ApiError(404, "not_found", f"Agent not found: {ref}")
        return agent

    def get_agent(self, namespace: str, name: str) -> AgentDTO:
        """A template agent by ``namespace/name``."""
        return self._template(f"{namespace}/{name}").dto

    def get_agent_by_id(self, agent_id: str) -> AgentDTO:
        """A template agent by id."""
        for agent in self.agents.values():
            if agent.dto.id == agent_id:
                return agent.dto
        raise ApiError(404, "not_found", f"Agent not found: {agent_id}")

    # ------------------------------------------------------------------ chats and turns

    def _chat(self, chat_id: str) -> _Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(404, "not_found", f"chat {chat_id} not found")
        return chat

    def _new_chat(self, request: ApiAgentRunRequest) -> _Chat:
        if request.agent:
            agent = self._template(request.agent)
            config, agent_id, version_id = agent.config, agent.dto.id, agent.dto.version_id
        elif request.agent_id:
            stored = self.get_agent_by_id(request.agent_id)
            config = self.agents[f"{stored.namespace}/{stored.name}"].config
            agent_id, version_id = stored.id, stored.version_id
        elif request.agent_config is not None:
            config = request.agent_config
            name = request.agent_name or config.name or "agent"
            agent_id = _stable_id("agent_", f"adhoc\0{name}")
            version_id = None
        else:
            raise ApiError(
                400, "validation_error", "one of agent, agent_id or agent_config is required"
            )
        tools = _check_config(config)
        context = {
            str(item.name): str(item.default)
            for item in config.context or []
            if item.name and item.default is not None
        }
        context.update(request.context or {})
        now = _now()
        chat_id = _new_id()
        text = (request.input.text if request.input else None) or ""
        dto = ChatDTO.model_validate(
            {
                "id": chat_id,
                "short_id": chat_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "agent_id": agent_id,
                "agent_version_id": version_id,
                "agent_data": {"memory": {}, "plan_steps": []},
                "chat_messages": [],
                "children": [],
                "context": context,
                "description": "",
                "name": text.splitlines()[0][:80] if text.strip() else "chat",
                "output": None,
                "pending_interrupts": [],
                "status": ChatStatus.IDLE,
            }
        )
        chat = _Chat(dto=dto, config=config, tools={str(t.name): t for t in tools})
        self.chats[chat_id] = chat
        return chat

    def _message(
        self, chat: _Chat, role: ChatMessageRole, status: ChatMessageStatus, content: list[Any]
    ) -> ChatMessageDTO:
        now = _now()
        message_id = _new_id()
        message = ChatMessageDTO.model_validate(
            {
                "id": message_id,
                "short_id": message_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "chat_id": chat.dto.id,
                "content": content,
                "order": len(chat.messages),
                "role": role,
                "status": status,
                "tool_invocations": [],
            }
        )
        chat.messages.append(message)
        return message

    def run(self, body: Any) -> CreateAgentMessageResponse:
        """``POST /agents/run``: store the user's message and start (or queue) its turn."""
        request = _parse(ApiAgentRunRequest, body)
        message = request.input
        attachments: list[FileRef] = list(message.attachments or []) if message else []
        if message is not None and not attachments:
            uris = [*(message.images or []), *(message.files or [])]
            attachments = [FileRef(uri=uri, filename=uri.rsplit("/", 1)[-1]) for uri in uris]
        text = (message.text if message else None) or ""
        if not text and not attachments:
            raise ApiError(400, "validation_error", "input.text: a message needs text or files")
        if request.chat_id:
            chat = self._chat(request.chat_id)
            if request.context:
                chat.dto.context = {**(chat.dto.context or {}), **request.context}
        else:
            chat = self._new_chat(request)
        content: list[dict[str, Any]] = []
        if text:
            content.append({"type": ChatMessageContentType.TEXT, "text": text})
        for ref in attachments:
            image = (ref.content_type or "").startswith("image/")
            kind = ChatMessageContentType.IMAGE if image else ChatMessageContentType.FILE
            content.append({"type": kind, kind.value: ref.uri})
        busy = bool(chat.turns)
        user = self._message(
            chat,
            ChatMessageRole.USER,
            ChatMessageStatus.QUEUED if busy else ChatMessageStatus.READY,
            content,
        )
        assistant = self._message(chat, ChatMessageRole.ASSISTANT, ChatMessageStatus.PENDING, [])
        run: AgentRunDTO | None = None
        if not busy:
            # Busy before answering, so a client reading the chat right after sees this turn.
            run = self._start_run(chat, user, assistant)
        self._emit(chat, "chat_messages", user)
        self._emit(chat, "chat_messages", assistant)
        self._emit_chat(chat)
        names = [ref.filename or (ref.uri or "").rsplit("/", 1)[-1] for ref in attachments]
        turn = asyncio.get_running_loop().create_task(
            self._turn(chat, user, assistant, run, text, names)
        )
        chat.turns.add(turn)
        turn.add_done_callback(chat.turns.discard)
        return CreateAgentMessageResponse(user_message=user, assistant_message=assistant)

    def _start_run(
        self, chat: _Chat, user: ChatMessageDTO, assistant: ChatMessageDTO
    ) -> AgentRunDTO:
        now = _now()
        run_id = _new_id()
        run = AgentRunDTO.model_validate(
            {
                "id": run_id,
                "short_id": run_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "agent_id": chat.dto.agent_id or "",
                "agent_version_id": chat.dto.agent_version_id,
                "chat_id": chat.dto.id,
                "state": AgentRunState.WORKING,
                "user_message_id": user.id,
                "output": None,
            }
        )
        chat.runs[run_id] = run
        user.agent_run_id = assistant.agent_run_id = run_id
        chat.dto.active_run = run
        chat.dto.status = ChatStatus.BUSY
        return run

    async def _turn(
        self,
        chat: _Chat,
        user: ChatMessageDTO,
        assistant: ChatMessageDTO,
        run: AgentRunDTO | None,
        text: str,
        attachments: list[str],
    ) -> None:
        try:
            async with chat.lock:
                if run is None:
                    user.status = ChatMessageStatus.READY
                    run = self._start_run(chat, user, assistant)
                    self._emit(chat, "chat_messages", user)
                    self._emit_run(chat, run)
                try:
                    await self._play(chat, assistant, run, text, attachments)
                except _TurnFailed as exc:
                    self._end_turn(chat, assistant, run, AgentRunState.FAILED, str(exc))
                except asyncio.CancelledError:
                    self._end_turn(chat, assistant, run, AgentRunState.CANCELED, None)
                    raise
                except Exception as exc:  # a bug here must end the turn, not hang its clients
                    detail = f"internal error: {type(exc).__name__}: {exc}"
                    self._end_turn(chat, assistant, run, AgentRunState.FAILED, detail)
        except asyncio.CancelledError:
            if run is None:  # stopped while queued
                for message in (user, assistant):
                    message.status = ChatMessageStatus.CANCELLED
                    self._emit(chat, "chat_messages", message)

    async def _play(
        self,
        chat: _Chat,
        assistant: ChatMessageDTO,
        run: AgentRunDTO,
        text: str,
        attachments: list[str],
    ) -> None:
        calls, rest = _scripted.plan(text, chat.tools)
        outcomes: list[_scripted.Outcome] = []
        for name, arguments in calls:
            outcomes.append(await self._call(chat, assistant, run, chat.tools[name], arguments))
        await self._say(chat, assistant, _scripted.reply(rest, outcomes, attachments))
        if _finishes(chat.config):
            output = _scripted.finish_output(text, chat.config.output_schema)
            invocation = self._invocation(
                assistant,
                "finish",
                ToolType.INTERNAL,
                cast(dict[str, Any], output) if isinstance(output, dict) else {},
            )
            invocation.status = ToolInvocationStatus.COMPLETED
            invocation.result = json.dumps(output)
            chat.dto.output = output
            run.output = output
        self._end_turn(chat, assistant, run, AgentRunState.COMPLETED, None)

    def _end_turn(
        self,
        chat: _Chat,
        assistant: ChatMessageDTO,
        run: AgentRunDTO,
        state: AgentRunState,
        error: str | None,
    ) -> None:
        now = _now()
        for call in [c for c in self.calls.values() if c.run is run and c.waiting is not None]:
            self._settle(call, ToolInvocationStatus.CANCELLED, InterruptStatus.CANCELLED)
        for invocation in assistant.tool_invocations or []:
            if invocation.status not in (
                ToolInvocationStatus.COMPLETED,
                ToolInvocationStatus.FAILED,
                ToolInvocationStatus.CANCELLED,
            ):
                invocation.status = ToolInvocationStatus.CANCELLED
        if state == AgentRunState.COMPLETED:
            assistant.status = ChatMessageStatus.READY
        elif state == AgentRunState.CANCELED:
            assistant.status = ChatMessageStatus.CANCELLED
        else:
            assistant.status = ChatMessageStatus.FAILED
            assistant.content = [
                *assistant.content,
                ChatMessageContent(type=ChatMessageContentType.TEXT, error=error),
            ]
        assistant.updated_at = now
        self._emit(chat, "chat_messages", assistant)
        run.state = state
        run.error = error
        run.finished_at = now
        run.updated_at = now
        run.interrupt_reason = run.interrupt_tool_id = run.tool_invocation_id = None
        chat.dto.pending_interrupts = []
        chat.dto.status = ChatStatus.IDLE
        self._emit_run(chat, run)

    async def _say(self, chat: _Chat, assistant: ChatMessageDTO, text: str) -> None:
        part = ChatMessageContent(type=ChatMessageContentType.TEXT, text="")
        assistant.content = [*assistant.content, part]
        delay = self.engine.config.agent_token_delay
        for chunk in _scripted.words(text):
            # Paced like a model's tokens, so a stream opened right after the POST sees them.
            await asyncio.sleep(delay)
            part.text = (part.text or "") + chunk
            chat.delta_seq += 1
            event = DeltaEvent(
                delta={"response": chunk}, seq=chat.delta_seq, resource_id=assistant.id
            )
            self._emit(chat, "delta", event)

    # ------------------------------------------------------------------ tool calls

    def _invocation(
        self, message: ChatMessageDTO, name: str, kind: ToolType, arguments: dict[str, Any]
    ) -> ToolInvocationDTO:
        now = _now()
        invocation_id = _new_id()
        invocation = ToolInvocationDTO.model_validate(
            {
                "id": invocation_id,
                "short_id": invocation_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "chat_message_id": message.id,
                "display_name": name,
                "function": {"name": name, "arguments": arguments},
                "status": ToolInvocationStatus.PENDING,
                "tool_invocation_id": f"call_{invocation_id}",
                "type": kind,
            }
        )
        message.tool_invocations = [*(message.tool_invocations or []), invocation]
        return invocation

    async def _call(
        self,
        chat: _Chat,
        message: ChatMessageDTO,
        run: AgentRunDTO,
        tool: AgentTool,
        arguments: dict[str, Any],
    ) -> _scripted.Outcome:
        name = str(tool.name)
        kind = _tool_type(tool)
        dto = self._invocation(message, name, kind, arguments)
        dto.display_name = tool.display_name or name
        call = _Call(chat=chat, message=message, run=run, dto=dto)
        self.calls[dto.id] = call
        self._emit(chat, "chat_messages", message)
        timeout = self.engine.config.agent_tool_timeout
        try:
            if tool.require_approval and not self._all_allowed(chat):
                decision, reason = await self._wait(call, "approval")
                if decision == "reject":
                    return _scripted.Outcome(name, "rejected", reason)
            if kind == ToolType.CLIENT:
                _, result = await self._wait(call, "result")
            else:
                self._set_status(call, ToolInvocationStatus.IN_PROGRESS)
                try:
                    result = await asyncio.wait_for(self._execute(call, tool, arguments), timeout)
                except asyncio.TimeoutError:
                    raise _TurnFailed(f"tool {name} timed out after {timeout:g} s") from None
        except _ToolFailed as exc:
            dto.result = str(exc)
            self._set_status(call, ToolInvocationStatus.FAILED)
            return _scripted.Outcome(name, "failed", str(exc))
        except _TurnFailed as exc:
            dto.result = str(exc)
            self._set_status(call, ToolInvocationStatus.FAILED)
            raise
        dto.result = result
        self._set_status(call, ToolInvocationStatus.COMPLETED)
        return _scripted.Outcome(name, "completed", result)

    def _set_status(self, call: _Call, status: ToolInvocationStatus) -> None:
        call.dto.status = status
        call.dto.updated_at = call.message.updated_at = _now()
        self._emit(call.chat, "chat_messages", call.message)

    async def _wait(self, call: _Call, kind: str) -> tuple[str, str]:
        """Wait for the client's result or a decision; the turn fails when none comes in time."""
        chat, run, dto = call.chat, call.run, call.dto
        now = _now()
        timeout = self.engine.config.agent_tool_timeout
        reason = (
            InterruptReason.TOOL_APPROVAL if kind == "approval" else InterruptReason.CLIENT_TOOL
        )
        interrupt_id = _new_id()
        call.interrupt = InterruptDTO.model_validate(
            {
                "id": interrupt_id,
                "short_id": interrupt_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "chat_id": chat.dto.id,
                "run_id": run.id,
                "reason": reason,
                "source": "tool",
                "resource_id": dto.id,
                "resource_type": "tool_invocation",
                "status": InterruptStatus.PENDING,
                "expires_at": now + timedelta(seconds=timeout),
                "meta": {
                    "tool_invocation_id": dto.id,
                    "tool_name": dto.function.name,
                    "arguments": dto.function.arguments,
                },
            }
        )
        self.interrupts.setdefault(run.id, []).append(call.interrupt)
        call.waiting = kind
        call.future = asyncio.get_running_loop().create_future()
        chat.dto.pending_interrupts = [*(chat.dto.pending_interrupts or []), call.interrupt]
        chat.dto.status = ChatStatus.AWAITING_INPUT
        run.state = AgentRunState.INPUT_REQUIRED
        run.interrupt_reason = reason
        run.interrupt_tool_id = run.tool_invocation_id = dto.id
        run.updated_at = now
        status = (
            ToolInvocationStatus.AWAITING_APPROVAL
            if kind == "approval"
            else ToolInvocationStatus.AWAITING_INPUT
        )
        self._set_status(call, status)
        self._emit_run(chat, run)
        try:
            return await asyncio.wait_for(asyncio.shield(call.future), timeout)
        except asyncio.TimeoutError:
            self._settle(call, ToolInvocationStatus.FAILED, InterruptStatus.EXPIRED)
            what = "an approval" if kind == "approval" else "the client's result"
            raise _TurnFailed(
                f"tool {dto.function.name} timed out after {timeout:g} s waiting for {what}"
            ) from None

    def _settle(
        self,
        call: _Call,
        status: ToolInvocationStatus,
        interrupt_status: InterruptStatus,
        resolution: InterruptResolution | None = None,
    ) -> None:
        """End a wait: the invocation's new status, the interrupt resolved, the run working."""
        chat, run = call.chat, call.run
        now = _now()
        call.waiting = None
        if call.interrupt is not None:
            call.interrupt.status = interrupt_status
            call.interrupt.resolution = resolution
            call.interrupt.resolved_at = now
            call.interrupt.updated_at = now
            chat.dto.pending_interrupts = [
                item for item in chat.dto.pending_interrupts or [] if item.id != call.interrupt.id
            ]
        if not chat.dto.pending_interrupts and run.state == AgentRunState.INPUT_REQUIRED:
            chat.dto.status = ChatStatus.BUSY
            run.state = AgentRunState.WORKING
            run.interrupt_reason = run.interrupt_tool_id = run.tool_invocation_id = None
            run.updated_at = now
        self._set_status(call, status)
        self._emit_run(chat, run)

    def _waiting(self, invocation_id: str, kind: str) -> _Call:
        call = self.calls.get(invocation_id)
        if call is None:
            raise ApiError(404, "not_found", f"tool invocation {invocation_id} not found")
        if call.waiting != kind or call.future is None or call.future.done():
            what = "a result" if kind == "result" else "an approval"
            raise ApiError(
                409,
                "invalid_transition",
                f"tool invocation {invocation_id} is {call.dto.status.value},"
                f" not waiting for {what}",
            )
        return call

    def tool_result(self, invocation_id: str, body: Any) -> None:
        """``POST /tools/{id}``: the client's result for a client tool."""
        request = _parse(ToolResultRequest, body)
        attachments = request.attachments or []
        if len(attachments) > 20:
            raise ApiError(400, "validation_error", "attachments: at most 20 files")
        call = self._waiting(invocation_id, "result")
        if attachments:
            call.dto.data = {"attachments": [_dump(ref) for ref in attachments]}
        result = request.result or ""
        self._settle(call, ToolInvocationStatus.IN_PROGRESS, InterruptStatus.RESOLVED)
        assert call.future is not None
        call.future.set_result(("result", result))

    def _check_approver(self) -> None:
        if not self.engine.config.allow_key_approvals:
            raise ApiError(
                403,
                "requires_sign_in",
                "approving or rejecting a tool call needs a signed-in user, not an API key",
            )

    def approve(self, invocation_id: str) -> None:
        """``POST /tools/{id}/invoke``: let a tool that waits for approval run."""
        self._check_approver()
        call = self._waiting(invocation_id, "approval")
        self._settle(
            call,
            ToolInvocationStatus.IN_PROGRESS,
            InterruptStatus.RESOLVED,
            InterruptResolution.ALLOW,
        )
        assert call.future is not None
        call.future.set_result(("approve", ""))

    def reject(self, invocation_id: str, body: Any) -> None:
        """``POST /tools/{id}/reject``: refuse a tool call; the reason is its result."""
        self._check_approver()
        reason = _mapping(body).get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ApiError(400, "validation_error", "reason: must be a string")
        call = self._waiting(invocation_id, "approval")
        call.dto.result = reason or ""
        self._settle(
            call, ToolInvocationStatus.CANCELLED, InterruptStatus.RESOLVED, InterruptResolution.DENY
        )
        assert call.future is not None
        call.future.set_result(("reject", reason or ""))

    def resolve_interrupt(self, interrupt_id: str, body: Any) -> InterruptDTO:
        """``POST /interrupts/{id}/resolve``: ``allow`` or ``deny`` a pending tool approval."""
        decision = _mapping(body).get("decision")
        if decision not in ("allow", "deny"):
            raise ApiError(400, "validation_error", "decision: must be 'allow' or 'deny'")
        for call in self.calls.values():
            if call.interrupt is not None and call.interrupt.id == interrupt_id:
                interrupt = call.interrupt
                if interrupt.reason != InterruptReason.TOOL_APPROVAL:
                    raise ApiError(
                        409, "invalid_transition", "only tool approvals are resolved this way"
                    )
                if decision == "allow":
                    self.approve(call.dto.id)
                else:
                    self.reject(call.dto.id, {"reason": "denied"})
                return interrupt
        for past in self.interrupts.values():
            if any(item.id == interrupt_id for item in past):
                raise ApiError(
                    409, "invalid_transition", f"interrupt {interrupt_id} is not pending"
                )
        raise ApiError(404, "not_found", f"interrupt {interrupt_id} not found")

    def run_interrupts(self, run_id: str) -> list[InterruptDTO]:
        """Every interrupt raised during one run, oldest first."""
        if not any(run_id in chat.runs for chat in self.chats.values()):
            raise ApiError(404, "not_found", f"agent run {run_id} not found")
        return list(self.interrupts.get(run_id, []))

    async def _execute(self, call: _Call, tool: AgentTool, arguments: dict[str, Any]) -> str:
        kind = _tool_type(tool)
        if kind == ToolType.APP:
            return await self._run_app(call, tool, arguments)
        if kind in (ToolType.HTTP, ToolType.CALL, ToolType.HOOK):
            return await self._request(call, tool, arguments)
        raise _ToolFailed(f"{kind.value} tools are not available on the local runtime")

    async def _run_app(self, call: _Call, tool: AgentTool, arguments: dict[str, Any]) -> str:
        config = tool.app
        if config is None or not config.ref:
            raise _ToolFailed("the app tool has no app ref")
        given = _mapping(config.input)
        fixed = _mapping(config.fixed_input)
        body: dict[str, Any] = {"app": config.ref, "input": {**given, **arguments, **fixed}}
        if config.setup is not None:
            body["setup"] = config.setup
        if config.function:
            body["function"] = config.function
        try:
            created = self.engine.create_task(body)
        except ApiError as exc:
            raise _ToolFailed(exc.detail) from None
        call.dto.execution_id = created.id
        self._emit(call.chat, "chat_messages", call.message)
        _, queue = self.engine.subscribe(created.id)
        try:
            while queue is not None and await queue.get() is not END:
                pass
        except asyncio.CancelledError:
            self.engine.cancel_task(created.id)
            raise
        finally:
            if queue is not None:
                self.engine.unsubscribe(created.id, queue)
        task = self.engine.get_task(created.id)
        if task.status == TaskStatus.COMPLETED:
            return json.dumps(task.output, separators=(",", ":"))
        if task.status not in TERMINAL:
            raise _ToolFailed("the task did not finish")
        raise _ToolFailed(task.error or task.status.name.lower())

    async def _request(self, call: _Call, tool: AgentTool, arguments: dict[str, Any]) -> str:
        context = call.chat.dto.context or {}
        secrets = self.engine.config.secrets
        headers: dict[str, str] = {}
        if tool.hook is not None:
            url, method = tool.hook.url, "POST"
            if tool.hook.secret:
                headers["X-Hook-Secret"] = tool.hook.secret
        else:
            config = tool.http or tool.call
            if config is None:
                raise _ToolFailed("the tool has no URL")
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
            raise _ToolFailed("the tool has no URL")
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
            raise _ToolFailed(f"{type(exc).__name__}: {exc}") from None
        text = response.text[:_RESULT_LIMIT]
        if response.status_code >= 400:
            raise _ToolFailed(f"HTTP {response.status_code}: {text[:500]}")
        return text

    # ------------------------------------------------------------------ reads, stop, streams

    def get_chat(self, chat_id: str) -> ChatDTO:
        """A chat with its status, active run, pending interrupts and output (no messages)."""
        return self._chat(chat_id).dto

    def chat_status(self, chat_id: str) -> ResourceStatusDTO:
        """Only id, status and update time."""
        dto = self._chat(chat_id).dto
        return ResourceStatusDTO(id=dto.id, status=dto.status.value, updated_at=dto.updated_at)

    def list_messages(
        self, chat_id: str, limit: str | None, cursor: str | None
    ) -> CursorListResponse[ChatMessageDTO]:
        """One page of a chat's messages, oldest first; the cursor is the last order seen."""
        chat = self._chat(chat_id)
        try:
            size = 50 if limit is None else int(limit)
            start = -1 if not cursor else int(cursor)
        except ValueError:
            raise ApiError(400, "validation_error", "limit and cursor must be integers") from None
        if not 1 <= size <= 100:
            raise ApiError(400, "validation_error", "limit must be between 1 and 100")
        after = [message for message in chat.messages if message.order > start]
        page = after[:size]
        more = len(after) > size
        return CursorListResponse[ChatMessageDTO](
            items=page,
            next_cursor=str(page[-1].order) if more and page else None,
            has_next=more,
            has_previous=start >= 0,
            items_per_page=size,
            total_items=len(chat.messages),
        )

    def _all_allowed(self, chat: _Chat) -> bool:
        permissions = chat.config.permissions
        return bool(
            chat.dto.agent_data.allow_all_tools or (permissions and permissions.allow_all_tools)
        )

    def update_chat(self, chat_id: str, body: Any) -> ChatDTO:
        """``POST /chats/{id}``: rename, change visibility, allow every tool, forget memory."""
        chat = self._chat(chat_id)
        request = _parse(ChatSettingsRequest, body)
        if request.name is not None:
            chat.dto.name = request.name
        if request.visibility is not None:
            chat.dto.visibility = request.visibility
        data = chat.dto.agent_data
        if request.allow_all_tools is not None:
            data.allow_all_tools = request.allow_all_tools
        if request.disable_hooks is not None:
            data.disable_hooks = request.disable_hooks
        for key in request.forget_memory or []:
            data.memory.pop(key, None)
        self._emit_chat(chat)
        return chat.dto

    def send_message(self, chat_id: str, body: Any) -> ChatMessageDTO:
        """``POST /chats/{id}/messages``: a user message to an existing chat."""
        self._chat(chat_id)
        text = _mapping(body).get("message")
        if not isinstance(text, str):
            raise ApiError(400, "validation_error", "message: required (a string)")
        sent = self.run({"chat_id": chat_id, "input": {"text": text}})
        assert sent.user_message is not None
        return sent.user_message

    async def delete_chat(self, chat_id: str) -> None:
        """``DELETE /chats/{id}``: stop it, end its streams and forget it."""
        chat = self._chat(chat_id)
        turns = list(chat.turns)
        for turn in turns:
            turn.cancel()
        await asyncio.gather(*turns, return_exceptions=True)
        self.chats.pop(chat_id, None)
        for call_id in [key for key, call in self.calls.items() if call.chat is chat]:
            del self.calls[call_id]
        for run_id in chat.runs:
            self.interrupts.pop(run_id, None)
        for queue in list(chat.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(END)

    def delete_agent(self, agent_id: str) -> None:
        """``DELETE /agents/{id}``: forget a template agent (its chats go on)."""
        dto = self.get_agent_by_id(agent_id)
        del self.agents[f"{dto.namespace}/{dto.name}"]

    def stop(self, chat_id: str) -> None:
        """Stop the running turn and drop the queued ones."""
        chat = self._chat(chat_id)
        for turn in list(chat.turns):
            turn.cancel()

    def subscribe(self, chat_id: str) -> tuple[list[dict[str, Any]], asyncio.Queue[dict[str, Any]]]:
        """A full snapshot (the chat, its messages, its active run) and a queue of later events."""
        chat = self._chat(chat_id)
        snapshot = [{"event": "chats", "data": _dump(chat.dto)}]
        snapshot += [{"event": "chat_messages", "data": _dump(m)} for m in chat.messages]
        if chat.dto.active_run is not None:
            snapshot.append({"event": "agent_runs", "data": _dump(chat.dto.active_run)})
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_BACKLOG)
        chat.subscribers.add(queue)
        return snapshot, queue

    def unsubscribe(self, chat_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering events to ``queue``."""
        chat = self.chats.get(chat_id)
        if chat is not None:
            chat.subscribers.discard(queue)

    def _emit(self, chat: _Chat, event: str, model: Any) -> None:
        broadcast(chat.subscribers, {"event": event, "data": _dump(model)})

    def _emit_chat(self, chat: _Chat) -> None:
        chat.dto.updated_at = _now()
        self._emit(chat, "chats", chat.dto)

    def _emit_run(self, chat: _Chat, run: AgentRunDTO) -> None:
        self._emit(chat, "agent_runs", run)
        self._emit_chat(chat)

    async def close(self) -> None:
        """Stop every turn and end every stream."""
        turns = [turn for chat in self.chats.values() for turn in chat.turns]
        for turn in turns:
            turn.cancel()
        await asyncio.gather(*turns, return_exceptions=True)
        for chat in self.chats.values():
            for queue in list(chat.subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(END)


def _parse(model: type[ModelT], body: Any) -> ModelT:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(400, "validation_error", _validation_detail(exc)) from None


def templates_from(sources: Iterable[Any]) -> list[tuple[str, AgentConfigInput]]:
    """Templates from several files or mappings, in order (a later one replaces an earlier)."""
    found: list[tuple[str, AgentConfigInput]] = []
    for source in sources:
        found += load_templates(source)
    return found
