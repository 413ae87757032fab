"""Agents: an ad-hoc agent with a client tool whose handler runs here, streamed replies, then
structured output with ``output_schema``.

python examples/agent_chat.py

On the local runtime the agent's model is ``infsh/scripted-llm``: a message line
``call NAME {json}`` makes it call that tool, and ``key=value`` tokens fill the output schema.
"""

from __future__ import annotations

from typing import Any

from _env import api

from inferencesh import ToolCallInfo, inference, integer, string, tool
from inferencesh.types import ChatMessageDTO


def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    """The client tool: it runs in this process when the agent calls it."""
    return {"city": args["city"], "sky": "sunny", "celsius": 21}


def text_of(message: ChatMessageDTO) -> str:
    return "".join(part.text or "" for part in message.content)


def main() -> None:
    weather = (
        tool("get_weather")
        .describe("Current weather of a city")
        .param("city", string("City name"))
        .handler(get_weather)
    )
    config: dict[str, Any] = {
        "name": "weather-helper",
        "core_app": {"ref": "infsh/scripted-llm"},
        "system_prompt": "You answer questions about the weather.",
        "tools": [weather],
    }
    with api() as (base_url, key), inference(api_key=key, base_url=base_url) as client:
        agent = client.agent(config, context={"user": "ada"})
        updates: list[str] = []
        calls: list[ToolCallInfo] = []
        reply = agent.send_message(
            'call get_weather {"city": "Paris"}\nShould I take an umbrella?',
            on_message=lambda message: updates.append(text_of(message)),
            on_tool_call=calls.append,
        )
        for call in calls:
            print(f"tool call: {call.name} {call.args}")
        print(f"reply: {text_of(reply)}")
        print(f"message updates: {len(updates)}, chat {agent.chat_id is not None}")

        again = agent.send_message("thanks")
        print(f"same chat: {text_of(again)}")

        # Structured output: the turn ends with the finish tool, checked against the schema.
        schema = {
            "type": "object",
            "properties": {"city": string("City"), "days": integer("Days")},
            "required": ["city", "days"],
        }
        planner = client.agent({**config, "name": "trip-planner", "output_schema": schema})
        output = planner.run("Plan a trip: city=Lyon days=3")
        print(f"run output: {output}")


if __name__ == "__main__":
    main()
