"""Chats: their records and messages, reads and settings, and the chat stream's events.

All in memory. The turns that fill a chat are played by ``_agent_runs``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from inferencesh._generated.models import (
    AgentConfigInput,
    AgentRunDTO,
    AgentTool,
    ChatDTO,
    ChatMessageDTO,
    ChatMessageRole,
    ChatMessageStatus,
    ChatSettingsRequest,
    ChatStatus,
    ResourceStatusDTO,
)
from inferencesh._runtime import CursorListResponse
from inferencesh.local._errors import ApiError
from inferencesh.local._fanout import Subscribers, broadcast, end_all, new_queue
from inferencesh.local._records import dump, header, new_id, now, parse

__all__ = ["Chat", "Chats"]


@dataclass
class Chat:
    """A chat, its agent config and what its turns need."""

    dto: ChatDTO
    config: AgentConfigInput
    tools: dict[str, AgentTool]
    messages: list[ChatMessageDTO] = field(default_factory=lambda: [])
    runs: dict[str, AgentRunDTO] = field(default_factory=lambda: {})
    subscribers: Subscribers = field(default_factory=lambda: set())
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    turns: set[asyncio.Task[None]] = field(default_factory=lambda: set())
    delta_seq: int = 0


class Chats:
    """The chats of one runtime."""

    def __init__(self) -> None:
        self.chats: dict[str, Chat] = {}

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
        return chat

    def find(self, chat_id: str) -> Chat:
        """A chat; 404 when there is none."""
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(404, "not_found", f"chat {chat_id} not found")
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
        return chat.dto.model_copy(update={"chat_messages": list(chat.messages)})

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
        end_all(chat.subscribers)

    def subscribe(self, chat_id: str) -> tuple[list[dict[str, Any]], asyncio.Queue[dict[str, Any]]]:
        """A full snapshot (the chat, its messages, its active run) and a queue of later events."""
        chat = self.find(chat_id)
        snapshot = [{"event": "chats", "data": dump(chat.dto)}]
        snapshot += [{"event": "chat_messages", "data": dump(m)} for m in chat.messages]
        if chat.dto.active_run is not None:
            snapshot.append({"event": "agent_runs", "data": dump(chat.dto.active_run)})
        queue = new_queue()
        chat.subscribers.add(queue)
        return snapshot, queue

    def unsubscribe(self, chat_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering events to ``queue``."""
        chat = self.chats.get(chat_id)
        if chat is not None:
            chat.subscribers.discard(queue)

    def emit(self, chat: Chat, event: str, model: Any) -> None:
        """Send one record to the chat's stream readers as a typed event."""
        broadcast(chat.subscribers, {"event": event, "data": dump(model)})

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
        for chat in self.chats.values():
            end_all(chat.subscribers)
