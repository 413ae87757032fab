"""Template agents: configs stored under ``namespace/name`` that chats are started from."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from inferencesh._generated.models import (
    AgentConfigInput,
    AgentDTO,
    AgentTool,
    CreateAgentRequest,
    ToolType,
)
from inferencesh.local._errors import ApiError
from inferencesh.local._records import header, parse, stable_id, validation_detail
from inferencesh.local._registry import DEFAULT_NAMESPACE

__all__ = [
    "Template",
    "Templates",
    "check_config",
    "finishes",
    "load_templates",
    "templates_from",
    "tool_type",
]

_TOOL_KEYS = ("client", "app", "http", "call", "hook", "agent", "mcp", "internal")
_AGENT_REF = re.compile(r"^(?P<ns>[A-Za-z0-9][\w.-]*)/(?P<name>[A-Za-z0-9][\w.-]*)(@[\w.-]+)?$")


def tool_type(tool: AgentTool) -> ToolType:
    """The tool's type, or the one its config block implies."""
    if tool.type is not None:
        return tool.type
    for key in _TOOL_KEYS:
        if getattr(tool, key) is not None:
            return ToolType(key)
    return ToolType.CLIENT


def check_config(config: AgentConfigInput) -> list[AgentTool]:
    """The config's tools, each named once and typed; 400 otherwise."""
    tools: list[AgentTool] = []
    seen: set[str] = set()
    for index, tool in enumerate(config.tools or []):
        if tool is None:
            continue
        if not tool.name:
            raise ApiError(400, "validation_error", f"agent_config.tools.{index}.name: required")
        if tool.name in seen:
            raise ApiError(400, "validation_error", f"tool {tool.name!r} is defined twice")
        seen.add(tool.name)
        tool.type = tool_type(tool)
        tools.append(tool)
    return tools


def finishes(config: AgentConfigInput) -> bool:
    """Whether the agent ends each turn with the ``finish`` tool."""
    internal = config.internal_tools
    return config.output_schema is not None or bool(internal is not None and internal.finish)


def load_templates(source: Any) -> list[tuple[str, AgentConfigInput]]:
    """Template agents from a YAML/JSON file path or a mapping ``{"ns/name": AgentConfig}``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(cast("str | os.PathLike[str]", source))
        text = path.read_text()
        if path.suffix == ".json":
            loaded: Any = json.loads(text)
        else:
            import yaml  # type: ignore[import-untyped]

            loaded = yaml.safe_load(text) or {}
    else:
        loaded = source
    if not isinstance(loaded, Mapping):
        raise ValueError("an agents file maps 'namespace/name' to an agent config")
    table: Mapping[Any, Any] = loaded  # pyright: ignore[reportUnknownVariableType]
    templates: list[tuple[str, AgentConfigInput]] = []
    for ref, raw in table.items():
        name = str(ref) if "/" in str(ref) else f"{DEFAULT_NAMESPACE}/{ref}"
        if not _AGENT_REF.match(name):
            raise ValueError(f"an agent ref is 'namespace/name', not {ref!r}")
        config = raw if isinstance(raw, AgentConfigInput) else AgentConfigInput.model_validate(raw)
        templates.append((name.split("@", 1)[0], config))
    return templates


def templates_from(sources: Iterable[Any]) -> list[tuple[str, AgentConfigInput]]:
    """Templates from several files or mappings, in order (a later one replaces an earlier)."""
    found: list[tuple[str, AgentConfigInput]] = []
    for source in sources:
        found += load_templates(source)
    return found


@dataclass
class Template:
    """A stored agent: its record and its config."""

    dto: AgentDTO
    config: AgentConfigInput


class Templates:
    """The template agents of one runtime, in memory."""

    def __init__(self) -> None:
        self.agents: dict[str, Template] = {}

    def add(self, ref: str, config: AgentConfigInput, *, title: str | None = None) -> AgentDTO:
        """Register (or replace) a template agent ``namespace/name``."""
        tools = check_config(config)
        namespace, name = ref.split("/", 1)
        agent_id = stable_id("agent_", ref)
        body = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        body.pop("name", None)
        version_id = stable_id("agv_", ref + json.dumps(body, sort_keys=True))
        try:
            version = {
                **body,
                **header(version_id),
                "description": config.description or "",
                "example_prompts": config.example_prompts or [],
                "skills": body.get("skills") or [],
                "system_prompt": config.system_prompt or "",
                "tools": [
                    {"description": "", **tool.model_dump(mode="json", exclude_none=True)}
                    for tool in tools
                ],
            }
            dto = AgentDTO.model_validate(
                {
                    **header(agent_id),
                    "images": {},
                    "name": name,
                    "namespace": namespace,
                    "title": title or config.name or name,
                    "version_id": version_id,
                    "version": version,
                }
            )
        except ValidationError as exc:
            raise ApiError(400, "validation_error", validation_detail(exc)) from None
        self.agents[ref] = Template(dto, config)
        return dto

    def create(self, body: Any) -> AgentDTO:
        """``POST /agents``: store a template agent from a ``CreateAgentRequest``."""
        request = parse(CreateAgentRequest, body)
        if not request.name:
            raise ApiError(400, "validation_error", "name: required")
        ref = f"{request.namespace or DEFAULT_NAMESPACE}/{request.name}"
        if not _AGENT_REF.match(ref):
            raise ApiError(400, "validation_error", f"name: {request.name!r} is not a valid name")
        return self.add(ref, request.version or AgentConfigInput(), title=request.title)

    def find(self, ref: str) -> Template:
        """The template for ``namespace/name[@version]``; 404 when there is none."""
        agent = self.agents.get(ref.split("@", 1)[0])
        if agent is None:
            raise ApiError(404, "not_found", f"Agent not found: {ref}")
        return agent

    def get(self, namespace: str, name: str) -> AgentDTO:
        """A template agent by ``namespace/name``."""
        return self.find(f"{namespace}/{name}").dto

    def get_by_id(self, agent_id: str) -> AgentDTO:
        """A template agent by id."""
        for agent in self.agents.values():
            if agent.dto.id == agent_id:
                return agent.dto
        raise ApiError(404, "not_found", f"Agent not found: {agent_id}")

    def find_by_id(self, agent_id: str) -> Template:
        """The template with this id; 404 when there is none."""
        dto = self.get_by_id(agent_id)
        return self.agents[f"{dto.namespace}/{dto.name}"]

    def delete(self, agent_id: str) -> None:
        """``DELETE /agents/{id}``: forget a template agent (its chats go on)."""
        dto = self.get_by_id(agent_id)
        del self.agents[f"{dto.namespace}/{dto.name}"]
