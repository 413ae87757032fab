"""Agents against the scripted chat server, with the sync and the async client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inferencesh import (
    AgentRunError,
    InvalidInputError,
    OutputValidationError,
    SignInRequiredError,
    ToolCallInfo,
    WaitTimeoutError,
    internal_tools,
    string,
    tool,
)

from .chat_server import ChatServer

Start = Callable[..., ChatServer]
MakeAgent = Callable[..., Any]

CONFIG: dict[str, Any] = {
    "name": "helper",
    "core_app": {"ref": "infsh/scripted-llm@latest"},
    "system_prompt": "You are a helpful assistant.",
}


def text_of(message: Any) -> str:
    return "".join(c.text or "" for c in message.content if c.type == "text")


async def test_multi_turn_chat_streams_each_reply(server: Start, make_agent: MakeAgent) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    seen: list[str] = []
    deltas: list[str] = []
    first: list[str] = []
    reply = await agent.send_message(
        "hello there",
        on_message=lambda m: seen.append(text_of(m)),
        on_delta=lambda d: first.append(d.text),
    )
    assert text_of(reply) == "You said: hello there"
    assert seen[-1] == "You said: hello there"
    # The first turn's stream opens only once the chat exists, after its first words may have
    # gone out: those come with the first delta seen, or in a last one if the reply was done.
    assert "".join(first) == "You said: hello there"
    chat_id = agent.chat_id
    assert chat_id
    # The next turns open the stream before posting: every delta is seen, and the previous
    # turn's idle state does not end them early.
    second = await agent.send_message("once more", on_delta=lambda d: deltas.append(d.text))
    assert text_of(second) == "You said: once more"
    assert "".join(deltas) == "You said: once more"
    assert text_of(await agent.send_message("again")) == "You said: again"
    assert agent.chat_id == chat_id
    runs = srv.posted("POST", "/agents/run")
    assert runs[0]["agent"] == "my-org/assistant@abc123" and "chat_id" not in runs[0]
    assert runs[1]["chat_id"] == runs[2]["chat_id"] == chat_id
    chat = await agent.get_chat()
    assert chat.id == chat_id
    agent.reset()
    assert agent.chat_id is None


async def test_ad_hoc_config_sends_tools_without_handlers_and_context(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    weather = tool("get_weather").describe("Weather").param("city", string("City")).handler(str)
    agent = make_agent(
        srv.base_url,
        {
            **CONFIG,
            "tools": [weather],
            "internal_tools": internal_tools().finish(),
            "skills": [{"name": "style", "description": "House style", "content": "Be brief."}],
            "temperature": 0.2,
        },
        {"tenant_id": "acme"},
    )
    await agent.send_message("hi")
    body = srv.posted("POST", "/agents/run")[0]
    config = body["agent_config"]
    assert body["agent_name"] == "helper"
    assert body["context"] == {"tenant_id": "acme"}
    assert config["core_app"] == {"ref": "infsh/scripted-llm@latest"}
    assert config["temperature"] == 0.2
    assert config["tools"][0]["name"] == "get_weather"
    assert config["tools"][0]["client"]["input_schema"]["required"] == ["city"]
    assert "handler" not in json.dumps(config)
    assert config["internal_tools"] == {"finish": True}
    assert config["skills"][0]["content"] == "Be brief."


async def test_client_tools_run_sync_and_async_handlers(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    calls: list[ToolCallInfo] = []

    async def lookup(args: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"user": args["id"], "name": "Ada"}

    agent = make_agent(
        srv.base_url,
        {
            **CONFIG,
            "tools": [
                tool("get_weather")
                .param("city", string())
                .handler(lambda args: {"temp": 72, "city": args["city"]}),
                tool("lookup").param("id", string()).handler(lookup),
            ],
        },
    )
    reply = await agent.send_message(
        'tool get_weather {"city": "Paris"}', on_tool_call=calls.append
    )
    assert text_of(reply) == 'result: {"temp": 72, "city": "Paris"}'
    reply = await agent.send_message('tool lookup {"id": "42"}', on_tool_call=calls.append)
    assert text_of(reply) == 'result: {"user": "42", "name": "Ada"}'
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("lookup", {"id": "42"}),
    ]
    assert not any(c.awaiting_approval for c in calls)
    assert len(srv.posted("POST", "/tools/")) == 2


async def test_a_raising_handler_posts_an_error_result(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()

    def broken(args: dict[str, Any]) -> str:
        raise ValueError("no weather today")

    agent = make_agent(srv.base_url, {**CONFIG, "tools": [tool("get_weather").handler(broken)]})
    reply = await agent.send_message("tool get_weather {}")
    assert json.loads(text_of(reply)[len("result: ") :]) == {
        "error": "ValueError: no weather today"
    }
    # The chat goes on.
    assert text_of(await agent.send_message("still there?")) == "You said: still there?"


async def test_tool_without_handler_is_answered_by_the_callback(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    agent = make_agent(srv.base_url, {**CONFIG, "tools": [tool("ask_user").param("q", string())]})
    answered: list[str] = []

    async def answer(call: ToolCallInfo) -> None:
        answered.append(call.id)
        await agent.submit_tool_result(call.id, {"answer": f"yes to {call.args['q']}"})

    reply = await agent.send_message('tool ask_user {"q": "tea"}', on_tool_call=answer)
    assert text_of(reply) == 'result: {"answer": "yes to tea"}'
    assert srv.posted("POST", "/tools/") == [{"result": '{"answer": "yes to tea"}'}]
    assert len(answered) == 1


async def test_approval_is_asked_through_on_tool_call(server: Start, make_agent: MakeAgent) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    asked: list[ToolCallInfo] = []

    async def approve(call: ToolCallInfo) -> None:
        asked.append(call)
        await agent.approve_tool(call.id)

    assert text_of(await agent.send_message("approve delete", on_tool_call=approve)) == "approved"
    assert asked[0].requires_approval and asked[0].name == "delete"

    async def reject(call: ToolCallInfo) -> None:
        await agent.reject_tool(call.id, "not today")

    reply = await agent.send_message("approve delete", on_tool_call=reject)
    assert text_of(reply) == "rejected: not today"


async def test_approval_with_an_api_key_raises_sign_in_required(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server(sign_in_required=True)
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")

    async def approve(call: ToolCallInfo) -> None:
        await agent.approve_tool(call.id)

    with pytest.raises(SignInRequiredError) as info:
        await agent.send_message("approve delete", on_tool_call=approve)
    assert info.value.status_code == 403 and info.value.code == "requires_sign_in"


async def test_waiting_approval_without_answer_times_out(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    with pytest.raises(WaitTimeoutError):
        await agent.send_message("approve delete", timeout=0.5)


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


async def test_run_waits_and_returns_the_checked_output(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server(word_delay=0.005)
    agent = make_agent(srv.base_url, {**CONFIG, "output_schema": SCHEMA})
    assert await agent.run('finish {"name": "Ada", "age": 36}') == {"name": "Ada", "age": 36}
    assert await agent.run("no finish tool here") is None
    with pytest.raises(OutputValidationError) as info:
        await agent.run('finish {"name": "Ada", "age": -1}')
    assert info.value.errors == ["$.age: must be >= 0, got -1"]
    with pytest.raises(AgentRunError):
        await agent.run("fail")


async def test_files_are_uploaded_and_attached(
    server: Start, make_agent: MakeAgent, tmp_path: Path
) -> None:
    srv = server()
    path = tmp_path / "notes.txt"
    path.write_text("from disk")
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    ref = await agent.upload_file(b"notes", filename="notes.txt")
    assert ref.filename == "notes.txt" and ref.uri and ref.size == 5
    await agent.send_message(
        "Summarize these",
        files=[
            b"raw bytes",
            "data:image/png;base64," + base64.b64encode(b"png!").decode(),
            base64.b64encode(b"b64 text").decode(),
            str(path),
            ref,
        ],
    )
    attachments = srv.posted("POST", "/agents/run")[0]["input"]["attachments"]
    assert [a["content_type"] for a in attachments][:2] == ["application/octet-stream", "image/png"]
    assert attachments[3]["filename"] == "notes.txt" and attachments[4]["uri"] == ref.uri
    assert sorted(srv.files.values()) == sorted(
        [b"notes", b"raw bytes", b"png!", b"b64 text", b"from disk"]
    )
    # Upload URLs never get the API key.
    assert all(auth is None for m, _, auth in srv.requests if m == "PUT")


async def test_bad_input_is_refused_before_sending(server: Start, make_agent: MakeAgent) -> None:
    srv = server()
    with pytest.raises(InvalidInputError, match="context"):
        make_agent(srv.base_url, "my-org/a@1", {"user_id": 42})
    with pytest.raises(InvalidInputError, match="template ref"):
        make_agent(srv.base_url, "no-namespace")
    with pytest.raises(InvalidInputError, match="tools"):
        make_agent(srv.base_url, {**CONFIG, "tools": [tool("x"), tool("x")]})
    agent = make_agent(srv.base_url, "my-org/a@1")
    with pytest.raises(InvalidInputError, match="files"):
        await agent.send_message("hi", files=b"not a list")
    with pytest.raises(InvalidInputError, match="no chat yet"):
        await agent.get_chat()
    assert srv.requests == []


async def test_chat_helpers_take_the_current_or_a_given_chat(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    await agent.send_message("hi")
    chat_id = agent.chat_id
    await agent.stop_chat()
    other = make_agent(srv.base_url, "my-org/assistant@abc123")
    await other.stop_chat(chat_id)
    assert len(srv.posted("POST", f"/chats/{chat_id}/stop")) == 2
    assert (await other.get_chat(chat_id)).id == chat_id
    with pytest.raises(InvalidInputError, match="chat_id"):
        await other.get_chat("a/b")
