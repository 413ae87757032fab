"""Chat streams cut mid-line: no text lost or doubled, tool calls handled once, budget kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from inferencesh import ChatStreamError, string, tool

from .chat_server import ChatServer
from .test_agent_chat import text_of

Start = Callable[..., ChatServer]
MakeAgent = Callable[..., Any]

LONG = " ".join(f"word{i}" for i in range(40))


@pytest.mark.parametrize("cut_after", [1, 3, 7])
async def test_drops_mid_answer_lose_and_double_nothing(
    server: Start, make_agent: MakeAgent, cut_after: int
) -> None:
    srv = server(cut_after=cut_after, max_cuts=6, word_delay=0.002)
    agent = make_agent(srv.base_url, "my-org/assistant@abc123")
    await agent.send_message("first")
    texts: list[str] = []
    deltas: list[str] = []
    reply = await agent.send_message(
        LONG,
        on_message=lambda m: texts.append(text_of(m)) if m.role == "assistant" else None,
        on_delta=lambda d: deltas.append(d.output["response"]),
    )
    expected = f"You said: {LONG}"
    assert text_of(reply) == expected
    assert srv.stream_opens > 2  # the cuts happened and were survived
    # Every state shown is a prefix of the final text: nothing doubled, nothing out of order.
    assert texts and all(expected.startswith(text) for text in texts)
    assert all(expected.startswith(output) for output in deltas)
    assert [len(t) for t in texts] == sorted(len(t) for t in texts)


async def test_a_client_tool_runs_once_across_reconnects(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server(cut_after=2, max_cuts=5)
    runs: list[dict[str, Any]] = []
    agent = make_agent(
        srv.base_url,
        {
            "core_app": {"ref": "infsh/scripted-llm@latest"},
            "tools": [tool("count").param("n", string()).handler(lambda a: runs.append(a) or "ok")],
        },
    )
    await agent.send_message("warm up")
    reply = await agent.send_message('tool count {"n": "1"}')
    assert text_of(reply) == "result: ok"
    assert runs == [{"n": "1"}]
    assert srv.posted("POST", "/tools/") == [{"result": "ok"}]
    assert srv.stream_opens > 2


async def test_the_reconnect_budget_is_spent_only_without_progress(
    server: Start, make_agent: MakeAgent
) -> None:
    srv = server()
    agent = make_agent(srv.base_url, "my-org/assistant@abc123", max_reconnects=2)
    await agent.send_message("first")
    # From now on every connection is cut right after its snapshot, and the turn (waiting for
    # an approval nobody gives) never moves: no progress, so the budget runs out.
    srv.cut_after = 0
    with pytest.raises(ChatStreamError, match="after 2 reconnects"):
        await agent.send_message("approve delete")
    # First turn; then the turn's first connection and the one whose snapshot showed the new
    # state (progress, so the budget restarted), then one reconnect per unit of the budget.
    assert srv.stream_opens == 1 + 2 + 2


def test_stream_messages_yields_updates_until_stopped(server: Start) -> None:
    from inferencesh import Inference

    srv = server()
    with Inference(api_key="inf_test", base_url=srv.base_url) as client:
        agent = client.agent("my-org/assistant@abc123")
        agent.send_message("hello")
        statuses = []
        for message in agent.stream_messages():
            statuses.append((message.role, str(message.status)))
            if len(statuses) == 2:
                break
        assert statuses[0][0] == "user"
        chats = agent.stream_chat()
        chat = next(chats)
        chats.close()  # type: ignore[attr-defined]
        assert chat.id == agent.chat_id
    assert json.dumps(statuses)
