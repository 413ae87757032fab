"""Turning what users put into ``tools`` into wire tools and client-tool handlers."""

from __future__ import annotations

import asyncio
import copy
import inspect
from typing import Any

import pytest

from inferencesh import (
    AgentConfig,
    AgentTool,
    InvalidInputError,
    app_tool,
    as_agent_tool,
    string,
    tool,
    tool_handler,
)
from inferencesh.tools import (
    ClientTool,
    ToolHandler,
    ToolLike,
    split_tools,
    tool_result_text,
)


def test_as_agent_tool_accepts_builder_model_and_dict() -> None:
    builder = tool("t").param("a", string())
    from_builder = as_agent_tool(builder)
    assert isinstance(from_builder, AgentTool)
    assert as_agent_tool(from_builder) is from_builder
    from_dict = as_agent_tool(builder.to_dict())
    assert from_dict.model_dump(mode="json", exclude_unset=True) == builder.to_dict()


def test_as_agent_tool_accepts_the_schema_handler_bundle_of_other_sdks() -> None:
    def ok(args: dict[str, Any]) -> str:
        return "ok"

    bundle: dict[str, Any] = {"schema": tool("t").to_dict(), "handler": ok}
    assert as_agent_tool(bundle).name == "t"
    handler = tool_handler(bundle)
    assert handler is not None and handler({}) == "ok"


def test_as_agent_tool_checks_names_of_hand_made_tools() -> None:
    with pytest.raises(InvalidInputError, match="tool name must be"):
        as_agent_tool({"name": "bad name", "type": "client"})
    with pytest.raises(InvalidInputError, match="tool name must be .* got None"):
        as_agent_tool(AgentTool.model_validate({"type": "client"}))
    with pytest.raises(InvalidInputError, match="tool must be a tool builder"):
        as_agent_tool(42)  # type: ignore[arg-type]


def test_tool_handler_only_for_client_tools_with_one() -> None:
    def fn(args: dict[str, Any]) -> str:
        return str(args["a"])

    builder = tool("t").handler(fn)
    assert tool_handler(builder) is fn
    assert builder.get_handler() is fn
    assert tool_handler(tool("t")) is None
    assert tool_handler(tool("t").build()) is None
    assert tool_handler(app_tool("a", "x/y")) is None


def test_build_keeps_the_handler_and_sends_the_same_json() -> None:
    def fn(args: dict[str, Any]) -> str:
        return "ok"

    builder = tool("t").param("a", string()).require_approval().handler(fn)
    built = builder.build()
    assert isinstance(built, AgentTool) and isinstance(built, ClientTool)
    assert tool_handler(built) is fn and built.get_handler() is fn
    assert built.model_dump(mode="json", exclude_unset=True) == builder.to_dict()
    assert "handler" not in built.model_dump_json()
    # Copies keep it; a model holding the built tool keeps the tool itself.
    assert tool_handler(built.model_copy()) is fn and tool_handler(copy.deepcopy(built)) is fn
    config = AgentConfig(tools=[built])
    assert config.tools is not None and tool_handler(config.tools[0]) is fn
    wire, handlers = split_tools(config.tools)
    assert handlers == {"t": fn}
    assert wire[0].model_dump(mode="json", exclude_unset=True) == builder.to_dict()


def test_split_tools_gives_wire_tools_and_handlers() -> None:
    async def lookup(args: dict[str, Any]) -> dict[str, int]:
        return {"temp": 72}

    tools: list[ToolLike] = [
        tool("weather").handler(lookup),
        tool("search").build(),
        app_tool("gen", "infsh/flux@1"),
        {"name": "raw", "type": "client", "client": {"input_schema": {}}},
    ]
    built, handlers = split_tools(tools)
    assert [t.name for t in built] == ["weather", "search", "gen", "raw"]
    assert set(handlers) == {"weather"}
    result = handlers["weather"]({"city": "Paris"})
    assert inspect.isawaitable(result)
    assert asyncio.run(_await(result)) == {"temp": 72}


async def _await(value: Any) -> Any:
    return await value


def test_split_tools_refuses_duplicate_names() -> None:
    with pytest.raises(InvalidInputError, match=r"tools must be tools with unique names.*'a'"):
        split_tools([tool("a"), tool("a").build()])


def test_handler_type_accepts_sync_and_async_callables() -> None:
    def sync_str(args: dict[str, Any]) -> str:
        return "x"

    def sync_json(args: dict[str, Any]) -> list[int]:
        return [1]

    async def async_str(args: dict[str, Any]) -> str:
        return "x"

    handlers: list[ToolHandler] = [sync_str, sync_json, async_str, lambda args: None]
    assert len(handlers) == 4


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ({"temp": 72}, '{"temp": 72}'),
        ([1, "a"], '[1, "a"]'),
        (None, "null"),
        (AgentTool(name="t"), '{"name":"t"}'),
    ],
)
def test_tool_result_text(value: object, text: str) -> None:
    assert tool_result_text(value) == text


def test_tool_result_text_refuses_non_json() -> None:
    with pytest.raises(InvalidInputError, match="JSON-serialisable, got a object"):
        tool_result_text(object())
