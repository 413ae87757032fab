"""Fluent builders for the tools an agent may call, and the JSON Schema helpers they use.

Every builder produces the generated ``AgentTool`` model; its wire JSON is
``builder.to_dict()`` (only the fields the builder sets). Builders are checked as they are
filled in, so a bad name, URL or auth is refused with an ``InvalidInputError`` (a ``ValueError``)
before anything is sent::

    from inferencesh import tool, string, optional

    weather = (
        tool("get_weather")
        .describe("Get current weather")
        .param("city", string("City name"))
        .param("unit", optional(string("celsius or fahrenheit")))
        .handler(lambda args: f"sunny in {args['city']}")
    )

A builder can be put into an agent's ``tools`` as it is, with or without ``.build()``: a client
tool built with a handler is a ``ClientTool``, the generated ``AgentTool`` that keeps its
handler. ``as_agent_tool`` and ``tool_handler`` (or ``split_tools``) turn such a list into wire
tools and the handlers of the client tools, which are never sent.

Internal tools: ``internal_tools()`` offers a method for each capability of the generated
``InternalToolsConfig`` except ``host_context`` (deprecated, ignored by the server) and ``spawn``
(only in older type files; ``agent`` replaced it). The JS docs also show ``webSearch``,
``codeExecution`` and ``imageGeneration``: no SDK implements them and no API type names their
wire fields, so they are not offered; use an ``app_tool`` for search, code or images.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias, TypeVar, cast

from pydantic import BaseModel, PrivateAttr

from inferencesh._errors import InvalidInputError
from inferencesh._generated.models import (
    AgentConfigInput,
    AgentTool,
    AgentToolConfig,
    AppToolConfig,
    ClientToolConfig,
    HookToolConfig,
    HTTPToolConfig,
    InternalToolsConfig,
    MCPToolConfig,
    ToolAuthConfig,
    ToolAuthType,
    ToolType,
)

__all__ = [
    "AgentConfig",
    "AgentToolBuilder",
    "AppToolBuilder",
    "ClientTool",
    "ClientToolBuilder",
    "HTTPToolBuilder",
    "InternalToolsBuilder",
    "JSONSchema",
    "MCPToolBuilder",
    "ToolBuilder",
    "ToolHandler",
    "ToolLike",
    "ToolResult",
    "WebhookToolBuilder",
    "agent_tool",
    "app_tool",
    "array",
    "as_agent_tool",
    "as_internal_tools",
    "boolean",
    "call_tool",
    "enum_of",
    "http_tool",
    "integer",
    "internal_tools",
    "mcp_tool",
    "number",
    "obj",
    "optional",
    "split_tools",
    "string",
    "tool",
    "tool_handler",
    "tool_result_text",
    "webhook_tool",
]

AgentConfig = AgentConfigInput
"""The ad-hoc agent configuration (``agent_config`` of ``POST /agents/run``)."""

JSONSchema: TypeAlias = dict[str, Any]
"""A JSON Schema object, as the schema helpers return it."""

ToolResult: TypeAlias = "str | int | float | bool | None | Mapping[str, Any] | Sequence[Any]"
"""What a client tool handler returns: a string is sent as is, anything else as JSON."""

ToolHandler: TypeAlias = Callable[[dict[str, Any]], "ToolResult | Awaitable[ToolResult]"]
"""A client tool's handler: sync or async, called with the parsed arguments of one call."""

# LLM providers accept function names of 1..64 letters, digits, "_" and "-"; property names may
# also contain ".". Anything else is refused by the model's API long after the agent was sent.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_OPTIONAL = "optional"


def _invalid(field: str, value: object, allowed: str) -> InvalidInputError:
    return InvalidInputError(f"{field} must be {allowed}, got {value!r}")


def _text(field: str, value: object) -> str:
    """A non-empty string without surrounding whitespace."""
    if not isinstance(value, str) or not value or value.strip() != value:
        raise _invalid(field, value, "a non-empty string without surrounding whitespace")
    return value


def _tool_name(field: str, value: object) -> str:
    if not isinstance(value, str) or _TOOL_NAME.fullmatch(value) is None:
        raise _invalid(field, value, "1 to 64 letters, digits, '_' or '-'")
    return value


def _param_name(field: str, value: object) -> str:
    if not isinstance(value, str) or _PARAM_NAME.fullmatch(value) is None:
        raise _invalid(field, value, "1 to 64 letters, digits, '_', '.' or '-'")
    return value


def _url(field: str, value: object) -> str:
    url = _text(field, value)
    # `{{context.KEY}}` templates are filled in by the server, so only the scheme is checked.
    if not url.lower().startswith(("http://", "https://", "{{", "${{")) or any(
        c.isspace() for c in url
    ):
        raise _invalid(field, value, "an http:// or https:// URL without spaces")
    return url


def _mapping(field: str, value: object, what: str = "a JSON Schema dict") -> dict[str, Any]:
    if not isinstance(value, Mapping):
        hint = " (call the helper: string(), not string)" if callable(value) else ""
        raise _invalid(field, value, f"{what}{hint}")
    items = cast("Mapping[object, Any]", value)
    for key in items:
        if not isinstance(key, str):
            raise _invalid(f"{field} key", key, "a string")
    # A copy, so later changes to the caller's dict do not leak into built tools.
    return copy.deepcopy(dict(cast("Mapping[str, Any]", items)))


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _invalid(field, value, "True or False")
    return value


# Schema helpers


def _typed(type_: str, description: str | None) -> JSONSchema:
    schema: JSONSchema = {"type": type_}
    if description is not None and not isinstance(cast(object, description), str):
        raise _invalid("description", description, "a string")
    if description:
        schema["description"] = description
    return schema


def string(description: str | None = None) -> JSONSchema:
    """A string parameter: ``{"type": "string", "description"?}``."""
    return _typed("string", description)


def number(description: str | None = None) -> JSONSchema:
    """A number parameter: ``{"type": "number", "description"?}``."""
    return _typed("number", description)


def integer(description: str | None = None) -> JSONSchema:
    """An integer parameter: ``{"type": "integer", "description"?}``."""
    return _typed("integer", description)


def boolean(description: str | None = None) -> JSONSchema:
    """A boolean parameter: ``{"type": "boolean", "description"?}``."""
    return _typed("boolean", description)


def enum_of(values: Sequence[str], description: str | None = None) -> JSONSchema:
    """A string parameter limited to ``values``: ``{"type": "string", "enum": [...]}``."""
    if isinstance(values, str) or not isinstance(cast(object, values), Sequence) or not values:
        raise _invalid("enum_of values", values, "a non-empty list of strings")
    choices = list(values)
    for choice in choices:
        if not isinstance(cast(object, choice), str):
            raise _invalid("enum_of value", choice, "a string")
    if len(set(choices)) != len(choices):
        raise _invalid("enum_of values", values, "a list without duplicates")
    schema = _typed("string", description)
    schema["enum"] = choices
    return schema


def array(items: Mapping[str, Any], description: str | None = None) -> JSONSchema:
    """An array parameter whose elements follow ``items``: ``{"type": "array", "items": ...}``."""
    schema = _typed("array", description)
    schema["items"] = _mapping("array items", items)
    return schema


def obj(properties: Mapping[str, Mapping[str, Any]], description: str | None = None) -> JSONSchema:
    """A nested object parameter; fields wrapped in ``optional`` are left out of ``required``."""
    props = _mapping("obj properties", properties)
    for name, schema in props.items():
        _param_name("obj property name", name)
        props[name] = _mapping(f"obj property {name!r}", schema)
    schema = _typed("object", description)
    schema["properties"] = props
    return schema


def optional(schema: Mapping[str, Any]) -> JSONSchema:
    """Mark a parameter as not required (the marker itself is never sent)."""
    return {**_mapping("optional schema", schema), _OPTIONAL: True}


def _clean(schema: Mapping[str, Any]) -> JSONSchema:
    """A parameter schema as sent: markers removed, nested objects and items converted."""
    out = {key: value for key, value in schema.items() if key != _OPTIONAL}
    properties = out.get("properties")
    # Hand-written schemas may use `true`/`false` property schemas: those are sent untouched.
    if (
        out.get("type") == "object"
        and isinstance(properties, Mapping)
        and all(
            isinstance(prop, Mapping) for prop in cast("Mapping[str, object]", properties).values()
        )
    ):
        nested = _object_schema(cast("Mapping[str, Mapping[str, Any]]", properties))
        out["properties"] = nested["properties"]
        # An explicit `required` list in a hand-written schema wins over the derived one.
        if "required" not in schema and nested["required"]:
            out["required"] = nested["required"]
    items = out.get("items")
    if isinstance(items, Mapping):
        out["items"] = _clean(cast("Mapping[str, Any]", items))
    return copy.deepcopy(out)


def _object_schema(params: Mapping[str, Mapping[str, Any]]) -> JSONSchema:
    properties = {name: _clean(schema) for name, schema in params.items()}
    required = [name for name, schema in params.items() if not schema.get(_OPTIONAL)]
    return {"type": "object", "properties": properties, "required": required}


# Tool builders

_B = TypeVar("_B", bound="ToolBuilder")


class ToolBuilder:
    """What every tool builder shares: name, description, display name, params, approval."""

    _kind: ClassVar[ToolType]

    def __init__(self, name: str) -> None:
        self._name = _tool_name("tool name", name)
        self._description = ""
        self._display_name: str | None = None
        self._params: dict[str, JSONSchema] = {}
        self._require_approval = False

    @property
    def name(self) -> str:
        """The name the model calls the tool by."""
        return self._name

    def describe(self: _B, description: str) -> _B:
        """Set the description the model reads to decide when to call the tool."""
        if not isinstance(cast(object, description), str):
            raise _invalid(f"tool {self._name!r} description", description, "a string")
        self._description = description
        return self

    def display(self: _B, name: str) -> _B:
        """Set the name shown to people (defaults to the tool name)."""
        self._display_name = _text(f"tool {self._name!r} display name", name)
        return self

    display_name = display

    def param(self: _B, name: str, schema: Mapping[str, Any]) -> _B:
        """Add a parameter, e.g. ``.param("city", string("City name"))``; names must be unique.

        App, agent and MCP tools take their input schema from their target, so their params are
        checked but not sent.
        """
        field = f"tool {self._name!r} param"
        _param_name(f"{field} name", name)
        if name in self._params:
            raise _invalid(f"{field} name", name, "unique (it was already added)")
        self._params[name] = _mapping(f"{field} {name!r} schema", schema)
        return self

    def require_approval(self: _B, enabled: bool = True) -> _B:
        """Ask a person to approve each call before it runs."""
        self._require_approval = _flag(f"tool {self._name!r} require_approval", enabled)
        return self

    def input_schema(self) -> JSONSchema:
        """The params as a JSON Schema object, in the order they were added."""
        return _object_schema(self._params)

    def _config(self) -> BaseModel:
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        return {
            "name": self._name,
            "display_name": self._display_name or self._name,
            "description": self._description,
            "type": self._kind,
            "require_approval": self._require_approval,
            self._kind.value: self._config(),
        }

    def build(self) -> AgentTool:
        """The tool as the generated ``AgentTool`` model."""
        return AgentTool.model_validate(self._fields())

    def to_dict(self) -> dict[str, Any]:
        """The tool's wire JSON."""
        return _dump(self.build())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


class ClientTool(AgentTool):
    """A built client tool: the generated ``AgentTool`` (same wire JSON) that keeps its handler.

    ``tool("t").handler(fn).build()`` returns one, so the handler runs when the tool is put into
    an agent's ``tools``; the handler is never sent.
    """

    _handler: ToolHandler | None = PrivateAttr(default=None)

    @classmethod
    def with_handler(cls, fields: Mapping[str, Any], handler: ToolHandler | None) -> ClientTool:
        """The tool of these wire fields, running ``handler`` for each call."""
        built = cls.model_validate(dict(fields))
        built._handler = handler
        return built

    def get_handler(self) -> ToolHandler | None:
        """The handler given to the builder's ``handler()``, if any."""
        return self._handler


class ClientToolBuilder(ToolBuilder):
    """A tool that runs in your process: the agent waits for its result."""

    _kind = ToolType.CLIENT

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._handler: ToolHandler | None = None

    def handler(self, fn: ToolHandler) -> ClientToolBuilder:
        """Run ``fn(arguments)`` (sync or async) for each call; it is never sent."""
        if not callable(fn):
            raise _invalid(f"tool {self._name!r} handler", fn, "a callable")
        self._handler = fn
        return self

    def get_handler(self) -> ToolHandler | None:
        """The handler given to ``handler()``, if any."""
        return self._handler

    def build(self) -> ClientTool:
        """The tool as a ``ClientTool``: the generated ``AgentTool`` with its handler kept."""
        return ClientTool.with_handler(self._fields(), self._handler)

    def _config(self) -> BaseModel:
        return ClientToolConfig(input_schema=self.input_schema())


class AppToolBuilder(ToolBuilder):
    """A tool that runs an inference.sh app; the app's own schema is what the model sees."""

    _kind = ToolType.APP

    def __init__(self, name: str, app_ref: str) -> None:
        super().__init__(name)
        self._ref = _text(f"app_tool {name!r} app_ref", app_ref)
        self._function: str | None = None
        self._session_enabled = False
        self._setup: dict[str, Any] = {}
        self._input: dict[str, Any] = {}

    def function(self, name: str) -> AppToolBuilder:
        """Call this function of a multi-function app."""
        self._function = _text(f"app_tool {self._name!r} function", name)
        return self

    def session_enabled(self, enabled: bool = True) -> AppToolBuilder:
        """Let the agent keep the app warm in a session across calls."""
        self._session_enabled = _flag(f"app_tool {self._name!r} session_enabled", enabled)
        return self

    def setup(self, values: Mapping[str, Any]) -> AppToolBuilder:
        """Setup values passed on every call, hidden from the model."""
        self._setup = _mapping(f"app_tool {self._name!r} setup", values, "a dict")
        return self

    def input(self, values: Mapping[str, Any]) -> AppToolBuilder:
        """Default input values; the model may override them."""
        self._input = _mapping(f"app_tool {self._name!r} input", values, "a dict")
        return self

    def _config(self) -> BaseModel:
        config: dict[str, Any] = {"ref": self._ref}
        if self._function is not None:
            config["function"] = self._function
        if self._session_enabled:
            config["session_enabled"] = True
        if self._setup:
            config["setup"] = copy.deepcopy(self._setup)
        if self._input:
            config["input"] = copy.deepcopy(self._input)
        return AppToolConfig.model_validate(config)


class AgentToolBuilder(ToolBuilder):
    """A tool that delegates to another agent (a sub-agent)."""

    _kind = ToolType.AGENT

    def __init__(self, name: str, agent_ref: str) -> None:
        super().__init__(name)
        self._ref = _text(f"agent_tool {name!r} agent_ref", agent_ref)

    def _config(self) -> BaseModel:
        return AgentToolConfig(ref=self._ref)


class HTTPToolBuilder(ToolBuilder):
    """A tool the server runs as an HTTP request, with secrets injected from the vault."""

    _kind = ToolType.HTTP

    def __init__(self, name: str, url: str) -> None:
        super().__init__(name)
        self._url = _url(f"http_tool {name!r} url", url)
        self._method = "POST"
        self._auth: ToolAuthConfig | None = None
        self._headers: dict[str, str] = {}

    def method(self, method: str) -> HTTPToolBuilder:
        """The HTTP method: GET, POST (the default), PUT, PATCH or DELETE."""
        field = f"http_tool {self._name!r} method"
        if not isinstance(cast(object, method), str) or method.upper() not in _HTTP_METHODS:
            raise _invalid(field, method, f"one of {', '.join(_HTTP_METHODS)}")
        self._method = method.upper()
        return self

    def auth(
        self,
        *,
        bearer: str | None = None,
        api_key: str | None = None,
        header: str | None = None,
        credential: str | None = None,
    ) -> HTTPToolBuilder:
        """Authenticate each request with exactly one of these.

        ``bearer`` / ``api_key`` name a vault secret (not its value) sent as a bearer token or
        in ``header`` (default ``X-API-Key``); ``credential`` names a provider whose access token
        of the runner's own login is sent.
        """
        field = f"http_tool {self._name!r} auth"
        given = {k: v for k, v in [("bearer", bearer), ("api_key", api_key)] if v is not None}
        if credential is not None:
            given["credential"] = credential
        if len(given) != 1:
            raise _invalid(field, given, "exactly one of bearer=, api_key=, credential=")
        if header is not None and api_key is None:
            raise _invalid(f"{field} header", header, "given only with api_key=")
        kind, value = next(iter(given.items()))
        name = _text(f"{field} {kind}", value)
        if api_key is not None:
            header = _header_name(f"{field} header", header or "X-API-Key")
            self._auth = ToolAuthConfig(type=ToolAuthType.API_KEY, secret=name, header=header)
        elif bearer is not None:
            self._auth = ToolAuthConfig(type=ToolAuthType.BEARER, secret=name)
        else:
            self._auth = ToolAuthConfig(type=ToolAuthType.CREDENTIAL, provider=name)
        return self

    def header(self, name: str, value: str) -> HTTPToolBuilder:
        """Add a static header; values may hold ``${{secrets.NAME}}`` and ``{{context.KEY}}``."""
        field = f"http_tool {self._name!r} header"
        _header_name(f"{field} name", name)
        if name.lower() in (existing.lower() for existing in self._headers):
            raise _invalid(f"{field} name", name, "unique (it was already added)")
        if not isinstance(cast(object, value), str) or "\r" in value or "\n" in value:
            raise _invalid(f"{field} {name!r} value", value, "a string without line breaks")
        self._headers[name] = value
        return self

    def _config(self) -> BaseModel:
        config: dict[str, Any] = {"url": self._url}
        # Both official SDKs leave the method out for POST, the server's default.
        if self._method != "POST":
            config["method"] = self._method
        if self._auth is not None:
            config["auth"] = self._auth.model_copy()
        if self._headers:
            config["headers"] = dict(self._headers)
        config["input_schema"] = self.input_schema()
        return HTTPToolConfig.model_validate(config)


def _header_name(field: str, value: object) -> str:
    if not isinstance(value, str) or _HEADER_NAME.fullmatch(value) is None:
        raise _invalid(field, value, "an HTTP header name")
    return value


class WebhookToolBuilder(ToolBuilder):
    """A tool that posts its arguments to a URL (legacy: prefer ``http_tool``)."""

    _kind = ToolType.HOOK

    def __init__(self, name: str, url: str) -> None:
        super().__init__(name)
        self._url = _url(f"webhook_tool {name!r} url", url)
        self._secret: str | None = None

    def secret(self, value: str) -> WebhookToolBuilder:
        """The value the server sends in the ``X-Hook-Secret`` header."""
        # The value is a secret: the error must not echo it.
        if not isinstance(cast(object, value), str) or not value.strip():
            raise InvalidInputError(
                f"webhook_tool {self._name!r} secret must be a non-empty string"
            )
        self._secret = value
        return self

    def _config(self) -> BaseModel:
        config: dict[str, Any] = {"url": self._url}
        if self._secret is not None:
            config["secret"] = self._secret
        config["input_schema"] = self.input_schema()
        return HookToolConfig.model_validate(config)


class MCPToolBuilder(ToolBuilder):
    """A tool of an MCP server connected to the workspace."""

    _kind = ToolType.MCP

    def __init__(
        self,
        name: str,
        integration_id: str | None = None,
        tool_name: str | None = None,
        *,
        server: str | None = None,
    ) -> None:
        super().__init__(name)
        field = f"mcp_tool {name!r}"
        if (integration_id is None) == (server is None):
            given = {"integration_id": integration_id, "server": server}
            raise _invalid(field, given, "given exactly one of integration_id or server=")
        self._integration_id: str | None = None
        self._server: str | None = None
        if integration_id is not None:
            self._integration_id = _text(f"{field} integration_id", integration_id)
        if server is not None:
            self._server = _text(f"{field} server", server)
        self._tool_name = _text(f"{field} tool_name", tool_name)

    def _config(self) -> BaseModel:
        config = {"integration_id": self._integration_id, "server": self._server}
        config = {key: value for key, value in config.items() if value is not None}
        return MCPToolConfig.model_validate({**config, "tool_name": self._tool_name})


def tool(name: str) -> ClientToolBuilder:
    """A client tool: its ``handler`` runs in your process."""
    return ClientToolBuilder(name)


def app_tool(name: str, app_ref: str) -> AppToolBuilder:
    """A tool that runs the app ``app_ref`` (e.g. ``"infsh/flux-schnell@latest"``)."""
    return AppToolBuilder(name, app_ref)


def agent_tool(name: str, agent_ref: str) -> AgentToolBuilder:
    """A tool that hands a task to the agent ``agent_ref``."""
    return AgentToolBuilder(name, agent_ref)


def http_tool(name: str, url: str) -> HTTPToolBuilder:
    """A tool the server runs as an HTTP request to ``url`` (``{{context.KEY}}`` allowed)."""
    return HTTPToolBuilder(name, url)


call_tool = http_tool


def webhook_tool(name: str, url: str) -> WebhookToolBuilder:
    """A tool that posts its arguments to ``url`` (legacy: prefer ``http_tool``)."""
    return WebhookToolBuilder(name, url)


def mcp_tool(
    name: str,
    integration_id: str | None = None,
    tool_name: str | None = None,
    *,
    server: str | None = None,
) -> MCPToolBuilder:
    """The tool ``tool_name`` of an MCP server: ``mcp_tool(name, integration_id, tool_name)``
    or ``mcp_tool(name, server="slug", tool_name=...)``."""
    return MCPToolBuilder(name, integration_id, tool_name, server=server)


# Internal tools


class InternalToolsBuilder:
    """Which built-in tools an agent gets; ``build()`` gives ``agent_config.internal_tools``."""

    def __init__(self) -> None:
        self._flags: dict[str, bool] = {}

    def _set(self, key: str, enabled: bool) -> InternalToolsBuilder:
        self._flags[key] = _flag(f"internal_tools {key}", enabled)
        return self

    def plan(self, enabled: bool = True) -> InternalToolsBuilder:
        """Plan tools: create, update and load a plan."""
        return self._set("plan", enabled)

    def memory(self, enabled: bool = True) -> InternalToolsBuilder:
        """Memory tools: set, get and list remembered values."""
        return self._set("memory", enabled)

    def widget(self, enabled: bool = True) -> InternalToolsBuilder:
        """UI and HTML widgets (top-level agents)."""
        return self._set("widget", enabled)

    def finish(self, enabled: bool = True) -> InternalToolsBuilder:
        """The finish tool whose result becomes ``chat.output`` (sub-agents)."""
        return self._set("finish", enabled)

    def skills(self, enabled: bool = True) -> InternalToolsBuilder:
        """``skill_get`` for the agent's skills (on by default on the server)."""
        return self._set("skills", enabled)

    def meta(self, enabled: bool = True) -> InternalToolsBuilder:
        """Tools to search, list and run the agent's other tools."""
        return self._set("meta", enabled)

    def artifact(self, enabled: bool = True) -> InternalToolsBuilder:
        """Publish shareable HTML or Markdown pages."""
        return self._set("artifact", enabled)

    def agent(self, enabled: bool = True) -> InternalToolsBuilder:
        """Run a copy of this agent on a side task."""
        return self._set("agent", enabled)

    def remote(self, enabled: bool = True) -> InternalToolsBuilder:
        """Run commands on the user's connected remotes."""
        return self._set("remote", enabled)

    def knowledge(self, enabled: bool = True) -> InternalToolsBuilder:
        """Search, read, save and delete the user's skills and knowledge entries."""
        return self._set("knowledge", enabled)

    def wait(self, enabled: bool = True) -> InternalToolsBuilder:
        """Let the agent pause its run until a later time or event."""
        return self._set("wait", enabled)

    def all(self) -> InternalToolsBuilder:
        """Turn plan, memory, widget and finish on."""
        for key in ("plan", "memory", "widget", "finish"):
            self._set(key, True)
        return self

    def none(self) -> InternalToolsBuilder:
        """Turn plan, memory, widget and finish off."""
        for key in ("plan", "memory", "widget", "finish"):
            self._set(key, False)
        return self

    def build(self) -> InternalToolsConfig:
        """The generated ``InternalToolsConfig``, with only the capabilities set here."""
        return InternalToolsConfig.model_validate(self._flags)

    def to_dict(self) -> dict[str, Any]:
        """The wire JSON."""
        return _dump(self.build())

    def __repr__(self) -> str:
        return f"InternalToolsBuilder({self._flags!r})"


def internal_tools() -> InternalToolsBuilder:
    """Choose the built-in tools of an agent: ``internal_tools().plan().memory().build()``."""
    return InternalToolsBuilder()


# Normalising what users put into an agent's `tools`

ToolLike: TypeAlias = "ToolBuilder | AgentTool | Mapping[str, Any]"
"""A tool as users pass it: a builder, a built ``AgentTool``, or its JSON dict.

The dict ``{"schema": <tool>, "handler": fn}`` that other SDKs' ``.handler()`` return is
accepted too.
"""


def _bundle(value: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """The (schema, handler) of a ``{"schema", "handler"}`` dict, else None."""
    if set(value) == {"schema", "handler"}:
        return value["schema"], value["handler"]
    return None


def as_agent_tool(value: ToolLike) -> AgentTool:
    """The generated ``AgentTool`` for a builder, a built tool or a tool dict; names checked."""
    if isinstance(value, ToolBuilder):
        return value.build()
    if isinstance(value, AgentTool):
        built = value
    elif isinstance(cast(object, value), Mapping):
        bundle = _bundle(value)
        if bundle is not None:
            return as_agent_tool(cast("ToolLike", bundle[0]))
        built = AgentTool.model_validate(dict(value))
    else:
        raise _invalid("tool", value, "a tool builder, an AgentTool or a tool dict")
    _tool_name("tool name", built.name)
    return built


def tool_handler(value: ToolLike) -> ToolHandler | None:
    """The handler of a client tool builder, a built ``ClientTool`` or a ``{"schema",
    "handler"}`` dict, else None."""
    if isinstance(value, (ClientToolBuilder, ClientTool)):
        return value.get_handler()
    if isinstance(cast(object, value), Mapping) and not isinstance(value, BaseModel):
        bundle = _bundle(cast("Mapping[str, Any]", value))
        if bundle is not None and callable(bundle[1]):
            return cast("ToolHandler", bundle[1])
    return None


def split_tools(tools: Iterable[ToolLike]) -> tuple[list[AgentTool], dict[str, ToolHandler]]:
    """The wire tools and a ``name -> handler`` map of the client tools; names must be unique."""
    built: list[AgentTool] = []
    handlers: dict[str, ToolHandler] = {}
    seen: set[str] = set()
    for value in tools:
        agent_tool_ = as_agent_tool(value)
        name = cast(str, agent_tool_.name)
        if name in seen:
            raise _invalid("tools", name, "tools with unique names (this name is repeated)")
        seen.add(name)
        built.append(agent_tool_)
        handler = tool_handler(value)
        if handler is not None:
            handlers[name] = handler
    return built, handlers


def as_internal_tools(
    value: InternalToolsBuilder | InternalToolsConfig | Mapping[str, Any],
) -> InternalToolsConfig:
    """The generated ``InternalToolsConfig`` for a builder, a model or its dict."""
    if isinstance(value, InternalToolsBuilder):
        return value.build()
    if isinstance(value, InternalToolsConfig):
        return value
    if isinstance(cast(object, value), Mapping):
        return InternalToolsConfig.model_validate(dict(value))
    raise _invalid("internal_tools", value, "internal_tools() or an InternalToolsConfig dict")


def tool_result_text(value: object) -> str:
    """A handler's return value as the result string sent to the server (JSON unless a str)."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json(by_alias=True, exclude_unset=True)
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        kind = type(value).__name__
        raise InvalidInputError(
            f"tool result must be a string or JSON-serialisable, got a {kind}: {exc}"
        ) from exc


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)
