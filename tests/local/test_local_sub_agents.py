"""Sub-agents: an ``agent_tool`` call runs the named template agent in a child chat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agent_helpers import config, messages, send, turn_over, wait_chat

from inferencesh import AsyncInference, Inference, agent_tool
from inferencesh.local import LocalRuntime

KEY = "inf_sub_agents"
SCRIPTED = {"ref": "infsh/scripted-llm"}
TEMPLATES: dict[str, Any] = {
    "me/helper": {"core_app": SCRIPTED, "system_prompt": "Help."},
    "me/extractor": {
        "core_app": SCRIPTED,
        "output_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
    "me/loop": {
        "core_app": SCRIPTED,
        "tools": [{"name": "again", "type": "agent", "agent": {"ref": "me/loop"}}],
    },
}


@pytest.fixture(scope="module")
def sub_runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(agents=TEMPLATES, agent_token_delay=0.0) as rt:
        yield rt


@pytest.fixture
def http(sub_runtime: LocalRuntime) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=sub_runtime.base_url, headers=headers, timeout=30) as c:
        yield c


def _parent(*refs: str) -> dict[str, Any]:
    tools = [agent_tool(ref.split("/")[1], ref).describe(f"ask {ref}").build() for ref in refs]
    return config(*[t.model_dump(mode="json", exclude_none=True) for t in tools])


def test_an_agent_tool_runs_the_sub_agent_in_a_child_chat(http: httpx.Client) -> None:
    body = {"agent_config": _parent("me/helper"), "input": {"text": 'call helper {"task": "hi"}'}}
    chat_id = send(http, body)["user_message"]["chat_id"]
    done = wait_chat(http, chat_id, turn_over)
    assert done["active_run"]["state"] == "completed"
    reply = messages(http, chat_id)[-1]
    assert reply["content"][0]["text"] == "helper returned You said: hi."
    (call,) = reply["tool_invocations"]
    assert call["type"] == "agent" and call["status"] == "completed"
    child_id = call["execution_id"]
    assert [child["id"] for child in done["children"]] == [child_id]
    child = http.get(f"/chats/{child_id}").json()["data"]
    assert child["parent_id"] == chat_id and child["status"] == "idle"
    assert [m["role"] for m in messages(http, child_id)] == ["user", "assistant"]


def test_a_sub_agent_with_an_output_schema_returns_its_output(http: httpx.Client) -> None:
    text = 'call extractor {"message": "city=Oslo days=3"}'
    body = {"agent_config": _parent("me/extractor"), "input": {"text": text}}
    chat_id = send(http, body)["user_message"]["chat_id"]
    wait_chat(http, chat_id, turn_over)
    (call,) = messages(http, chat_id)[-1]["tool_invocations"]
    assert json.loads(call["result"]) == {"city": "Oslo", "days": 3}


def test_an_unknown_sub_agent_fails_the_call_not_the_turn(http: httpx.Client) -> None:
    body = {"agent_config": _parent("me/nobody"), "input": {"text": "call nobody"}}
    chat_id = send(http, body)["user_message"]["chat_id"]
    done = wait_chat(http, chat_id, turn_over)
    assert done["active_run"]["state"] == "completed"
    reply = messages(http, chat_id)[-1]
    assert reply["tool_invocations"][0]["status"] == "failed"
    assert "nobody failed: Agent not found: me/nobody." in reply["content"][0]["text"]


def test_sub_agents_that_call_themselves_stop_nesting(http: httpx.Client) -> None:
    text = "call again"
    for _ in range(7):  # each level asks the next one to call again
        text = "call again " + json.dumps({"task": text})
    body = {"agent": "me/loop", "input": {"text": text}}
    chat_id = send(http, body)["user_message"]["chat_id"]
    done = wait_chat(http, chat_id, turn_over, attempts=1200)
    assert done["active_run"]["state"] == "completed"
    text = messages(http, chat_id)[-1]["content"][0]["text"]
    assert "nest deeper than 5 levels" in text


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_client_agent_uses_a_sub_agent(sub_runtime: LocalRuntime, mode: str) -> None:
    spec = {
        "core_app": SCRIPTED,
        "tools": [agent_tool("helper", "me/helper").describe("ask the helper").build()],
    }
    if mode == "sync":
        with Inference(api_key=KEY, base_url=sub_runtime.base_url, strict_responses=True) as c:
            reply = c.agent(spec).send_message('call helper {"task": "plan a trip"}')
    else:
        async with AsyncInference(
            api_key=KEY, base_url=sub_runtime.base_url, strict_responses=True
        ) as ac:
            reply = await ac.agent(spec).send_message('call helper {"task": "plan a trip"}')
    texts = [part.text for part in reply.content if part.text]
    assert texts == ["helper returned You said: plan a trip."]
