"""Every agent snippet of the README, against the local runtime's scripted model, sync and async.

The scripted model (``inferencesh.local._scripted``): a line ``call NAME {json}`` calls a tool;
the reply is ``"NAME returned RESULT."`` per call, ``"Attached: ..."`` for attachments and
``"You said: TEXT"``; ``key=value`` tokens fill the finish tool's output.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from inferencesh import (
    AgentConfig,
    AsyncInference,
    Inference,
    SignInRequiredError,
    ToolCallInfo,
    call_tool,
    inference,
    is_message_ready,
    string,
    tool,
)

from .conftest import Awaitable

TEMPLATES = {
    "my-org/assistant": {
        "core_app": {"ref": "infsh/scripted-llm@latest"},
        "system_prompt": "You are a helpful assistant.",
    }
}


@pytest.fixture(scope="module")
def runtime() -> Iterator[Any]:
    from inferencesh.local import LocalRuntime

    with LocalRuntime(
        port=0, heartbeat_interval=0.2, agents=TEMPLATES, agent_token_delay=0.001
    ) as rt:
        yield rt


@pytest.fixture
async def agent_of(runtime: Any, mode: str) -> Any:
    """``agent_of(spec, context=None)``: an agent of the client under test, on the runtime."""
    clients: list[Any] = []

    def make(spec: Any, context: Any = None) -> Any:
        if mode == "sync":
            client: Any = Inference(
                api_key="inf_local", base_url=runtime.base_url, strict_responses=True
            )
            clients.append(client)
            return Awaitable(client.agent(spec, context))
        client = AsyncInference(
            api_key="inf_local", base_url=runtime.base_url, strict_responses=True
        )
        clients.append(client)
        return client.agent(spec, context)

    yield make
    for client in clients:
        closed = client.close()
        if closed is not None:
            await closed


def text_of(message: Any) -> str:
    return "".join(c["text"] for c in message.get("content", []) if c.get("type") == "text")


def test_template_agent_snippet(runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = inference(api_key="inf_local", base_url=runtime.base_url)
    agent = client.agents.create("my-org/assistant@abc123")

    def on_message(msg: Any) -> None:
        content = msg.get("content", [])
        for c in content:
            if c.get("type") == "text" and c.get("text"):
                print(c["text"], end="", flush=True)

    response = agent.send_message("Hello!", on_message=on_message)
    print(f"\nChat ID: {agent.chat_id}")
    assert text_of(response) == "You said: Hello!"
    assert f"Chat ID: {agent.chat_id}" in capsys.readouterr().out

    seen = []
    for message in agent.stream_messages():
        seen.append(message)
        if is_message_ready(message.get("status")):
            break
    assert seen and seen[-1]["chat_id"] == agent.chat_id
    client.close()


async def test_multi_turn_chat(agent_of: Callable[..., Any]) -> None:
    agent = agent_of("my-org/assistant@latest")
    first = await agent.send_message("Hello!")
    chat_id = agent.chat_id
    second = await agent.send_message("Tell me more")
    assert (text_of(first), text_of(second)) == ("You said: Hello!", "You said: Tell me more")
    assert agent.chat_id == chat_id
    chat = await agent.get_chat()
    assert str(chat.status) in ("idle", "ChatStatus.IDLE") or chat.status == "idle"
    agent.reset()
    await agent.send_message("new chat")
    assert agent.chat_id != chat_id


async def test_ad_hoc_agent_with_sync_and_async_handlers(agent_of: Callable[..., Any]) -> None:
    weather_tool = (
        tool("get_weather")
        .describe("Get current weather")
        .param("city", string("City name"))
        .handler(lambda args: '{"temp": 72, "conditions": "sunny"}')
    )

    async def lookup(args: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"id": args["id"], "name": "Ada"}

    agent = agent_of(
        {
            "core_app": {"ref": "infsh/claude-sonnet-4@abc123"},
            "system_prompt": "You are a helpful assistant.",
            "tools": [weather_tool, tool("lookup").param("id", string()).handler(lookup)],
        }
    )
    calls: list[str] = []

    def on_tool_call(call: ToolCallInfo) -> None:
        calls.append(call.name)

    response = await agent.send_message(
        'call get_weather {"city": "Paris"}\ncall lookup {"id": "7"}\nWeather?',
        on_tool_call=on_tool_call,
    )
    assert text_of(response) == (
        'get_weather returned {"temp": 72, "conditions": "sunny"}. '
        'lookup returned {"id": "7", "name": "Ada"}. You said: Weather?'
    )
    assert calls == ["get_weather", "lookup"]


async def test_a_raising_handler_does_not_kill_the_chat(agent_of: Callable[..., Any]) -> None:
    def broken(args: dict[str, Any]) -> str:
        raise RuntimeError("service down")

    agent = agent_of(
        {"core_app": {"ref": "infsh/scripted-llm"}, "tools": [tool("x").handler(broken)]}
    )
    response = await agent.send_message("call x")
    assert text_of(response) == 'x returned {"error": "RuntimeError: service down"}.'
    assert text_of(await agent.send_message("ok?")) == "You said: ok?"


async def test_approval_then_handler(agent_of: Callable[..., Any]) -> None:
    agent = agent_of(
        {
            "core_app": {"ref": "infsh/scripted-llm"},
            "tools": [
                tool("delete_files").require_approval().handler(lambda args: "deleted"),
                tool("format_disk").require_approval().handler(lambda args: "formatted"),
            ],
        }
    )
    asked: list[tuple[str, bool]] = []

    async def decide(call: ToolCallInfo) -> None:
        asked.append((call.name, call.awaiting_approval))
        if call.awaiting_approval and call.name == "delete_files":
            await agent.approve_tool(call.id)
        elif call.awaiting_approval:
            await agent.reject_tool(call.id, "too risky")

    if not isinstance(agent, Awaitable):
        response = await agent.send_message(
            "call delete_files\ncall format_disk", on_tool_call=decide
        )
    else:
        # The sync agent calls back from its own thread: answer with its blocking methods.
        def decide_sync(call: ToolCallInfo) -> None:
            asked.append((call.name, call.awaiting_approval))
            if call.awaiting_approval and call.name == "delete_files":
                agent.agent.approve_tool(call.id)
            elif call.awaiting_approval:
                agent.agent.reject_tool(call.id, "too risky")

        response = await agent.send_message(
            "call delete_files\ncall format_disk", on_tool_call=decide_sync
        )
    assert text_of(response).startswith("delete_files returned deleted. format_disk was rejected")
    assert asked == [("delete_files", True), ("format_disk", True)]  # once per call


def test_approvals_with_an_api_key_raise_sign_in_required() -> None:
    from inferencesh.local import LocalRuntime

    with LocalRuntime(port=0, heartbeat_interval=0.2, allow_key_approvals=False) as rt:
        with inference(api_key="inf_local", base_url=rt.base_url) as client:
            agent = client.agent(
                {
                    "core_app": {"ref": "infsh/scripted-llm"},
                    "tools": [tool("rm").require_approval()],
                }
            )
            with pytest.raises(SignInRequiredError):
                agent.send_message("call rm", on_tool_call=lambda call: agent.approve_tool(call.id))


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


async def test_run_returns_structured_output(agent_of: Callable[..., Any]) -> None:
    agent = agent_of({"core_app": {"ref": "infsh/scripted-llm"}, "output_schema": SCHEMA})
    result = await agent.run("Extract entities: name=Ada age=36")
    assert result == {"name": "Ada", "age": 36}
    plain = agent_of("my-org/assistant@abc123")
    assert await plain.run("no finish tool") is None


async def test_file_attachments(agent_of: Callable[..., Any]) -> None:
    agent = agent_of("my-org/assistant@abc123")
    response = await agent.send_message("Summarize this", files=[b"file contents"])
    assert "Attached: " in text_of(response)
    response = await agent.send_message(
        "Analyze image", files=["data:image/png;base64,iVBORw0KGgo="]
    )
    assert ".png" in text_of(response)
    ref = await agent.upload_file(b"notes", filename="notes.txt")
    assert (ref["filename"], ref["content_type"], ref["size"]) == ("notes.txt", "text/plain", 5)
    assert ref["uri"]
    response = await agent.send_message("Reuse it", files=[ref])
    assert "notes.txt" in text_of(response)


class _Capture(BaseHTTPRequestHandler):
    paths: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        _Capture.paths.append((self.path, self.headers.get("x-tenant")))
        body = json.dumps({"name": "Ada"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_context_variables_reach_http_tools(agent_of: Callable[..., Any]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        lookup = (
            call_tool("fetch_user", base + "/users/{{context.user_id}}")
            .method("GET")
            .header("X-Tenant", "{{context.tenant_id}}")
            .describe("Fetch user profile")
            .build()
        )
        agent = agent_of(
            {"core_app": {"ref": "infsh/scripted-llm"}, "tools": [lookup]},
            {"tenant_id": "acme", "user_id": "42"},
        )
        response = await agent.send_message("call fetch_user")
        assert "fetch_user returned" in text_of(response) and "Ada" in text_of(response)
        assert ("/users/42", "acme") in _Capture.paths
    finally:
        server.shutdown()
        server.server_close()


def blocking(agent: Any) -> Any:
    """The agent whose methods a callback calls: the sync agent's own, blocking ones."""
    return agent.agent if isinstance(agent, Awaitable) else agent


async def settle(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


async def test_a_built_tool_keeps_its_handler(agent_of: Callable[..., Any]) -> None:
    # The JS README's shape, ported: .handler(fn).build(), as a dict config and as a model.
    weather = (
        tool("get_weather")
        .describe("Get current weather")
        .param("city", string("City name"))
        .handler(lambda args: f"sunny in {args['city']}")
        .build()
    )
    for config in (
        {"core_app": {"ref": "infsh/scripted-llm"}, "tools": [weather]},
        AgentConfig(core_app={"ref": "infsh/scripted-llm"}, tools=[weather]),
    ):
        agent = agent_of(config)
        response = await agent.send_message('call get_weather {"city": "Paris"}')
        assert text_of(response) == "get_weather returned sunny in Paris."


async def test_a_client_tool_needing_approval_is_handed_out_once(
    agent_of: Callable[..., Any],
) -> None:
    agent = agent_of(
        {
            "core_app": {"ref": "infsh/scripted-llm"},
            "tools": [
                tool("rm")
                .param("path", string())
                .require_approval()
                .handler(lambda args: f"removed {args['path']}")
            ],
        }
    )
    calls: list[ToolCallInfo] = []

    async def approve_everything(call: ToolCallInfo) -> None:
        calls.append(call)
        await settle(blocking(agent).approve_tool(call.id))  # a second call would get 409

    response = await agent.send_message(
        'call rm {"path": "/tmp/x"}', on_tool_call=approve_everything
    )
    assert text_of(response) == "rm returned removed /tmp/x."
    assert [(c.name, c.requires_approval, c.args) for c in calls] == [
        ("rm", True, {"path": "/tmp/x"})
    ]


async def test_a_result_submitted_at_approval_is_posted_once_it_runs(
    agent_of: Callable[..., Any],
) -> None:
    agent = agent_of(
        {
            "core_app": {"ref": "infsh/scripted-llm"},
            "tools": [tool("ask").require_approval(), tool("other").require_approval()],
        }
    )
    calls: list[tuple[str, bool]] = []

    async def decide(call: ToolCallInfo) -> None:
        calls.append((call.name, call.requires_approval))
        if call.name == "ask":
            await settle(blocking(agent).approve_tool(call.id))
            await settle(blocking(agent).submit_tool_result(call.id, {"answer": 42}))
        else:
            await settle(blocking(agent).approve_tool(call.id))  # and no result: an error

    response = await agent.send_message("call ask\ncall other", on_tool_call=decide)
    assert text_of(response) == (
        'ask returned {"answer": 42}. '
        'other returned {"error": "no handler for client tool \'other\' in this client"}.'
    )
    assert calls == [("ask", True), ("other", True)]
