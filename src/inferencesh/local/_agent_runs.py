"""Agent runs: each user message is one turn played by the scripted model (``_scripted``).

This module runs the turn's tool calls (through ``_agent_tools``, or as waits for the client)
and keeps the run records the API shows (``AgentRunDTO``, ``ToolInvocationDTO``,
``InterruptDTO``), kept with their chat (``_chats``).

Statuses during a turn: the chat is ``busy`` (``awaiting_input`` while a tool waits for the
client or an approval) and ``idle`` after it; the run is ``working`` (``input_required`` while
waiting) and then ``completed``, ``failed`` or ``canceled``; the assistant message is
``pending`` until the turn ends, then ``ready`` (``failed``/``cancelled``). The last run stays
the chat's ``active_run``. A message sent to a busy chat is ``queued`` and played afterwards.

Tool calls: client tools wait in ``awaiting_input`` for ``POST /tools/{id}``; a tool with
``require_approval`` first waits in ``awaiting_approval`` for ``/invoke`` (then runs) or
``/reject`` (then ends ``cancelled`` with the reason as its result); app tools run their app as
a task on this runtime (``execution_id`` is the task id); ``http``/``call`` and ``hook`` tools
make their HTTP request, with ``{{context.KEY}}`` and ``${{secrets.NAME}}`` filled in; ``agent``
tools (sub-agents) start a child chat of the template agent they name (``parent_id`` set, listed
in the parent's ``children``; ``execution_id`` is its id) whose message is the call's ``task``
(or ``message``, ``prompt``, ``input``, ``text``, ``query``) argument, else the arguments as
JSON; the result is the child's ``output`` (as JSON) when it finishes with one, else its reply.
Sub-agents nest at most 5 deep. Other tool types fail. A wait or a tool that lasts longer than
``agent_tool_timeout`` fails the invocation and the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from inferencesh._generated.models import (
    AgentRunDTO,
    AgentRunState,
    AgentTool,
    ApiAgentRunRequest,
    ChatMessageContent,
    ChatMessageContentType,
    ChatMessageDTO,
    ChatMessageRole,
    ChatMessageStatus,
    ChatStatus,
    CreateAgentMessageResponse,
    DeltaEvent,
    FileRef,
    InterruptDTO,
    InterruptReason,
    InterruptResolution,
    InterruptStatus,
    ToolInvocationDTO,
    ToolInvocationStatus,
    ToolResultRequest,
    ToolType,
)
from inferencesh.local import _scripted
from inferencesh.local._agent_templates import Templates, check_config, finishes, tool_type
from inferencesh.local._agent_tools import ToolFailed, ToolRunner
from inferencesh.local._chats import Chat, Chats
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._errors import ApiError
from inferencesh.local._records import header, new_id, now, parse, stable_id

__all__ = ["AgentRuns"]


# How deep agent tools may nest (an agent that names itself as a tool stops here).
_MAX_DEPTH = 5
# Argument names whose text a sub-agent gets as its message (otherwise the arguments as JSON).
_TASK_KEYS = ("task", "message", "prompt", "input", "text", "query")


def _task_text(arguments: dict[str, Any]) -> str:
    """The message a sub-agent gets for the arguments of its tool call."""
    for key in _TASK_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return json.dumps(arguments, separators=(",", ":")) if arguments else "Hello."


class _TurnFailed(Exception):
    """The run cannot go on (a timeout); the message says why."""


@dataclass
class _Call:
    chat: Chat
    message: ChatMessageDTO
    run: AgentRunDTO
    dto: ToolInvocationDTO
    waiting: str | None = None
    future: asyncio.Future[tuple[str, str]] | None = None
    interrupt: InterruptDTO | None = None


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    items: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    return dict(items)


class AgentRuns:
    """Turns, tool calls and interrupts of the chats of one runtime."""

    def __init__(
        self, templates: Templates, chats: Chats, tools: ToolRunner, config: RuntimeConfig
    ) -> None:
        self.templates = templates
        self.chats = chats
        self.tools = tools
        self.config = config
        self.calls: dict[str, _Call] = {}

    # ------------------------------------------------------------------ messages and turns

    def _new_chat(self, request: ApiAgentRunRequest) -> Chat:
        if request.agent:
            agent = self.templates.find(request.agent)
            config, agent_id, version_id = agent.config, agent.dto.id, agent.dto.version_id
        elif request.agent_id:
            agent = self.templates.find_by_id(request.agent_id)
            config, agent_id, version_id = agent.config, agent.dto.id, agent.dto.version_id
        elif request.agent_config is not None:
            config = request.agent_config
            name = request.agent_name or config.name or "agent"
            agent_id = stable_id("agent_", f"adhoc\0{name}")
            version_id = None
        else:
            raise ApiError(
                400, "validation_error", "one of agent, agent_id or agent_config is required"
            )
        tools = check_config(config)
        context = {
            str(item.name): str(item.default)
            for item in config.context or []
            if item.name and item.default is not None
        }
        context.update(request.context or {})
        text = (request.input.text if request.input else None) or ""
        return self.chats.new(
            config, tools, agent_id=agent_id, version_id=version_id, context=context, text=text
        )

    def run(self, body: Any, *, parent: Chat | None = None) -> CreateAgentMessageResponse:
        """``POST /agents/run``: store the user's message and start (or queue) its turn.

        ``parent``: the chat whose agent tool starts this one (a sub-agent's new chat).
        """
        request = parse(ApiAgentRunRequest, body)
        message = request.input
        attachments: list[FileRef] = list(message.attachments or []) if message else []
        if message is not None and not attachments:
            uris = [*(message.images or []), *(message.files or [])]
            attachments = [FileRef(uri=uri, filename=uri.rsplit("/", 1)[-1]) for uri in uris]
        text = (message.text if message else None) or ""
        if not text and not attachments:
            raise ApiError(400, "validation_error", "input.text: a message needs text or files")
        if request.chat_id:
            chat = self.chats.find(request.chat_id)
            if request.context:
                chat.dto.context = {**(chat.dto.context or {}), **request.context}
        else:
            chat = self._new_chat(request)
            if parent is not None:
                self.chats.adopt(parent, chat)
        content: list[dict[str, Any]] = []
        if text:
            content.append({"type": ChatMessageContentType.TEXT, "text": text})
        for ref in attachments:
            image = (ref.content_type or "").startswith("image/")
            kind = ChatMessageContentType.IMAGE if image else ChatMessageContentType.FILE
            content.append({"type": kind, kind.value: ref.uri})
        busy = bool(chat.turns)
        user = self.chats.add_message(
            chat,
            ChatMessageRole.USER,
            ChatMessageStatus.QUEUED if busy else ChatMessageStatus.READY,
            content,
        )
        assistant = self.chats.add_message(
            chat, ChatMessageRole.ASSISTANT, ChatMessageStatus.PENDING, []
        )
        run: AgentRunDTO | None = None
        if not busy:
            # Busy before answering, so a client reading the chat right after sees this turn.
            run = self._start_run(chat, user, assistant)
        self.chats.emit(chat, "chat_messages", user)
        self.chats.emit(chat, "chat_messages", assistant)
        self.chats.emit_chat(chat)
        names = [ref.filename or (ref.uri or "").rsplit("/", 1)[-1] for ref in attachments]
        turn = asyncio.get_running_loop().create_task(
            self._turn(chat, user, assistant, run, text, names)
        )
        chat.turns.add(turn)
        turn.add_done_callback(chat.turns.discard)
        return CreateAgentMessageResponse(user_message=user, assistant_message=assistant)

    def send_message(self, chat_id: str, body: Any) -> ChatMessageDTO:
        """``POST /chats/{id}/messages``: a user message to an existing chat."""
        self.chats.find(chat_id)
        text = _mapping(body).get("message")
        if not isinstance(text, str):
            raise ApiError(400, "validation_error", "message: required (a string)")
        sent = self.run({"chat_id": chat_id, "input": {"text": text}})
        assert sent.user_message is not None
        return sent.user_message

    async def delete_chat(self, chat_id: str) -> None:
        """``DELETE /chats/{id}``: stop it, end its streams and forget it."""
        chat = self.chats.find(chat_id)
        turns = list(chat.turns)
        for turn in turns:
            turn.cancel()
        await asyncio.gather(*turns, return_exceptions=True)
        for call_id in [key for key, call in self.calls.items() if call.chat is chat]:
            del self.calls[call_id]
        self.chats.remove(chat)

    def _start_run(
        self, chat: Chat, user: ChatMessageDTO, assistant: ChatMessageDTO
    ) -> AgentRunDTO:
        run_id = new_id()
        run = AgentRunDTO.model_validate(
            {
                **header(run_id),
                "agent_id": chat.dto.agent_id or "",
                "agent_version_id": chat.dto.agent_version_id,
                "chat_id": chat.dto.id,
                "state": AgentRunState.WORKING,
                "user_message_id": user.id,
                "output": None,
            }
        )
        chat.runs[run_id] = run
        self.chats.note_run(chat, run)
        user.agent_run_id = assistant.agent_run_id = run_id
        chat.dto.active_run = run
        chat.dto.status = ChatStatus.BUSY
        return run

    async def _turn(
        self,
        chat: Chat,
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
                    self.chats.emit(chat, "chat_messages", user)
                    self.chats.emit_run(chat, run)
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
                    self.chats.emit(chat, "chat_messages", message)

    async def _play(
        self,
        chat: Chat,
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
        if finishes(chat.config):
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
        chat: Chat,
        assistant: ChatMessageDTO,
        run: AgentRunDTO,
        state: AgentRunState,
        error: str | None,
    ) -> None:
        stamp = now()
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
        assistant.updated_at = stamp
        self.chats.emit(chat, "chat_messages", assistant)
        run.state = state
        run.error = error
        run.finished_at = stamp
        run.updated_at = stamp
        run.interrupt_reason = run.interrupt_tool_id = run.tool_invocation_id = None
        chat.dto.pending_interrupts = []
        chat.dto.status = ChatStatus.IDLE
        self.chats.emit_run(chat, run)

    async def _say(self, chat: Chat, assistant: ChatMessageDTO, text: str) -> None:
        part = ChatMessageContent(type=ChatMessageContentType.TEXT, text="")
        assistant.content = [*assistant.content, part]
        delay = self.config.agent_token_delay
        for chunk in _scripted.words(text):
            # Paced like a model's tokens, so a stream opened right after the POST sees them.
            await asyncio.sleep(delay)
            part.text = (part.text or "") + chunk
            chat.delta_seq += 1
            event = DeltaEvent(
                delta={"response": chunk}, seq=chat.delta_seq, resource_id=assistant.id
            )
            self.chats.emit(chat, "delta", event)

    # ------------------------------------------------------------------ tool calls

    def _invocation(
        self, message: ChatMessageDTO, name: str, kind: ToolType, arguments: dict[str, Any]
    ) -> ToolInvocationDTO:
        invocation_id = new_id()
        invocation = ToolInvocationDTO.model_validate(
            {
                **header(invocation_id),
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
        chat: Chat,
        message: ChatMessageDTO,
        run: AgentRunDTO,
        tool: AgentTool,
        arguments: dict[str, Any],
    ) -> _scripted.Outcome:
        name = str(tool.name)
        kind = tool_type(tool)
        dto = self._invocation(message, name, kind, arguments)
        dto.display_name = tool.display_name or name
        call = _Call(chat=chat, message=message, run=run, dto=dto)
        self.calls[dto.id] = call
        self.chats.emit(chat, "chat_messages", message)
        timeout = self.config.agent_tool_timeout

        def on_task(task_id: str) -> None:
            dto.execution_id = task_id
            self.chats.emit(chat, "chat_messages", message)

        try:
            if tool.require_approval and not self.chats.all_allowed(chat):
                decision, reason = await self._wait(call, "approval")
                if decision == "reject":
                    return _scripted.Outcome(name, "rejected", reason)
            if kind == ToolType.CLIENT:
                _, result = await self._wait(call, "result")
            else:
                self._set_status(call, ToolInvocationStatus.IN_PROGRESS)
                context = chat.dto.context or {}
                if kind == ToolType.AGENT:
                    work = self._delegate(chat, tool, arguments, on_task)
                else:
                    work = self.tools.run(tool, arguments, context, on_task)
                try:
                    result = await asyncio.wait_for(work, timeout)
                except asyncio.TimeoutError:
                    raise _TurnFailed(f"tool {name} timed out after {timeout:g} s") from None
        except ToolFailed as exc:
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

    async def _delegate(
        self,
        parent: Chat,
        tool: AgentTool,
        arguments: dict[str, Any],
        on_task: Callable[[str], None],
    ) -> str:
        """Run a sub-agent: a child chat of ``parent`` whose one turn answers the call."""
        config = tool.agent
        if config is None or not (config.ref or config.id):
            raise ToolFailed("the agent tool names no agent (agent.ref)")
        depth, ancestor = 1, parent
        while ancestor.dto.parent_id:
            depth += 1
            if depth > _MAX_DEPTH:
                raise ToolFailed(f"sub-agents nest deeper than {_MAX_DEPTH} levels")
            ancestor = self.chats.find(ancestor.dto.parent_id)
        body: dict[str, Any] = {"input": {"text": _task_text(arguments)}}
        if config.ref:
            body["agent"] = config.ref
        else:
            body["agent_id"] = config.id
        try:
            sent = self.run(body, parent=parent)
        except ApiError as exc:
            raise ToolFailed(exc.detail) from None
        assert sent.assistant_message is not None
        child = self.chats.find(sent.assistant_message.chat_id)
        on_task(child.dto.id)
        turns = list(child.turns)
        try:
            if turns:
                await asyncio.wait(turns)
        except asyncio.CancelledError:
            for turn in turns:
                turn.cancel()
            raise
        run = child.dto.active_run
        if run is None or run.state != AgentRunState.COMPLETED:
            error = (run.error if run is not None else None) or "the sub-agent did not finish"
            raise ToolFailed(f"{child.dto.id}: {error}")
        if child.dto.output is not None:
            return json.dumps(child.dto.output, separators=(",", ":"))
        texts = [part.text for part in sent.assistant_message.content if part.text]
        return "".join(texts)

    def _set_status(self, call: _Call, status: ToolInvocationStatus) -> None:
        call.dto.status = status
        call.dto.updated_at = call.message.updated_at = now()
        self.chats.emit(call.chat, "chat_messages", call.message)

    async def _wait(self, call: _Call, kind: str) -> tuple[str, str]:
        """Wait for the client's result or a decision; the turn fails when none comes in time."""
        chat, run, dto = call.chat, call.run, call.dto
        stamp = now()
        timeout = self.config.agent_tool_timeout
        reason = (
            InterruptReason.TOOL_APPROVAL if kind == "approval" else InterruptReason.CLIENT_TOOL
        )
        call.interrupt = InterruptDTO.model_validate(
            {
                **header(new_id(), stamp),
                "chat_id": chat.dto.id,
                "run_id": run.id,
                "reason": reason,
                "source": "tool",
                "resource_id": dto.id,
                "resource_type": "tool_invocation",
                "status": InterruptStatus.PENDING,
                "expires_at": stamp + timedelta(seconds=timeout),
                "meta": {
                    "tool_invocation_id": dto.id,
                    "tool_name": dto.function.name,
                    "arguments": dto.function.arguments,
                },
            }
        )
        chat.interrupts.setdefault(run.id, []).append(call.interrupt)
        call.waiting = kind
        call.future = asyncio.get_running_loop().create_future()
        chat.dto.pending_interrupts = [*(chat.dto.pending_interrupts or []), call.interrupt]
        chat.dto.status = ChatStatus.AWAITING_INPUT
        run.state = AgentRunState.INPUT_REQUIRED
        run.interrupt_reason = reason
        run.interrupt_tool_id = run.tool_invocation_id = dto.id
        run.updated_at = stamp
        status = (
            ToolInvocationStatus.AWAITING_APPROVAL
            if kind == "approval"
            else ToolInvocationStatus.AWAITING_INPUT
        )
        self._set_status(call, status)
        self.chats.emit_run(chat, run)
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
        stamp = now()
        call.waiting = None
        if call.interrupt is not None:
            call.interrupt.status = interrupt_status
            call.interrupt.resolution = resolution
            call.interrupt.resolved_at = stamp
            call.interrupt.updated_at = stamp
            chat.dto.pending_interrupts = [
                item for item in chat.dto.pending_interrupts or [] if item.id != call.interrupt.id
            ]
        if not chat.dto.pending_interrupts and run.state == AgentRunState.INPUT_REQUIRED:
            chat.dto.status = ChatStatus.BUSY
            run.state = AgentRunState.WORKING
            run.interrupt_reason = run.interrupt_tool_id = run.tool_invocation_id = None
            run.updated_at = stamp
        self._set_status(call, status)
        self.chats.emit_run(chat, run)

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
        request = parse(ToolResultRequest, body)
        attachments = request.attachments or []
        if len(attachments) > 20:
            raise ApiError(400, "validation_error", "attachments: at most 20 files")
        call = self._waiting(invocation_id, "result")
        if attachments:
            call.dto.data = {
                "attachments": [
                    ref.model_dump(mode="json", by_alias=True, exclude_unset=True)
                    for ref in attachments
                ]
            }
        result = request.result or ""
        self._settle(call, ToolInvocationStatus.IN_PROGRESS, InterruptStatus.RESOLVED)
        assert call.future is not None
        call.future.set_result(("result", result))

    def _check_approver(self) -> None:
        if not self.config.allow_key_approvals:
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
        for chat in self.chats.chats.values():
            if any(item.id == interrupt_id for past in chat.interrupts.values() for item in past):
                raise ApiError(
                    409, "invalid_transition", f"interrupt {interrupt_id} is not pending"
                )
        raise ApiError(404, "not_found", f"interrupt {interrupt_id} not found")

    def run_interrupts(self, run_id: str) -> list[InterruptDTO]:
        """Every interrupt raised during one run, oldest first."""
        chat = self.chats.chat_of_run(run_id)
        if chat is None:
            raise ApiError(404, "not_found", f"agent run {run_id} not found")
        return list(chat.interrupts.get(run_id, []))
