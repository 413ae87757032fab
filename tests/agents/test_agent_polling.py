"""Agent turns followed by polling (``send_message(..., stream=False)``, ``poll_interval=``, or
the client's ``stream=False``): no chat stream is opened, tool calls are handled once, the turn
gate holds. Against the local runtime (which serves ``GET /chats/{id}/status``) and the scripted
chat server (which has no status route: the chat is read in full on every poll)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from inferencesh import (
    AsyncInference,
    Inference,
    InvalidInputError,
    ToolCallInfo,
    WaitTimeoutError,
    string,
    tool,
)
from inferencesh.types import ChatMessageDTO

from .chat_server import ChatServer
from .conftest import Awaitable
from .test_agent_chat import text_of

Start = Callable[..., ChatServer]
MakeAgent = Callable[..., Any]

FAST = 0.01


async def test_a_polled_turn_opens_no_stream(server: Start, make_agent: MakeAgent) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    messages: list[str] = []
    reply = await agent.send_message(
        "hello", stream=False, on_message=lambda m: messages.append(text_of(m))
    )
    assert text_of(reply) == "You said: hello"
    reply = await agent.send_message("again", poll_interval=FAST)
    assert text_of(reply) == "You said: again"
    assert "You said: hello" in messages
    assert srv.stream_opens == 0
    # No status route here: one 404 per turn, then the chat is read in full.
    statuses = [p for m, p, _ in srv.requests if m == "GET" and p.endswith("/status")]
    assert len(statuses) == 2


async def test_a_polled_turn_runs_a_client_tool_once(server: Start, make_agent: MakeAgent) -> None:
    srv = server()
    runs: list[dict[str, Any]] = []
    agent = make_agent(
        srv.base_url,
        {
            "core_app": {"ref": "infsh/scripted-llm@latest"},
            "tools": [tool("count").param("n", string()).handler(lambda a: runs.append(a) or "ok")],
        },
    )
    calls: list[str] = []
    reply = await agent.send_message(
        'tool count {"n": "1"}', stream=False, on_tool_call=lambda c: calls.append(c.name)
    )
    assert text_of(reply) == "result: ok"
    assert runs == [{"n": "1"}] and calls == ["count"]
    assert srv.posted("POST", "/tools/") == [{"result": "ok"}]
    assert srv.stream_opens == 0


async def test_a_polled_turn_asks_for_an_approval_once(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    asked: list[ToolCallInfo] = []

    async def approve(call: ToolCallInfo) -> None:
        asked.append(call)
        await agent.approve_tool(call.id)

    reply = await agent.send_message("approve delete", on_tool_call=approve, stream=False)
    assert text_of(reply) == "approved"
    assert [(c.name, c.requires_approval) for c in asked] == [("delete", True)]


async def test_a_polled_turn_times_out(server: Start, make_agent: MakeAgent) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    with pytest.raises(WaitTimeoutError, match="did not finish"):
        await agent.send_message("approve delete", timeout=0.3, poll_interval=FAST)
    assert srv.stream_opens == 0


async def test_polling_options_are_checked_before_sending(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    with pytest.raises(InvalidInputError, match="without stream=True"):
        await agent.send_message("hi", stream=True, poll_interval=1)
    with pytest.raises(InvalidInputError, match="stream must be True, False or None"):
        await agent.send_message("hi", stream="no")
    with pytest.raises(InvalidInputError, match="poll_interval must be a number"):
        await agent.run("hi", poll_interval=0)
    for bad in (0, math.nan, math.inf, 1e300, "5"):
        with pytest.raises(InvalidInputError, match="timeout must be a number of seconds > 0"):
            await agent.send_message("hi", timeout=bad)
    assert srv.requests == []


# Against the local runtime, with a client that polls by default.


@pytest.fixture(scope="module")
def runtime() -> Iterator[Any]:
    from inferencesh.local import LocalRuntime

    with LocalRuntime(port=0, heartbeat_interval=0.2, agent_token_delay=0.001) as rt:
        yield rt


@pytest.fixture
async def polling_agent(runtime: Any, mode: str) -> Any:
    """``polling_agent(spec)`` and the paths its client requested."""
    paths: list[str] = []
    clients: list[Any] = []

    def make(spec: Any) -> Any:
        if mode == "sync":
            http = httpx.Client(event_hooks={"request": [lambda r: paths.append(r.url.path)]})
            client: Any = Inference(
                api_key="inf_local",
                base_url=runtime.base_url,
                strict_responses=True,
                stream=False,
                poll_interval=FAST,
                http_client=http,
            )
            clients.append((client, http))
            return Awaitable(client.agent(spec))

        async def record(request: httpx.Request) -> None:
            paths.append(request.url.path)

        ahttp = httpx.AsyncClient(event_hooks={"request": [record]})
        aclient = AsyncInference(
            api_key="inf_local",
            base_url=runtime.base_url,
            strict_responses=True,
            stream=False,
            poll_interval=FAST,
            http_client=ahttp,
        )
        clients.append((aclient, ahttp))
        return aclient.agent(spec)

    yield make, paths
    for client, http in clients:
        if isinstance(client, Inference):
            client.close()
            http.close()
        else:
            await client.close()
            await http.aclose()


async def test_the_local_runtime_followed_by_polling(polling_agent: Any) -> None:
    make, paths = polling_agent
    runs: list[dict[str, Any]] = []
    agent = make(
        {
            "core_app": {"ref": "infsh/scripted-llm@latest"},
            "tools": [tool("count").param("n", string()).handler(lambda a: runs.append(a) or 7)],
            "output_schema": {"type": "object", "properties": {"mood": {"type": "string"}}},
        }
    )
    seen: list[ChatMessageDTO] = []
    reply = await agent.send_message('call count {"n": "1"}\nhi', on_message=seen.append)
    assert text_of(reply) == "count returned 7. You said: hi"
    assert runs == [{"n": "1"}]
    assert any(m.role == "assistant" and text_of(m) == text_of(reply) for m in seen)
    assert await agent.run("mood=calm") == {"mood": "calm"}
    assert any(path.endswith("/status") for path in paths)
    assert not [path for path in paths if path.endswith("/stream")]


async def test_watching_a_chat_by_polling(polling_agent: Any, mode: str) -> None:
    make, paths = polling_agent
    agent = make({"core_app": {"ref": "infsh/scripted-llm@latest"}})
    await agent.send_message("hello")
    roles: list[str] = []
    if mode == "sync":
        for message in agent.agent.stream_messages():
            roles.append(str(message.role))
            if len(roles) == 2:
                break
    else:
        async for message in agent.stream_messages():
            roles.append(str(message.role))
            if len(roles) == 2:
                break
    assert sorted(roles) == ["assistant", "user"]
    assert not [path for path in paths if path.endswith("/stream")]
