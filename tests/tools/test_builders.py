"""Each tool builder produces the generated AgentTool and exactly this wire JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inferencesh import (
    AgentConfig,
    AgentTool,
    InvalidInputError,
    agent_tool,
    app_tool,
    call_tool,
    enum_of,
    http_tool,
    mcp_tool,
    optional,
    string,
    tool,
    webhook_tool,
)
from inferencesh.types import AppToolConfig, HTTPToolConfig, ToolAuthType, ToolType

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City"}},
    "required": ["city"],
}


def test_client_tool_golden() -> None:
    built = (
        tool("get_weather")
        .describe("Get current weather")
        .display("Weather")
        .param("city", string("City"))
        .require_approval()
        .build()
    )
    assert isinstance(built, AgentTool)
    assert built.type is ToolType.CLIENT
    assert built.model_dump(mode="json", exclude_unset=True) == {
        "name": "get_weather",
        "display_name": "Weather",
        "description": "Get current weather",
        "type": "client",
        "require_approval": True,
        "client": {"input_schema": CITY_SCHEMA},
    }


def test_defaults_display_name_is_the_name_and_approval_is_false() -> None:
    assert tool("t").to_dict() == {
        "name": "t",
        "display_name": "t",
        "description": "",
        "type": "client",
        "require_approval": False,
        "client": {"input_schema": EMPTY_SCHEMA},
    }
    assert tool("t").display_name("T").require_approval().require_approval(False).to_dict()[
        "display_name"
    ] == ("T")
    assert tool("t").require_approval().require_approval(False).to_dict()["require_approval"] is (
        False
    )


def test_handler_is_kept_out_of_the_json() -> None:
    builder = tool("t").handler(lambda args: "ok")
    data = builder.to_dict()
    assert "handler" not in json.dumps(data)
    assert set(data) == {
        "name",
        "display_name",
        "description",
        "type",
        "require_approval",
        "client",
    }


def test_app_tool_golden() -> None:
    built = (
        app_tool("generate", "infsh/flux-schnell@latest")
        .describe("Generate an image")
        .param("prompt", string("Image description"))
        .function("generate")
        .session_enabled()
        .setup({"model": "schnell"})
        .input({"steps": 20})
        .require_approval()
        .build()
    )
    assert isinstance(built.app, AppToolConfig)
    assert built.model_dump(mode="json", exclude_unset=True) == {
        "name": "generate",
        "display_name": "generate",
        "description": "Generate an image",
        "type": "app",
        "require_approval": True,
        "app": {
            "ref": "infsh/flux-schnell@latest",
            "function": "generate",
            "session_enabled": True,
            "setup": {"model": "schnell"},
            "input": {"steps": 20},
        },
    }


def test_app_tool_minimal_sends_only_the_ref() -> None:
    assert app_tool("gen", "infsh/echo").param("p", string()).to_dict()["app"] == {
        "ref": "infsh/echo"
    }


def test_app_tool_values_are_copied() -> None:
    setup: dict[str, Any] = {"opts": {"a": 1}}
    builder = app_tool("gen", "infsh/echo").setup(setup)
    setup["opts"]["a"] = 2
    built = builder.to_dict()
    built["app"]["setup"]["opts"]["a"] = 3
    assert builder.to_dict()["app"]["setup"] == {"opts": {"a": 1}}


def test_agent_tool_golden() -> None:
    assert agent_tool("research", "my-org/researcher@v1").describe("Research").to_dict() == {
        "name": "research",
        "display_name": "research",
        "description": "Research",
        "type": "agent",
        "require_approval": False,
        "agent": {"ref": "my-org/researcher@v1"},
    }


def test_http_tool_golden() -> None:
    built = (
        http_tool("notify", "https://api.example.com/notify")
        .method("put")
        .auth(api_key="MY_API_KEY", header="X-Key")
        .header("X-Tenant", "{{context.tenant_id}}")
        .header("X-Token", "${{secrets.TOKEN}}")
        .param("message", string("Body"))
        .build()
    )
    assert isinstance(built.http, HTTPToolConfig)
    assert built.http.auth is not None and built.http.auth.type is ToolAuthType.API_KEY
    assert built.model_dump(mode="json", exclude_unset=True) == {
        "name": "notify",
        "display_name": "notify",
        "description": "",
        "type": "http",
        "require_approval": False,
        "http": {
            "url": "https://api.example.com/notify",
            "method": "PUT",
            "auth": {"type": "api_key", "secret": "MY_API_KEY", "header": "X-Key"},
            "headers": {"X-Tenant": "{{context.tenant_id}}", "X-Token": "${{secrets.TOKEN}}"},
            "input_schema": {
                "type": "object",
                "properties": {"message": {"type": "string", "description": "Body"}},
                "required": ["message"],
            },
        },
    }


def test_http_tool_post_no_auth_no_headers_sends_url_and_schema_only() -> None:
    data = call_tool("ping", "https://x.test/{{context.id}}").method("POST").to_dict()
    assert data["type"] == "http"
    assert data["http"] == {"url": "https://x.test/{{context.id}}", "input_schema": EMPTY_SCHEMA}


@pytest.mark.parametrize(
    ("kwargs", "auth"),
    [
        ({"bearer": "API_TOKEN"}, {"type": "bearer", "secret": "API_TOKEN"}),
        ({"api_key": "K"}, {"type": "api_key", "secret": "K", "header": "X-API-Key"}),
        ({"credential": "google"}, {"type": "credential", "provider": "google"}),
    ],
)
def test_http_auth_variants(kwargs: dict[str, str], auth: dict[str, str]) -> None:
    assert http_tool("t", "https://x.test").auth(**kwargs).to_dict()["http"]["auth"] == auth


def test_call_tool_is_http_tool() -> None:
    assert call_tool is http_tool


def test_webhook_tool_golden() -> None:
    built = (
        webhook_tool("slack", "https://hooks.slack.com/services/x")
        .describe("Send Slack notification")
        .secret("SLACK_SECRET")
        .param("channel", string("Channel"))
        .param("level", optional(enum_of(["info", "warn"])))
    )
    assert built.to_dict() == {
        "name": "slack",
        "display_name": "slack",
        "description": "Send Slack notification",
        "type": "hook",
        "require_approval": False,
        "hook": {
            "url": "https://hooks.slack.com/services/x",
            "secret": "SLACK_SECRET",
            "input_schema": {
                "type": "object",
                "properties": {
                    "channel": {"type": "string", "description": "Channel"},
                    "level": {"type": "string", "enum": ["info", "warn"]},
                },
                "required": ["channel"],
            },
        },
    }
    assert "secret" not in webhook_tool("s", "https://x.test").to_dict()["hook"]


def test_mcp_tool_by_integration_and_by_server() -> None:
    by_integration = mcp_tool("web_search", "int-abc123", "search").describe("Search").to_dict()
    assert by_integration == {
        "name": "web_search",
        "display_name": "web_search",
        "description": "Search",
        "type": "mcp",
        "require_approval": False,
        "mcp": {"integration_id": "int-abc123", "tool_name": "search"},
    }
    by_server = mcp_tool("web_search", server="exa", tool_name="search").to_dict()
    assert by_server["mcp"] == {"server": "exa", "tool_name": "search"}


def test_agent_config_sends_the_same_tool_json() -> None:
    builder = http_tool("n", "https://x.test").auth(bearer="T").param("m", string())
    config = AgentConfig.model_validate(
        {"core_app": {"ref": "i/llm@1"}, "tools": [builder.build()]}
    )
    assert config.to_wire()["tools"] == [builder.to_dict()]


def test_builders_can_be_built_twice_and_keep_growing() -> None:
    builder = tool("t").param("a", string())
    first = builder.build()
    builder.param("b", string())
    first_json = first.model_dump(mode="json", exclude_unset=True)
    assert list(first_json["client"]["input_schema"]["properties"]) == ["a"]
    assert list(builder.to_dict()["client"]["input_schema"]["properties"]) == ["a", "b"]
    assert repr(builder) == "ClientToolBuilder('t')"


# Validation: refused with the field and the value named.


@pytest.mark.parametrize("name", ["", "has space", "dots.not.ok", "é", "x" * 65, None, 3])
def test_bad_tool_names_are_refused(name: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"tool name must be .*got"):
        tool(name)
    with pytest.raises(InvalidInputError, match="tool name"):
        http_tool(name, "https://x.test")


def test_longest_allowed_name() -> None:
    assert tool("a-B_9" + "x" * 59).name == "a-B_9" + "x" * 59


@pytest.mark.parametrize("url", ["", " https://x.test", "ftp://x.test", "x.test", "https://a b"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="url must be"):
        http_tool("t", url)
    with pytest.raises(InvalidInputError, match="webhook_tool 't' url"):
        webhook_tool("t", url)


def test_duplicate_param_is_refused() -> None:
    builder = tool("t").param("city", string())
    with pytest.raises(InvalidInputError, match=r"param name must be unique.*'city'"):
        builder.param("city", string())


@pytest.mark.parametrize("name", ["", "a b", "x" * 65])
def test_bad_param_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="param name"):
        tool("t").param(name, string())


def test_uncalled_helper_as_schema_gets_a_hint() -> None:
    with pytest.raises(InvalidInputError, match=r"call the helper"):
        tool("t").param("city", string)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bearer": "A", "api_key": "B"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"bearer": "A", "credential": "google"}, "exactly one of"),
        ({"bearer": "A", "header": "X-K"}, "header must be given only with api_key"),
        ({"bearer": ""}, "auth bearer must be a non-empty"),
        ({"api_key": "K", "header": "Bad Header"}, "auth header must be an HTTP header"),
    ],
)
def test_bad_auth_is_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        http_tool("t", "https://x.test").auth(**kwargs)


def test_bad_method_and_headers_are_refused() -> None:
    builder = http_tool("t", "https://x.test").header("X-A", "1")
    with pytest.raises(InvalidInputError, match=r"method must be one of GET.*got 'FETCH'"):
        builder.method("FETCH")
    with pytest.raises(InvalidInputError, match="header name must be unique"):
        builder.header("x-a", "2")
    with pytest.raises(InvalidInputError, match="header name must be an HTTP header"):
        builder.header("X A", "2")
    with pytest.raises(InvalidInputError, match="value must be a string without line breaks"):
        builder.header("X-B", "1\r\nX-Evil: 1")


def test_webhook_secret_errors_do_not_echo_the_value() -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhook_tool("t", "https://x.test").secret("   ")
    assert "secret must be a non-empty" in str(caught.value)
    assert "'   '" not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("int-1",), {"server": "exa", "tool_name": "s"}, "exactly one of integration_id"),
        ((), {"tool_name": "s"}, "exactly one of integration_id"),
        (("int-1",), {}, "tool_name must be"),
        (("",), {"tool_name": "s"}, "integration_id must be"),
    ],
)
def test_bad_mcp_tool_is_refused(
    args: tuple[str, ...], kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        mcp_tool("t", *args, **kwargs)


def test_other_bad_values_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="app_ref"):
        app_tool("t", "")
    with pytest.raises(InvalidInputError, match="agent_ref"):
        agent_tool("t", " ")
    with pytest.raises(InvalidInputError, match="display name"):
        tool("t").display("")
    with pytest.raises(InvalidInputError, match="require_approval must be True or False"):
        tool("t").require_approval("yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="setup must be a dict, got"):
        app_tool("t", "a/b").setup(["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="handler must be a callable"):
        tool("t").handler("not callable")  # type: ignore[arg-type]
    assert issubclass(InvalidInputError, ValueError)
