"""Agents with the async client: an async tool handler, streamed deltas, structured output, and
two chats at once with asyncio.gather.

python examples/agent_async.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from _env import api

from inferencesh import AgentDelta, ToolCallInfo, async_inference, integer, string, tool
from inferencesh.types import ChatMessageDTO


async def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    """An async client tool: awaited in this process when the agent calls it."""
    await asyncio.sleep(0.01)  # stands for a real awaitable lookup
    return {"city": args["city"], "sky": "cloudy", "celsius": 14}


def text_of(message: ChatMessageDTO) -> str:
    return "".join(part.text or "" for part in message.content)


async def run(base_url: str, key: str) -> None:
    weather = (
        tool("get_weather")
        .describe("Current weather of a city")
        .param("city", string("City name"))
        .handler(get_weather)
    )
    config: dict[str, Any] = {
        "name": "weather-helper",
        "core_app": {"ref": "infsh/scripted-llm"},
        "tools": [weather],
    }
    async with async_inference(api_key=key, base_url=base_url) as client:
        agent = client.agent(config)
        deltas: list[str] = []
        calls: list[ToolCallInfo] = []

        async def on_tool_call(info: ToolCallInfo) -> None:
            calls.append(info)

        def on_delta(delta: AgentDelta) -> None:
            deltas.append(delta.text)

        updates: list[str] = []
        reply = await agent.send_message(
            'call get_weather {"city": "Oslo"}\nWarm enough?',
            on_message=lambda message: updates.append(text_of(message)),
            on_tool_call=on_tool_call,
            on_delta=on_delta,
        )
        for call in calls:
            print(f"tool call: {call.name} {call.args}")
        print(f"reply: {text_of(reply)}")
        print(f"deltas: {len(deltas)}, streamed text matches={''.join(deltas) == text_of(reply)}")

        # Two agents, two chats, at the same time.
        first, second = client.agent(config), client.agent(config)
        replies = await asyncio.gather(first.send_message("one"), second.send_message("two"))
        print(f"gather: {[text_of(message) for message in replies]}")

        schema = {
            "type": "object",
            "properties": {"city": string("City"), "nights": integer("Nights")},
            "required": ["city", "nights"],
        }
        planner = client.agent({**config, "output_schema": schema})
        output = await planner.run("Book it: city=Rome nights=2")
        print(f"run output: {output}")


def main() -> None:
    with api() as (base_url, key):
        asyncio.run(run(base_url, key))


if __name__ == "__main__":
    main()
