"""Our own clients, with ``proxy_url=`` and no key, through the ASGI and the WSGI proxy to a local
runtime that accepts only the proxy's key: run, stream, upload, session and an agent turn."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from inferencesh import AsyncInference, Inference, ToolCallInfo, UploadFileOptions, string, tool
from inferencesh.local import LocalRuntime

from .conftest import PROXY_KEY

TEXT = b"hello through the proxy\n"


def agent_config(handler: Any) -> dict[str, Any]:
    weather = tool("get_weather").describe("Weather").param("city", string("City")).handler(handler)
    return {"name": "proxied", "core_app": {"ref": "infsh/scripted-llm"}, "tools": [weather]}


def text_of(message: Any) -> str:
    return "".join(part.text or "" for part in message.content)


def test_sync_client_runs_streams_uploads_and_holds_a_session(
    proxy_url: str, runtime: LocalRuntime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="inferencesh")
    with Inference(proxy_url=proxy_url, base_url=runtime.base_url) as client:
        assert client.tasks.run({"app": "infsh/echo", "input": {"n": 1}})["output"] == {"n": 1}

        stream = client.tasks.run(
            {"app": "infsh/stream", "input": {"text": "one two three"}}, stream=True
        )
        outputs = [u["output"]["response"] for u in stream if u.get("output")]
        assert outputs[-1] == "one two three"

        record = client.files.upload(TEXT, UploadFileOptions(filename="note.txt"))
        assert record.uri
        source = tmp_path / "auto.txt"
        source.write_bytes(TEXT)
        result = client.tasks.run({"app": "infsh/file", "input": {"file": source}})
        assert result["output"]["sha256"] == hashlib.sha256(TEXT.upper()).hexdigest()

        with client.session("infsh/counter", input={"by": 2}) as session:
            again = session.call("run", {"by": 3})
            assert again["output"]["count"] == 5
    assert PROXY_KEY not in caplog.text


def test_sync_agent_turn_with_a_client_tool(proxy_url: str, runtime: LocalRuntime) -> None:
    calls: list[ToolCallInfo] = []
    with Inference(proxy_url=proxy_url, base_url=runtime.base_url) as client:
        agent = client.agent(agent_config(lambda args: {"city": args["city"], "sky": "grey"}))
        reply = agent.send_message(
            'call get_weather {"city": "Oslo"}\nok?', on_tool_call=calls.append
        )
    assert [(call.name, call.args) for call in calls] == [("get_weather", {"city": "Oslo"})]
    assert '"sky": "grey"' in text_of(reply)


async def test_async_client_runs_streams_uploads_holds_a_session_and_chats(
    proxy_url: str, runtime: LocalRuntime, tmp_path: Path
) -> None:
    async with AsyncInference(proxy_url=proxy_url, base_url=runtime.base_url) as client:
        result = await client.tasks.run({"app": "infsh/echo", "input": {"n": 2}})
        assert result["output"] == {"n": 2}

        stream = await client.tasks.run(
            {"app": "infsh/stream", "input": {"text": "a b c"}}, stream=True
        )
        outputs = [u["output"]["response"] async for u in stream if u.get("output")]
        assert outputs[-1] == "a b c"

        source = tmp_path / "in.txt"
        source.write_bytes(TEXT)
        record = await client.files.upload(source)
        result = await client.tasks.run({"app": "infsh/file", "input": {"file": record.uri}})
        assert result["output"]["size"] == len(TEXT)

        async with await client.session("infsh/counter", input={"by": 4}) as session:
            again = await session.call("run", {"by": 1})
            assert again["output"]["count"] == 5

        async def weather(args: dict[str, Any]) -> dict[str, Any]:
            return {"city": args["city"], "sky": "clear"}

        agent = client.agent(agent_config(weather))
        reply = await agent.send_message('call get_weather {"city": "Rome"}\nwarm?')
        assert '"sky": "clear"' in text_of(reply)
