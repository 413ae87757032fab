"""Typed client for the inference.sh API.

Names are imported lazily: ``import inferencesh`` loads neither the generated models, the
app-authoring layer nor the local runtime until one of their names is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inferencesh._httpx_cli import httpx_cli_deferred

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "TaskStatus": "inferencesh._generated.models",
    "AsyncInference": "inferencesh._async.client",
    "Inference": "inferencesh._generated.sync.client",
    "async_inference": "inferencesh._async.client",
    "inference": "inferencesh._generated.sync.client",
    "APIConnectionError": "inferencesh._errors",
    "APIError": "inferencesh._errors",
    "APITimeoutError": "inferencesh._errors",
    "AuthenticationError": "inferencesh._errors",
    "BadRequestError": "inferencesh._errors",
    "ConflictError": "inferencesh._errors",
    "FileTooLargeError": "inferencesh._errors",
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
    "UploadFileOptions": "inferencesh._files",
    "decode_log": "inferencesh._task_logs",
    "log_text": "inferencesh._task_logs",
    "APIResponse": "inferencesh._runtime.response",
    "AsyncPage": "inferencesh._runtime.pagination",
    "AsyncPager": "inferencesh._runtime.pagination",
    "RequestOptions": "inferencesh._runtime.request",
    "SyncPage": "inferencesh._runtime.pagination",
    "Agent": "inferencesh._generated.sync.agent",
    "AgentDelta": "inferencesh._agents._types",
    "AgentRunError": "inferencesh._errors",
    "AsyncAgent": "inferencesh._async.agent",
    "ChatStreamError": "inferencesh._errors",
    "OutputValidationError": "inferencesh._errors",
    "SignInRequiredError": "inferencesh._errors",
    "ToolCallInfo": "inferencesh._agents._types",
    "AsyncTaskStream": "inferencesh._async.tasks",
    "TaskStream": "inferencesh._generated.sync.tasks",
    "TaskDelta": "inferencesh._callbacks",
    "AsyncSession": "inferencesh._async.sessions",
    "Session": "inferencesh._generated.sync.sessions",
    "AppOutputError": "inferencesh._typed_apps",
    "AsyncTypedTaskStream": "inferencesh._typed_apps",
    "TypedApp": "inferencesh._typed_apps",
    "TypedTask": "inferencesh._typed_apps",
    "TypedTaskStream": "inferencesh._typed_apps",
    "TypedTaskUpdate": "inferencesh._typed_apps",
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
    "AgentConfig": "inferencesh.tools",
    "agent_tool": "inferencesh.tools",
    "app_tool": "inferencesh.tools",
    "array": "inferencesh.tools",
    "as_agent_tool": "inferencesh.tools",
    "boolean": "inferencesh.tools",
    "call_tool": "inferencesh.tools",
    "enum_of": "inferencesh.tools",
    "http_tool": "inferencesh.tools",
    "integer": "inferencesh.tools",
    "internal_tools": "inferencesh.tools",
    "mcp_tool": "inferencesh.tools",
    "number": "inferencesh.tools",
    "obj": "inferencesh.tools",
    "optional": "inferencesh.tools",
    "string": "inferencesh.tools",
    "tool": "inferencesh.tools",
    "tool_handler": "inferencesh.tools",
    "webhook_tool": "inferencesh.tools",
}

if TYPE_CHECKING:
    from inferencesh._agents._types import AgentDelta as AgentDelta
    from inferencesh._agents._types import ToolCallInfo as ToolCallInfo
    from inferencesh._async.agent import AsyncAgent as AsyncAgent
    from inferencesh._async.client import AsyncInference as AsyncInference
    from inferencesh._async.client import async_inference as async_inference
    from inferencesh._async.sessions import AsyncSession as AsyncSession
    from inferencesh._async.tasks import AsyncTaskStream as AsyncTaskStream
    from inferencesh._callbacks import TaskDelta as TaskDelta
    from inferencesh._errors import AgentRunError as AgentRunError
    from inferencesh._errors import APIConnectionError as APIConnectionError
    from inferencesh._errors import APIError as APIError
    from inferencesh._errors import APITimeoutError as APITimeoutError
    from inferencesh._errors import AuthenticationError as AuthenticationError
    from inferencesh._errors import BadRequestError as BadRequestError
    from inferencesh._errors import ChatStreamError as ChatStreamError
    from inferencesh._errors import ConflictError as ConflictError
    from inferencesh._errors import FileTooLargeError as FileTooLargeError
    from inferencesh._errors import FileUploadError as FileUploadError
    from inferencesh._errors import GoneError as GoneError
    from inferencesh._errors import InferenceError as InferenceError
    from inferencesh._errors import InternalServerError as InternalServerError
    from inferencesh._errors import InvalidInputError as InvalidInputError
    from inferencesh._errors import InvalidResponseError as InvalidResponseError
    from inferencesh._errors import MissingAPIKeyError as MissingAPIKeyError
    from inferencesh._errors import NotFoundError as NotFoundError
    from inferencesh._errors import OutputValidationError as OutputValidationError
    from inferencesh._errors import PermissionDeniedError as PermissionDeniedError
    from inferencesh._errors import RateLimitError as RateLimitError
    from inferencesh._errors import RateLimitInfo as RateLimitInfo
    from inferencesh._errors import RequirementsNotMetError as RequirementsNotMetError
    from inferencesh._errors import SessionEndedError as SessionEndedError
    from inferencesh._errors import SessionError as SessionError
    from inferencesh._errors import SessionExpiredError as SessionExpiredError
    from inferencesh._errors import SessionNotFoundError as SessionNotFoundError
    from inferencesh._errors import SignInRequiredError as SignInRequiredError
    from inferencesh._errors import TaskFailedError as TaskFailedError
    from inferencesh._errors import TaskStreamError as TaskStreamError
    from inferencesh._errors import UnprocessableEntityError as UnprocessableEntityError
    from inferencesh._errors import WaitTimeoutError as WaitTimeoutError
    from inferencesh._files import UploadFileOptions as UploadFileOptions
    from inferencesh._generated.models import AgentTool as AgentTool
    from inferencesh._generated.models import TaskStatus as TaskStatus
    from inferencesh._generated.models import Tool as Tool
    from inferencesh._generated.models import ToolCall as ToolCall
    from inferencesh._generated.models import ToolParameters as ToolParameters
    from inferencesh._generated.sync.agent import Agent as Agent
    from inferencesh._generated.sync.client import Inference as Inference
    from inferencesh._generated.sync.client import inference as inference
    from inferencesh._generated.sync.sessions import Session as Session
    from inferencesh._generated.sync.tasks import TaskStream as TaskStream
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
    from inferencesh._typed_apps import AppOutputError as AppOutputError
    from inferencesh._typed_apps import AsyncTypedTaskStream as AsyncTypedTaskStream
    from inferencesh._typed_apps import TypedApp as TypedApp
    from inferencesh._typed_apps import TypedTask as TypedTask
    from inferencesh._typed_apps import TypedTaskStream as TypedTaskStream
    from inferencesh._typed_apps import TypedTaskUpdate as TypedTaskUpdate
    from inferencesh.app import BaseApp as BaseApp
    from inferencesh.app import BaseAppInput as BaseAppInput
    from inferencesh.app import BaseAppOutput as BaseAppOutput
    from inferencesh.app import BaseAppSetup as BaseAppSetup
    from inferencesh.app import File as File
    from inferencesh.app import Metadata as Metadata
    from inferencesh.tools import AgentConfig as AgentConfig
    from inferencesh.tools import agent_tool as agent_tool
    from inferencesh.tools import app_tool as app_tool
    from inferencesh.tools import array as array
    from inferencesh.tools import as_agent_tool as as_agent_tool
    from inferencesh.tools import boolean as boolean
    from inferencesh.tools import call_tool as call_tool
    from inferencesh.tools import enum_of as enum_of
    from inferencesh.tools import http_tool as http_tool
    from inferencesh.tools import integer as integer
    from inferencesh.tools import internal_tools as internal_tools
    from inferencesh.tools import mcp_tool as mcp_tool
    from inferencesh.tools import number as number
    from inferencesh.tools import obj as obj
    from inferencesh.tools import optional as optional
    from inferencesh.tools import string as string
    from inferencesh.tools import tool as tool
    from inferencesh.tools import tool_handler as tool_handler
    from inferencesh.tools import webhook_tool as webhook_tool

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
    "AppOutputError",
    "AsyncAgent",
    "AsyncInference",
    "AsyncPage",
    "AsyncPager",
    "AsyncSession",
    "AsyncTaskStream",
    "AsyncTypedTaskStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseApp",
    "BaseAppInput",
    "BaseAppOutput",
    "BaseAppSetup",
    "ChatStreamError",
    "ConflictError",
    "File",
    "FileTooLargeError",
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
    "TaskDelta",
    "TaskFailedError",
    "TaskStatus",
    "TaskStream",
    "TaskStreamError",
    "Tool",
    "ToolCall",
    "ToolCallInfo",
    "ToolParameters",
    "TypedApp",
    "TypedTask",
    "TypedTaskStream",
    "TypedTaskUpdate",
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
    with httpx_cli_deferred():
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
