"""Typed client for the inference.sh API.

Names are imported lazily: ``import inferencesh`` loads neither the generated models, the
app-authoring layer nor the local runtime until one of their names is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "TaskStatus": "inferencesh._generated.models",
    "AsyncInference": "inferencesh._client",
    "Inference": "inferencesh._client",
    "async_inference": "inferencesh._client",
    "inference": "inferencesh._client",
    "APIConnectionError": "inferencesh._errors",
    "APIError": "inferencesh._errors",
    "APITimeoutError": "inferencesh._errors",
    "AuthenticationError": "inferencesh._errors",
    "BadRequestError": "inferencesh._errors",
    "ConflictError": "inferencesh._errors",
    "FileUploadError": "inferencesh._errors",
    "GoneError": "inferencesh._errors",
    "InferenceError": "inferencesh._errors",
    "InternalServerError": "inferencesh._errors",
    "InvalidInputError": "inferencesh._errors",
    "InvalidResponseError": "inferencesh._errors",
    "MissingAPIKeyError": "inferencesh._errors",
    "NotFoundError": "inferencesh._errors",
    "PermissionDeniedError": "inferencesh._errors",
    "RateLimitError": "inferencesh._errors",
    "RateLimitInfo": "inferencesh._errors",
    "RequirementsNotMetError": "inferencesh._errors",
    "SessionEndedError": "inferencesh._errors",
    "SessionError": "inferencesh._errors",
    "SessionExpiredError": "inferencesh._errors",
    "SessionNotFoundError": "inferencesh._errors",
    "TaskFailedError": "inferencesh._errors",
    "TaskStreamError": "inferencesh._errors",
    "UnprocessableEntityError": "inferencesh._errors",
    "WaitTimeoutError": "inferencesh._errors",
    "is_message_ready": "inferencesh._status",
    "is_terminal_status": "inferencesh._status",
    "parse_status": "inferencesh._status",
    "decode_log": "inferencesh._task_logs",
    "log_text": "inferencesh._task_logs",
    "UploadFileOptions": "inferencesh.files",
    "APIResponse": "inferencesh._runtime.response",
    "AsyncPage": "inferencesh._runtime.pagination",
    "AsyncPager": "inferencesh._runtime.pagination",
    "RequestOptions": "inferencesh._runtime.request",
    "SyncPage": "inferencesh._runtime.pagination",
    "Agent": "inferencesh.agents",
    "AgentDelta": "inferencesh.agents",
    "AgentRunError": "inferencesh.agents",
    "AsyncAgent": "inferencesh.agents",
    "ChatStreamError": "inferencesh.agents",
    "OutputValidationError": "inferencesh.agents",
    "SignInRequiredError": "inferencesh.agents",
    "ToolCallInfo": "inferencesh.agents",
    "AsyncTaskStream": "inferencesh.tasks",
    "TaskStream": "inferencesh.tasks",
    "AsyncSession": "inferencesh.sessions",
    "Session": "inferencesh.sessions",
    "BaseApp": "inferencesh.app",
    "BaseAppInput": "inferencesh.app",
    "BaseAppOutput": "inferencesh.app",
    "BaseAppSetup": "inferencesh.app",
    "File": "inferencesh.app",
    "Metadata": "inferencesh.app",
    "AgentTool": "inferencesh._generated.models",
    "Tool": "inferencesh._generated.models",
    "ToolCall": "inferencesh._generated.models",
    "ToolParameters": "inferencesh._generated.models",
    "AgentConfig": "inferencesh.tool_builder",
    "agent_tool": "inferencesh.tool_builder",
    "app_tool": "inferencesh.tool_builder",
    "array": "inferencesh.tool_builder",
    "as_agent_tool": "inferencesh.tool_builder",
    "boolean": "inferencesh.tool_builder",
    "call_tool": "inferencesh.tool_builder",
    "enum_of": "inferencesh.tool_builder",
    "http_tool": "inferencesh.tool_builder",
    "integer": "inferencesh.tool_builder",
    "internal_tools": "inferencesh.tool_builder",
    "mcp_tool": "inferencesh.tool_builder",
    "number": "inferencesh.tool_builder",
    "obj": "inferencesh.tool_builder",
    "optional": "inferencesh.tool_builder",
    "string": "inferencesh.tool_builder",
    "tool": "inferencesh.tool_builder",
    "tool_handler": "inferencesh.tool_builder",
    "webhook_tool": "inferencesh.tool_builder",
}

if TYPE_CHECKING:
    from inferencesh._client import AsyncInference as AsyncInference
    from inferencesh._client import Inference as Inference
    from inferencesh._client import async_inference as async_inference
    from inferencesh._client import inference as inference
    from inferencesh._errors import APIConnectionError as APIConnectionError
    from inferencesh._errors import APIError as APIError
    from inferencesh._errors import APITimeoutError as APITimeoutError
    from inferencesh._errors import AuthenticationError as AuthenticationError
    from inferencesh._errors import BadRequestError as BadRequestError
    from inferencesh._errors import ConflictError as ConflictError
    from inferencesh._errors import FileUploadError as FileUploadError
    from inferencesh._errors import GoneError as GoneError
    from inferencesh._errors import InferenceError as InferenceError
    from inferencesh._errors import InternalServerError as InternalServerError
    from inferencesh._errors import InvalidInputError as InvalidInputError
    from inferencesh._errors import InvalidResponseError as InvalidResponseError
    from inferencesh._errors import MissingAPIKeyError as MissingAPIKeyError
    from inferencesh._errors import NotFoundError as NotFoundError
    from inferencesh._errors import PermissionDeniedError as PermissionDeniedError
    from inferencesh._errors import RateLimitError as RateLimitError
    from inferencesh._errors import RateLimitInfo as RateLimitInfo
    from inferencesh._errors import RequirementsNotMetError as RequirementsNotMetError
    from inferencesh._errors import SessionEndedError as SessionEndedError
    from inferencesh._errors import SessionError as SessionError
    from inferencesh._errors import SessionExpiredError as SessionExpiredError
    from inferencesh._errors import SessionNotFoundError as SessionNotFoundError
    from inferencesh._errors import TaskFailedError as TaskFailedError
    from inferencesh._errors import TaskStreamError as TaskStreamError
    from inferencesh._errors import UnprocessableEntityError as UnprocessableEntityError
    from inferencesh._errors import WaitTimeoutError as WaitTimeoutError
    from inferencesh._generated.models import AgentTool as AgentTool
    from inferencesh._generated.models import TaskStatus as TaskStatus
    from inferencesh._generated.models import Tool as Tool
    from inferencesh._generated.models import ToolCall as ToolCall
    from inferencesh._generated.models import ToolParameters as ToolParameters
    from inferencesh._runtime.pagination import AsyncPage as AsyncPage
    from inferencesh._runtime.pagination import AsyncPager as AsyncPager
    from inferencesh._runtime.pagination import SyncPage as SyncPage
    from inferencesh._runtime.request import RequestOptions as RequestOptions
    from inferencesh._runtime.response import APIResponse as APIResponse
    from inferencesh._status import is_message_ready as is_message_ready
    from inferencesh._status import is_terminal_status as is_terminal_status
    from inferencesh._status import parse_status as parse_status
    from inferencesh._task_logs import decode_log as decode_log
    from inferencesh._task_logs import log_text as log_text
    from inferencesh.agents import Agent as Agent
    from inferencesh.agents import AgentDelta as AgentDelta
    from inferencesh.agents import AgentRunError as AgentRunError
    from inferencesh.agents import AsyncAgent as AsyncAgent
    from inferencesh.agents import ChatStreamError as ChatStreamError
    from inferencesh.agents import OutputValidationError as OutputValidationError
    from inferencesh.agents import SignInRequiredError as SignInRequiredError
    from inferencesh.agents import ToolCallInfo as ToolCallInfo
    from inferencesh.app import BaseApp as BaseApp
    from inferencesh.app import BaseAppInput as BaseAppInput
    from inferencesh.app import BaseAppOutput as BaseAppOutput
    from inferencesh.app import BaseAppSetup as BaseAppSetup
    from inferencesh.app import File as File
    from inferencesh.app import Metadata as Metadata
    from inferencesh.files import UploadFileOptions as UploadFileOptions
    from inferencesh.sessions import AsyncSession as AsyncSession
    from inferencesh.sessions import Session as Session
    from inferencesh.tasks import AsyncTaskStream as AsyncTaskStream
    from inferencesh.tasks import TaskStream as TaskStream
    from inferencesh.tool_builder import AgentConfig as AgentConfig
    from inferencesh.tool_builder import agent_tool as agent_tool
    from inferencesh.tool_builder import app_tool as app_tool
    from inferencesh.tool_builder import array as array
    from inferencesh.tool_builder import as_agent_tool as as_agent_tool
    from inferencesh.tool_builder import boolean as boolean
    from inferencesh.tool_builder import call_tool as call_tool
    from inferencesh.tool_builder import enum_of as enum_of
    from inferencesh.tool_builder import http_tool as http_tool
    from inferencesh.tool_builder import integer as integer
    from inferencesh.tool_builder import internal_tools as internal_tools
    from inferencesh.tool_builder import mcp_tool as mcp_tool
    from inferencesh.tool_builder import number as number
    from inferencesh.tool_builder import obj as obj
    from inferencesh.tool_builder import optional as optional
    from inferencesh.tool_builder import string as string
    from inferencesh.tool_builder import tool as tool
    from inferencesh.tool_builder import tool_handler as tool_handler
    from inferencesh.tool_builder import webhook_tool as webhook_tool

# kept equal to the names above by tests/test_package.py
__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APITimeoutError",
    "Agent",
    "AgentConfig",
    "AgentDelta",
    "AgentRunError",
    "AgentTool",
    "AsyncAgent",
    "AsyncInference",
    "AsyncPage",
    "AsyncPager",
    "AsyncSession",
    "AsyncTaskStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseApp",
    "BaseAppInput",
    "BaseAppOutput",
    "BaseAppSetup",
    "ChatStreamError",
    "ConflictError",
    "File",
    "FileUploadError",
    "GoneError",
    "Inference",
    "InferenceError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidResponseError",
    "Metadata",
    "MissingAPIKeyError",
    "NotFoundError",
    "OutputValidationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitInfo",
    "RequestOptions",
    "RequirementsNotMetError",
    "Session",
    "SessionEndedError",
    "SessionError",
    "SessionExpiredError",
    "SessionNotFoundError",
    "SignInRequiredError",
    "SyncPage",
    "TaskFailedError",
    "TaskStatus",
    "TaskStream",
    "TaskStreamError",
    "Tool",
    "ToolCall",
    "ToolCallInfo",
    "ToolParameters",
    "UnprocessableEntityError",
    "UploadFileOptions",
    "WaitTimeoutError",
    "__version__",
    "agent_tool",
    "app_tool",
    "array",
    "as_agent_tool",
    "async_inference",
    "boolean",
    "call_tool",
    "decode_log",
    "enum_of",
    "http_tool",
    "inference",
    "integer",
    "internal_tools",
    "is_message_ready",
    "is_terminal_status",
    "log_text",
    "mcp_tool",
    "number",
    "obj",
    "optional",
    "parse_status",
    "string",
    "tool",
    "tool_handler",
    "webhook_tool",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inferencesh' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
