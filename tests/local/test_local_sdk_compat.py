"""What the official SDKs read from the runtime, as they read it (found by driving them)."""

from __future__ import annotations

import httpx
from agent_helpers import config, follow, send, turn_over, wait_chat
from local_helpers import run, stream_lines

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_compat"}


def test_the_last_task_update_carries_the_whole_task(client: httpx.Client) -> None:
    # The official Python SDK reads an update's data as the task, without merging it.
    body = {"app": "infsh/counter", "input": {"by": 4}, "session": "new"}
    task = run(client, body)
    last = stream_lines(client, task["id"])[-1]
    assert last["data"]["status"] == 10
    data = last["data"]
    assert data["session_id"] and data["input"] == {"by": 4} and data["created_at"]
    assert data["output"]["count"] == 4 and "status" in last["fields"]
    client.delete(f"/sessions/{data['session_id']}")


def test_a_turn_over_before_the_stream_opens_is_read_in_full() -> None:
    # The JS SDK resolves at the first idle chat or run it reads; the messages come before.
    with (
        LocalRuntime(agent_token_delay=0.0) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        chat_id = send(http, {"agent_config": config(), "input": {"text": "quick"}})[
            "assistant_message"
        ]["chat_id"]
        wait_chat(http, chat_id, turn_over)
        events = follow(http, chat_id, lambda e: e["event"] == "chats")
    kinds = [e["event"] for e in events]
    assert kinds == ["chat_messages", "chat_messages", "agent_runs", "chats"]
    assert events[1]["data"]["status"] == "ready"
    assert events[1]["data"]["content"][0]["text"] == "You said: quick"
