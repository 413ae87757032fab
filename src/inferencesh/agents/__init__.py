"""Agents: chat with a template or ad-hoc agent, execute client tools, get structured output.

``client.agent("my-org/assistant@abc123")`` (or an ad-hoc config dict) returns an
:class:`Agent`; the async client returns an :class:`AsyncAgent` with the same methods::

    agent = client.agent({"core_app": {"ref": "infsh/claude-sonnet-4@abc123"}, "tools": [weather]})
    reply = agent.send_message("What's the weather in Paris?")
"""

from __future__ import annotations

from inferencesh.agents._agent import (
    Agent,
    Agents,
    AgentSpec,
    AsyncAgent,
    AsyncAgents,
    FileInput,
)
from inferencesh.agents._types import (
    AgentDelta,
    AgentRunError,
    ChatStreamError,
    OutputValidationError,
    SignInRequiredError,
    ToolCallInfo,
)

__all__ = [
    "Agent",
    "AgentDelta",
    "AgentRunError",
    "AgentSpec",
    "Agents",
    "AsyncAgent",
    "AsyncAgents",
    "ChatStreamError",
    "FileInput",
    "OutputValidationError",
    "SignInRequiredError",
    "ToolCallInfo",
]
