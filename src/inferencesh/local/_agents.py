"""Agents on the local runtime: template agents, chats, and the runs that fill them."""

from __future__ import annotations

from inferencesh.local._agent_runs import AgentRuns
from inferencesh.local._agent_templates import Templates
from inferencesh.local._agent_tools import ToolRunner
from inferencesh.local._chats import Chats
from inferencesh.local._engine import Engine

__all__ = ["Agents"]


class Agents:
    """Template agents, chats and agent runs of one runtime, on the engine's event loop."""

    def __init__(self, engine: Engine) -> None:
        self.templates = Templates()
        self.chats = Chats(engine.store)
        self.chats.recover()
        tools = ToolRunner(engine.tasks, engine.config.secrets)
        self.runs = AgentRuns(self.templates, self.chats, tools, engine.config)

    async def close(self) -> None:
        """Stop every turn and end every stream."""
        await self.chats.close()
