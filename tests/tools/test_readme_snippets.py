"""The tool-builder snippets of the Python README, run as written (lines needing a client aside)."""

from __future__ import annotations

from typing import Any

from inferencesh import as_agent_tool, tool_handler

# README "creating an ad-hoc agent": the tool part; the client and agent lines are the agents'.
AD_HOC_AGENT = """
from inferencesh import inference, tool, string

# Define a client tool (handler runs in your process)
weather_tool = (
    tool("get_weather")
    .describe("Get current weather")
    .param("city", string("City name"))
    .handler(lambda args: '{"temp": 72, "conditions": "sunny"}')
)
"""

# README "per-chat context variables": the call tool (client.agent(...) aside).
CONTEXT = """
from inferencesh import call_tool

lookup = (
    call_tool("fetch_user", "https://api.example.com/users/{{context.user_id}}")
    .auth(bearer="API_TOKEN")
    .describe("Fetch user profile")
    .build()
)
"""

# README "tool builder", whole.
TOOL_BUILDER = """
from inferencesh import (
    tool, app_tool, agent_tool, call_tool, mcp_tool,
    string, optional, boolean,
)

# Client tool (runs in your code)
search = (
    tool("search")
    .describe("Search files")
    .param("pattern", string("Glob pattern"))
    .build()
)

# App tool (runs another inference app)
generate = (
    app_tool("generate", "infsh/flux-schnell@latest")
    .describe("Generate an image")
    .param("prompt", string("Image description"))
    .function("generate")          # multi-function apps
    .session_enabled()             # agent can pass session IDs
    .require_approval()            # human-in-the-loop
    .build()
)

# HTTP tool with auth (call_tool is an alias for http_tool)
notify = (
    call_tool("notify", "https://api.example.com/notify")
    .method("POST")
    .auth(api_key="MY_API_KEY")
    .header("X-Tenant", "{{context.tenant_id}}")
    .param("message", string("Notification body"))
    .build()
)

# MCP connector tool (integration must be connected in workspace)
web_search = (
    mcp_tool("web_search", "int-abc123", "search")
    .describe("Search via connected MCP server")
    .build()
)
"""


def run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    return namespace


def wire(value: Any) -> dict[str, Any]:
    return as_agent_tool(value).model_dump(mode="json", exclude_unset=True)


def test_ad_hoc_agent_weather_tool() -> None:
    weather_tool = run(AD_HOC_AGENT)["weather_tool"]
    assert wire(weather_tool) == {
        "name": "get_weather",
        "display_name": "get_weather",
        "description": "Get current weather",
        "type": "client",
        "require_approval": False,
        "client": {
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            }
        },
    }
    handler = tool_handler(weather_tool)
    assert handler is not None
    assert handler({"city": "Paris"}) == '{"temp": 72, "conditions": "sunny"}'


def test_context_call_tool() -> None:
    assert wire(run(CONTEXT)["lookup"]) == {
        "name": "fetch_user",
        "display_name": "fetch_user",
        "description": "Fetch user profile",
        "type": "http",
        "require_approval": False,
        "http": {
            "url": "https://api.example.com/users/{{context.user_id}}",
            "auth": {"type": "bearer", "secret": "API_TOKEN"},
            "input_schema": {"type": "object", "properties": {}, "required": []},
        },
    }


def test_tool_builder_section() -> None:
    ns = run(TOOL_BUILDER)
    assert wire(ns["search"])["client"]["input_schema"] == {
        "type": "object",
        "properties": {"pattern": {"type": "string", "description": "Glob pattern"}},
        "required": ["pattern"],
    }
    assert wire(ns["generate"]) == {
        "name": "generate",
        "display_name": "generate",
        "description": "Generate an image",
        "type": "app",
        "require_approval": True,
        "app": {
            "ref": "infsh/flux-schnell@latest",
            "function": "generate",
            "session_enabled": True,
        },
    }
    assert wire(ns["notify"])["http"] == {
        "url": "https://api.example.com/notify",
        "auth": {"type": "api_key", "secret": "MY_API_KEY", "header": "X-API-Key"},
        "headers": {"X-Tenant": "{{context.tenant_id}}"},
        "input_schema": {
            "type": "object",
            "properties": {"message": {"type": "string", "description": "Notification body"}},
            "required": ["message"],
        },
    }
    assert wire(ns["web_search"]) == {
        "name": "web_search",
        "display_name": "web_search",
        "description": "Search via connected MCP server",
        "type": "mcp",
        "require_approval": False,
        "mcp": {"integration_id": "int-abc123", "tool_name": "search"},
    }
