"""Chats: their records and messages, reads and settings, and the chat stream's events.

A chat (its record, agent config, messages, runs and their interrupts) is one record of the
store, written shortly after each change (a streamed word is not a change; the message that
holds the words is written when the turn ends), so chats survive a restart. A chat is read into
memory when it is first used. A turn a stopped runtime left unfinished has failed. The turns that
fill a chat are played by ``_agent_runs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from inferencesh._generated.models import (
    AgentConfigInput,
    AgentRunDTO,
    AgentRunState,
    AgentTool,
    ChatDTO,
    ChatMessageContent,
    ChatMessageContentType,
    ChatMessageDTO,
    ChatMessageRole,
    ChatMessageStatus,
    ChatSettingsRequest,
    ChatStatus,
    InterruptDTO,
    InterruptStatus,
    ResourceStatusDTO,
    ToolInvocationStatus,
)
from inferencesh._runtime import CursorListResponse
from inferencesh.local._agent_templates import check_config
from inferencesh.local._errors import ApiError
from inferencesh.local._fanout import Subscribers, broadcast, end_all, new_queue
from inferencesh.local._listing import list_query, page
from inferencesh.local._records import dump, header, new_id, now, parse
from inferencesh.local._store import Store

__all__ = ["Chat", "Chats"]


@dataclass
class Chat:
    """A chat, its agent config and what its turns need."""

    dto: ChatDTO
    config: AgentConfigInput
    tools: dict[str, AgentTool]
    messages: list[ChatMessageDTO] = field(default_factory=lambda: [])
    runs: dict[str, AgentRunDTO] = field(default_factory=lambda: {})
    # The interrupts each run raised, oldest first.
    interrupts: dict[str, list[InterruptDTO]] = field(default_factory=lambda: {})
    # Chats started by this chat's agent tools (sub-agents), oldest first.
    child_ids: list[str] = field(default_factory=lambda: [])
    subscribers: Subscribers = field(default_factory=lambda: set())
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    turns: set[asyncio.Task[None]] = field(default_factory=lambda: set())
    delta_seq: int = 0


_SAVE_DELAY_SECONDS = 0.05
_ENDED = (
    ToolInvocationStatus.COMPLETED,
    ToolInvocationStatus.FAILED,
    ToolInvocationStatus.CANCELLED,
)
_STOPPED = "the local runtime stopped before the turn finished"


def _record(chat: Chat) -> dict[str, Any]:
    return {
        "dto": dump(chat.dto.model_copy(update={"chat_messages": [], "children": []})),
        "config": chat.config.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "messages": [dump(message) for message in chat.messages],
        "runs": [dump(run) for run in chat.runs.values()],
        "interrupts": {
            run_id: [dump(item) for item in items] for run_id, items in chat.interrupts.items()
        },
        "delta_seq": chat.delta_seq,
        "child_ids": chat.child_ids,
    }


def _chat(data: dict[str, Any]) -> Chat:
    config = AgentConfigInput.model_validate(data["config"])
    tools = check_config(config)
    dto = ChatDTO.model_validate(data["dto"])
    chat = Chat(dto=dto, config=config, tools={str(t.name): t for t in tools})
    messages: list[Any] = data.get("messages") or []
    runs: list[Any] = data.get("runs") or []
    chat.messages = [ChatMessageDTO.model_validate(m) for m in messages]
    for raw in runs:
        run = AgentRunDTO.model_validate(raw)
        chat.runs[run.id] = run
    for run_id, items in dict(data.get("interrupts") or {}).items():
        chat.interrupts[str(run_id)] = [InterruptDTO.model_validate(item) for item in items]
    chat.delta_seq = int(data.get("delta_seq") or 0)
    children: list[Any] = data.get("child_ids") or []
    chat.child_ids = [str(child) for child in children]
    # The record holds copies; the turn code changes one object of each, so link them again.
    if dto.active_run is not None:
        dto.active_run = chat.runs.get(dto.active_run.id, dto.active_run)
    by_id = {item.id: item for items in chat.interrupts.values() for item in items}
    dto.pending_interrupts = [by_id.get(item.id, item) for item in dto.pending_interrupts or []]
    return chat


def _is_open(chat: Chat) -> bool:
    return chat.dto.status in (ChatStatus.BUSY, ChatStatus.AWAITING_INPUT, ChatStatus.WAITING)


def _fail_unfinished(chat: Chat) -> None:
    """What a stopped runtime left mid-turn: the run failed, its waits cancelled."""
    stamp = now()
    for message in chat.messages:
        if message.status in (ChatMessageStatus.PENDING, ChatMessageStatus.QUEUED):
            message.status = ChatMessageStatus.FAILED
            if message.role == ChatMessageRole.ASSISTANT:
                error = ChatMessageContent(type=ChatMessageContentType.TEXT, error=_STOPPED)
                message.content = [*message.content, error]
            message.updated_at = stamp
        for invocation in message.tool_invocations or []:
            if invocation.status not in _ENDED:
                invocation.status = ToolInvocationStatus.CANCELLED
    for run in chat.runs.values():
        if run.state in (AgentRunState.WORKING, AgentRunState.INPUT_REQUIRED):
            run.state = AgentRunState.FAILED
            run.error = _STOPPED
            run.finished_at = run.updated_at = stamp
            run.interrupt_reason = run.interrupt_tool_id = run.tool_invocation_id = None
    for items in chat.interrupts.values():
        for item in items:
            if item.status == InterruptStatus.PENDING:
                item.status = InterruptStatus.CANCELLED
                item.resolved_at = item.updated_at = stamp
    chat.dto.pending_interrupts = []
    chat.dto.status = ChatStatus.IDLE
    chat.dto.updated_at = stamp


class Chats:
    """The chats of one runtime: those in use in memory, every one in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.chats: dict[str, Chat] = {}
        self._dirty: set[str] = set()
        self._flush_later: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ the store

    def recover(self) -> None:
        """Chats a previous run left mid-turn: that turn has failed."""
        for data in self.store.open_records("chats"):
            chat = _chat(data)
            _fail_unfinished(chat)
            self.store.put("chats", chat.dto.id, _record(chat), open=False)

    def save(self, chat: Chat) -> None:
        """Write the chat soon (changes within a few milliseconds are written once)."""
        self._dirty.add(chat.dto.id)
        if self._flush_later is None:
            loop = asyncio.get_running_loop()
            self._flush_later = loop.call_later(_SAVE_DELAY_SECONDS, self.flush)

    def flush(self) -> None:
        """Write every chat changed since the last write."""
        self._flush_later = None
        dirty, self._dirty = self._dirty, set()
        for chat_id in dirty:
            chat = self.chats.get(chat_id)
            if chat is not None:
                self.store.put("chats", chat_id, _record(chat), open=_is_open(chat))

    def note_run(self, chat: Chat, run: AgentRunDTO) -> None:
        """Remember which chat a run belongs to (its interrupts are read by run id)."""
        self.store.put("agent_runs", run.id, {"chat_id": chat.dto.id})

    def chat_of_run(self, run_id: str) -> Chat | None:
        """The chat a run belongs to, if both still exist."""
        for chat in self.chats.values():
            if run_id in chat.runs:
                return chat
        data = self.store.get("agent_runs", run_id)
        if data is None:
            return None
        try:
            chat = self.find(str(data.get("chat_id")))
        except ApiError:
            return None
        return chat if run_id in chat.runs else None

    def list_page(self, body: Any) -> CursorListResponse[ChatDTO]:
        """``POST /chats/list``: one page of chats (without their messages), newest first."""
        query = list_query(body)
        if self._dirty:
            self.flush()  # a chat created a moment ago is listed too
        batch = 64 if query.selective else query.limit + 1
        rows = self.store.rows("chats", after=query.after, ascending=query.ascending, batch=batch)

        def current() -> Iterator[tuple[int, dict[str, Any]]]:
            for position, data in rows:
                dto: dict[str, Any] = dict(data["dto"])
                loaded = self.chats.get(str(dto.get("id")))
                if loaded is not None:
                    dto = dump(loaded.dto.model_copy(update={"chat_messages": [], "children": []}))
                yield position, dto

        return page(current(), query, ChatDTO.model_validate, ("id", "name", "description"))

    # ------------------------------------------------------------------ chats

    def new(
        self,
        config: AgentConfigInput,
        tools: list[AgentTool],
        *,
        agent_id: str,
        version_id: str | None,
        context: dict[str, str],
        text: str,
    ) -> Chat:
        """A new, idle chat."""
        chat_id = new_id()
        dto = ChatDTO.model_validate(
            {
                **header(chat_id),
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
        chat = Chat(dto=dto, config=config, tools={str(t.name): t for t in tools})
        self.chats[chat_id] = chat
        # Written now, so the store's order is the order chats were created in.
        self.store.put("chats", chat_id, _record(chat), open=_is_open(chat))
        return chat

    def find(self, chat_id: str) -> Chat:
        """A chat (read from the store on first use); 404 when there is none."""
        chat = self.chats.get(chat_id)
        if chat is None:
            data = self.store.get("chats", chat_id)
            if data is None:
                raise ApiError(404, "not_found", f"chat {chat_id} not found")
            chat = self.chats[chat_id] = _chat(data)
        return chat

    def add_message(
        self, chat: Chat, role: ChatMessageRole, status: ChatMessageStatus, content: list[Any]
    ) -> ChatMessageDTO:
        """Append a message to the chat."""
        message = ChatMessageDTO.model_validate(
            {
                **header(new_id()),
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

    def get(self, chat_id: str) -> ChatDTO:
        """A chat with its status, active run, pending interrupts, output and its history
        (``chat_messages``, oldest first)."""
        chat = self.find(chat_id)
        children: list[ChatDTO | None] = []
        for child_id in chat.child_ids:
            child = self.chats.get(child_id)
            if child is None and self.store.get("chats", child_id) is None:
                continue  # deleted
            child = child or self.find(child_id)
            children.append(child.dto.model_copy(update={"chat_messages": [], "children": []}))
        return chat.dto.model_copy(
            update={"chat_messages": list(chat.messages), "children": children}
        )

    def adopt(self, parent: Chat, child: Chat) -> None:
        """Make ``child`` a sub-agent chat of ``parent``."""
        child.dto.parent_id = parent.dto.id
        parent.child_ids.append(child.dto.id)
        self.save(parent)
        self.save(child)

    def status(self, chat_id: str) -> ResourceStatusDTO:
        """Only id, status and update time."""
        dto = self.find(chat_id).dto
        return ResourceStatusDTO(id=dto.id, status=dto.status.value, updated_at=dto.updated_at)

    def list_messages(
        self, chat_id: str, limit: str | None, cursor: str | None
    ) -> CursorListResponse[ChatMessageDTO]:
        """One page of a chat's messages, oldest first; the cursor is the last order seen."""
        chat = self.find(chat_id)
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

    def all_allowed(self, chat: Chat) -> bool:
        """Whether every tool may run without approval in this chat."""
        permissions = chat.config.permissions
        return bool(
            chat.dto.agent_data.allow_all_tools or (permissions and permissions.allow_all_tools)
        )

    def update(self, chat_id: str, body: Any) -> ChatDTO:
        """``POST /chats/{id}``: rename, change visibility, allow every tool, forget memory."""
        chat = self.find(chat_id)
        request = parse(ChatSettingsRequest, body)
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
        self.emit_chat(chat)
        return chat.dto

    def stop(self, chat_id: str) -> None:
        """Stop the running turn and drop the queued ones."""
        chat = self.find(chat_id)
        for turn in list(chat.turns):
            turn.cancel()

    def remove(self, chat: Chat) -> None:
        """Forget a chat and end its streams."""
        self.chats.pop(chat.dto.id, None)
        self._dirty.discard(chat.dto.id)
        self.store.delete("chats", chat.dto.id)
        for run_id in chat.runs:
            self.store.delete("agent_runs", run_id)
        end_all(chat.subscribers)

    def subscribe(self, chat_id: str) -> tuple[list[dict[str, Any]], asyncio.Queue[dict[str, Any]]]:
        """A full snapshot (the messages, the active run, the chat) and a queue of later events.

        The chat comes last, as at the end of a turn: a reader that stops at the first idle
        chat or run it sees (the JS SDK) has then seen every message, even of a turn that
        ended before it connected.
        """
        chat = self.find(chat_id)
        snapshot = [{"event": "chat_messages", "data": dump(m)} for m in chat.messages]
        if chat.dto.active_run is not None:
            snapshot.append({"event": "agent_runs", "data": dump(chat.dto.active_run)})
        snapshot.append({"event": "chats", "data": dump(chat.dto)})
        queue = new_queue()
        chat.subscribers.add(queue)
        return snapshot, queue

    def unsubscribe(self, chat_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering events to ``queue``."""
        chat = self.chats.get(chat_id)
        if chat is not None:
            chat.subscribers.discard(queue)

    def emit(self, chat: Chat, event: str, model: Any) -> None:
        """Send one record to the chat's stream readers as a typed event (and save the chat)."""
        broadcast(chat.subscribers, {"event": event, "data": dump(model)})
        if event != "delta":
            self.save(chat)

    def emit_chat(self, chat: Chat) -> None:
        """The chat record changed."""
        chat.dto.updated_at = now()
        self.emit(chat, "chats", chat.dto)

    def emit_run(self, chat: Chat, run: AgentRunDTO) -> None:
        """The run (and so the chat) changed."""
        self.emit(chat, "agent_runs", run)
        self.emit_chat(chat)

    async def close(self) -> None:
        """Stop every turn and end every stream."""
        turns = [turn for chat in self.chats.values() for turn in chat.turns]
        for turn in turns:
            turn.cancel()
        await asyncio.gather(*turns, return_exceptions=True)
        if self._flush_later is not None:
            self._flush_later.cancel()
        self.flush()
        for chat in self.chats.values():
            end_all(chat.subscribers)
