"""Raw-HTTP helpers for the agent tests: send a message, read a chat stream, wait for a state."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

SCRIPTED = {"ref": "infsh/scripted-llm"}
RUN_ENDED = {"completed", "failed", "canceled"}


def client_tool(name: str, *, approval: bool = False) -> dict[str, Any]:
    """A client tool as the tool builder writes it."""
    return {
        "name": name,
        "display_name": name,
        "description": f"the {name} tool",
        "type": "client",
        "require_approval": approval,
        "client": {"input_schema": {"type": "object", "properties": {}, "required": []}},
    }


def config(*tools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An ad-hoc agent config on the scripted model."""
    return {"core_app": SCRIPTED, "system_prompt": "Be brief.", "tools": list(tools), **extra}


def send(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """POST /agents/run; the ``{user_message, assistant_message}`` payload."""
    response = client.post("/agents/run", json=body)
    assert response.status_code == 200, response.text
    envelope: dict[str, Any] = response.json()
    assert envelope["messages"] == []
    return dict(envelope["data"])


def chat(client: httpx.Client, chat_id: str) -> dict[str, Any]:
    """GET /chats/{id}."""
    response = client.get(f"/chats/{chat_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def wait_chat(
    client: httpx.Client,
    chat_id: str,
    ready: Callable[[dict[str, Any]], bool],
    *,
    attempts: int = 400,
) -> dict[str, Any]:
    """Poll GET /chats/{id} until ``ready(chat)`` (at most ``attempts`` polls)."""
    for _ in range(attempts):
        current = chat(client, chat_id)
        if ready(current):
            return current
        time.sleep(0.025)
    raise AssertionError(f"chat {chat_id} never reached the expected state")


def turn_over(current: dict[str, Any]) -> bool:
    """The chat is idle and its last run has ended."""
    run = current.get("active_run") or {}
    return current["status"] == "idle" and run.get("state") in RUN_ENDED


def waiting_call(current: dict[str, Any]) -> bool:
    """A tool call of the chat waits for the client or for an approval."""
    return bool(current.get("pending_interrupts"))


def messages(client: httpx.Client, chat_id: str) -> list[dict[str, Any]]:
    """Every message of a chat, through the cursor pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/chats/{chat_id}/messages", params=params).json()["data"]
        items += page["items"]
        if not page["has_next"]:
            return items
        cursor = page["next_cursor"]
    raise AssertionError("too many pages")


def text_of(message: dict[str, Any]) -> str:
    """The text parts of a message, joined."""
    return "".join(part.get("text") or "" for part in message["content"] if part["type"] == "text")


def follow(
    client: httpx.Client,
    chat_id: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    sse: bool = False,
    limit: int = 5_000,
) -> list[dict[str, Any]]:
    """Read a chat's stream until an event satisfies ``until``; every event read (no heartbeats).

    SSE events are turned back into ``{"event", "data"}``.
    """
    headers = {"Accept": "text/event-stream" if sse else "application/x-ndjson"}
    events: list[dict[str, Any]] = []
    name: str | None = None
    with client.stream("GET", f"/chats/{chat_id}/stream", headers=headers) as response:
        assert response.status_code == 200, response.read()
        for count, line in enumerate(response.iter_lines()):
            assert count < limit, "the stream never reached the expected event"
            if sse:
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                    continue
                if not line.startswith("data: "):
                    continue
                event = {"event": name, "data": json.loads(line[len("data: ") :])}
            elif not line.strip():
                continue
            else:
                event = json.loads(line)
                if event.get("type") == "heartbeat":
                    continue
            events.append(event)
            if on_event is not None:
                on_event(event)
            if until(event):
                return events
    raise AssertionError("the stream ended before the expected event")


def ended(event: dict[str, Any]) -> bool:
    """A ``chats`` event of an idle chat whose run has ended."""
    return event["event"] == "chats" and turn_over(event["data"])
