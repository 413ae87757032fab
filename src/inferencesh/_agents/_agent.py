"""An agent without I/O: what it is (template or config, handlers, output schema), the run
request, files to attach, what to do with a tool call, and the output check.

``inferencesh._async.agent.AsyncAgent`` (and its generated blocking twin) derive from
``AgentBase`` and only send, follow the chat and run handlers. The turn itself (merging, deltas,
dispatch once, the turn gate) is ``ChatMachine``'s.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import mimetypes
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from inferencesh._agents._machine import ChatMachine
from inferencesh._agents._types import AgentDelta, ToolCallInfo, schema_errors
from inferencesh._errors import (
    AgentRunError,
    ChatStreamError,
    InvalidInputError,
    OutputValidationError,
    PermissionDeniedError,
    SignInRequiredError,
)
from inferencesh._files import UploadFileOptions
from inferencesh._generated.models import (
    AgentConfigInput,
    ApiAgentRunRequest,
    ChatDTO,
    ChatMessageDTO,
    CreateAgentMessageResponse,
    FileDTO,
    FileRef,
    MessageInput,
    ToolResultRequest,
)
from inferencesh._logging import logger, redact
from inferencesh._runtime.base import TOLERANT
from inferencesh._streaming import Reconnects
from inferencesh._transport import StreamOptions, check_poll_interval, deadline_of
from inferencesh.tools import (
    ToolHandler,
    as_internal_tools,
    split_tools,
    tool_result_text,
)

if TYPE_CHECKING:
    from inferencesh._transport import TransportConfig

__all__ = [
    "MAX_PAGES",
    "AgentBase",
    "AgentSpec",
    "DeltaCallback",
    "FileInput",
    "MessageCallback",
    "ToolCallCallback",
    "accept_post",
    "attachment_options",
    "chat_stream_path",
    "check_files",
    "check_id",
    "check_text",
    "core_from_spec",
    "deadline_of",
    "error_result",
    "file_ref",
    "given_ref",
    "last_assistant",
    "result_body",
    "sign_in_error",
    "state_of",
    "typed",
    "upload_source",
]

AgentSpec: TypeAlias = "str | AgentConfigInput | Mapping[str, Any]"
"""An agent: a template ref ``"namespace/name@version"`` or an ad-hoc config (dict or model)."""

FileInput: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | FileRef"
"""A file to attach: bytes, a ``data:`` URI, a base64 string, a path, or an uploaded ``FileRef``."""

_MAX_ATTACHMENTS = 20
MAX_PAGES = 20  # of GET /chats/{id}/messages when a turn's reply must be read back
_FAILED_RUN = frozenset({"failed", "canceled", "cancelled", "rejected"})

_M = TypeVar("_M", bound=BaseModel)


def typed(cls: type[_M], state: Mapping[str, Any]) -> _M:
    """A typed view of a stream state, read as Go wrote it (absent fields are zero values)."""
    try:
        return cls.model_validate(dict(state), context=TOLERANT)
    except ValidationError:
        return cls.model_construct(**dict(state))


def state_of(model: BaseModel) -> dict[str, Any]:
    """A record read with a GET, as the chat machine holds states."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def check_id(field: str, value: Any) -> str:
    """An id, checked before it goes into a path."""
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise InvalidInputError(f"{field} must be an id string, got {value!r}")
    return value


def check_text(text: Any) -> str:
    """A message's text, checked before sending."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
    return text


def _check_context(context: Any) -> dict[str, str] | None:
    if context is None:
        return None
    if not isinstance(context, Mapping):
        raise InvalidInputError(f"context must be a dict of strings, got {context!r}")
    checked: dict[str, str] = {}
    for key, value in cast("Mapping[Any, Any]", context).items():  # type: ignore[redundant-cast]
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"context keys must be non-empty strings, got {key!r}")
        if not isinstance(value, str):
            raise InvalidInputError(
                f"context[{key!r}] must be a string (use str(value)), got {type(value).__name__}"
            )
        checked[key] = value
    return checked


def _check_count(field: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(f"{field} must be an int >= 0, got {value!r}")
    return value


class _Core:
    """What an agent is: the template or config, its handlers and output schema; no I/O."""

    def __init__(self) -> None:
        self.template: str | None = None
        self.config: AgentConfigInput | None = None
        self.name: str | None = None
        self.handlers: dict[str, ToolHandler] = {}
        self.output_schema: Any = None


def core_from_spec(spec: Any) -> _Core:
    """Check an agent spec and split it into wire config, client tool handlers and schema."""
    core = _Core()
    if isinstance(spec, str):
        ref = spec.strip()
        if not ref or ref != spec or "/" not in ref:
            raise InvalidInputError(
                f'agent must be a template ref like "namespace/name@version", got {spec!r}'
            )
        core.template = ref
        return core
    if isinstance(spec, AgentConfigInput):
        values = spec.model_dump(mode="python", by_alias=True, exclude_unset=True)
        if spec.tools:
            # The tools themselves, not their dumps: a built ClientTool carries its handler.
            values["tools"] = list(spec.tools)
    elif isinstance(spec, Mapping):
        values = dict(cast("Mapping[str, Any]", spec))
    else:
        raise InvalidInputError(
            "agent must be a template ref string, an AgentConfig dict or an AgentConfigInput, "
            f"got {type(spec).__name__}"
        )
    tools = values.get("tools")
    if tools is not None:
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
            raise InvalidInputError(f"tools must be a list of tools, got {tools!r}")
        built, core.handlers = split_tools(cast("Sequence[Any]", tools))  # type: ignore[redundant-cast]
        values["tools"] = built
    internal = values.get("internal_tools")
    if internal is not None and not isinstance(internal, BaseModel):
        values["internal_tools"] = as_internal_tools(internal)
    core_app = values.get("core_app")
    if isinstance(core_app, str):
        values["core_app"] = {"ref": core_app}
    try:
        core.config = AgentConfigInput.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise InvalidInputError(f"invalid agent config: {problems}") from None
    name = values.get("name")
    core.name = name if isinstance(name, str) and name else None
    core.output_schema = values.get("output_schema")
    if core.output_schema is not None and not isinstance(core.output_schema, (Mapping, bool)):
        raise InvalidInputError(
            f"output_schema must be a JSON Schema dict, got {type(core.output_schema).__name__}"
        )
    return core


def _decoded_base64(text: str) -> bytes | None:
    compact = "".join(text.split())
    if not compact or len(compact) % 4:
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def upload_source(data: Any) -> tuple[Any, str]:
    """What ``files.upload`` should read for an attachment, and a label for errors."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(cast("bytes", data)), "bytes"
    if isinstance(data, (PurePath, os.PathLike)):
        return os.fspath(cast("os.PathLike[str]", data)), "path"
    if isinstance(data, str):
        if data.startswith("data:"):
            return data, "data URI"
        if os.path.isfile(data):
            return data, "path"
        decoded = _decoded_base64(data)
        if decoded is not None:
            return decoded, "base64"
        raise InvalidInputError(
            "a file must be bytes, a data: URI, a base64 string or the path of a file; got a "
            f"string that is none of these ({data[:40]!r})"
        )
    raise InvalidInputError(
        f"cannot attach a {type(data).__name__}: expected bytes, a data: URI, a base64 string, "
        "a path or a FileRef"
    )


def attachment_options(source: Any, filename: str | None) -> UploadFileOptions:
    """The upload options of an attachment (its type guessed from ``filename``)."""
    content_type: str | None = None
    if filename and isinstance(source, bytes):
        # Raw bytes carry no type: the name is the only hint (``notes.txt`` -> text/plain).
        content_type = mimetypes.guess_type(filename, strict=False)[0]
    return UploadFileOptions(filename=filename, content_type=content_type)


def file_ref(record: FileDTO) -> FileRef:
    """The ``FileRef`` of an uploaded file's record."""
    return FileRef(
        id=record.id,
        uri=record.uri,
        filename=record.filename,
        content_type=record.content_type,
        size=record.size,
    )


def given_ref(item: Any) -> FileRef | None:
    """An already uploaded file (``FileRef``, file record or dict with a ``uri``), else None."""
    if isinstance(item, FileRef):
        return item
    if isinstance(item, FileDTO):
        return file_ref(item)
    if isinstance(item, Mapping):
        values = cast("Mapping[str, Any]", item)
        if isinstance(values.get("uri"), str) and values["uri"]:
            return FileRef.model_validate(dict(values))
        raise InvalidInputError(f"a file dict needs a non-empty 'uri', got {dict(values)!r}")
    return None


def check_files(files: Any) -> list[Any]:
    """The files to attach, checked before anything is uploaded."""
    if files is None:
        return []
    if isinstance(files, (str, bytes, bytearray, Mapping)) or not isinstance(files, Sequence):
        raise InvalidInputError("files must be a list (e.g. files=[b'...'])")
    items = list(cast("Sequence[Any]", files))  # type: ignore[redundant-cast]
    if len(items) > _MAX_ATTACHMENTS:
        raise InvalidInputError(f"at most {_MAX_ATTACHMENTS} files per message, got {len(items)}")
    return items


def error_result(tool: str, exc: BaseException) -> str:
    """The result posted for a handler that raised, so the agent can go on."""
    detail = redact(f"{type(exc).__name__}: {exc}")
    logger.warning("client tool %r raised %s", tool, detail)
    return tool_result_text({"error": detail})


def result_body(result_or_action: Any, attachments: Sequence[FileRef] | None) -> ToolResultRequest:
    """The ``POST /tools/{id}`` body of a tool result (any JSON value becomes text)."""
    if isinstance(result_or_action, ToolResultRequest):
        return result_or_action
    body = ToolResultRequest(result=tool_result_text(result_or_action))
    if attachments:
        body.attachments = list(attachments)
    return body


def sign_in_error(exc: PermissionDeniedError) -> PermissionDeniedError:
    """``SignInRequiredError`` for a 403 ``requires_sign_in``; other 403s as they are."""
    if (exc.code or "").lower() != "requires_sign_in":
        return exc
    return SignInRequiredError(
        "approving or rejecting tool calls needs the account holder's own session; an API key "
        f"may not do it ({exc.message})",
        status_code=exc.status_code,
        code=exc.code,
        request_id=exc.request_id,
        body=exc.body,
        headers=exc.headers,
    )


def _parse_output(output: Any) -> Any:
    if isinstance(output, str):
        with contextlib.suppress(ValueError):
            parsed: Any = json.loads(output)
            if isinstance(parsed, (dict, list)):
                return cast(Any, parsed)
    return output


def _run_state(chat: ChatDTO) -> tuple[str | None, Any, str | None]:
    run = chat.active_run
    if run is None:
        return None, None, None
    state = getattr(run.state, "value", run.state)
    return (state.lower() if isinstance(state, str) else None), run.output, run.error


def last_assistant(machine: ChatMachine) -> dict[str, Any] | None:
    """This turn's last assistant message: the highest ``order`` at or after the posted one."""
    posted = machine.messages.get(machine.assistant_id) if machine.assistant_id else None
    best = posted
    floor = posted.get("order") if posted is not None else None
    for message in machine.messages.values():
        role = getattr(message.get("role"), "value", message.get("role"))
        order = message.get("order")
        if role != "assistant" or not isinstance(order, int):
            continue
        if isinstance(floor, int) and order < floor:
            continue
        best_order = best.get("order") if best is not None else None
        if best is None or not isinstance(best_order, int) or order > best_order:
            best = message
    if best is None:
        return None
    presented = machine.presented(best["id"]) if isinstance(best.get("id"), str) else best
    return presented


class AgentBase:
    """An agent's state and decisions; no I/O."""

    def __init__(
        self,
        spec: AgentSpec,
        *,
        context: Mapping[str, str] | None,
        config: TransportConfig,
        max_reconnects: int,
        reconnect_delay_ms: int,
    ) -> None:
        self._core = core_from_spec(spec)
        self._context = _check_context(context)
        self._config = config
        self._max_reconnects = _check_count("max_reconnects", max_reconnects)
        self._reconnect_delay_ms = _check_count("reconnect_delay_ms", reconnect_delay_ms)
        self._chat_id: str | None = None
        # Invocation ids handed out (tool calls, approvals) and answered, kept across turns so
        # that every invocation is handled once whatever the stream repeats.
        self._dispatched: set[str] = set()
        self._approvals: set[str] = set()
        self._submitted: set[str] = set()
        # Approvals answered by this client, and results submitted while their call still
        # waited for approval: posted once the approval lets the call run.
        self._decided: set[str] = set()
        self._held: dict[str, ToolResultRequest] = {}
        self._last_output: Any = None

    @property
    def chat_id(self) -> str | None:
        """The current chat's id (``None`` before the first message or after ``reset()``)."""
        return self._chat_id

    @property
    def output_schema(self) -> Any:
        """The ad-hoc config's ``output_schema`` (the shape ``run()`` checks), if any."""
        return self._core.output_schema

    def reset(self) -> None:
        """Forget the current chat: the next message starts a new one."""
        self._chat_id = None
        self._dispatched.clear()
        self._approvals.clear()
        self._submitted.clear()
        self._decided.clear()
        self._held.clear()
        self._last_output = None

    def __repr__(self) -> str:
        what = self._core.template or self._core.name or "ad-hoc"
        return f"{type(self).__name__}({what!r}, chat_id={self._chat_id!r})"

    # Requests.

    def _run_request(self, text: str, attachments: list[FileRef]) -> ApiAgentRunRequest:
        message = MessageInput(text=text)
        if attachments:
            message.attachments = attachments
        request = ApiAgentRunRequest(input=message)
        if self._chat_id is not None:
            request.chat_id = self._chat_id
        if self._core.template is not None:
            request.agent = self._core.template
        else:
            request.agent_config = self._core.config
            if self._core.name is not None:
                request.agent_name = self._core.name
        if self._context is not None:
            request.context = self._context
        return request

    def _chat(self, chat_id: str | None) -> str:
        if chat_id is not None:
            return check_id("chat_id", chat_id)
        if self._chat_id is None:
            raise InvalidInputError("no chat yet: send a message first or pass chat_id")
        return self._chat_id

    def _machine(self, gate: bool = True) -> ChatMachine:
        return ChatMachine(dispatched=self._dispatched, approvals=self._approvals, gate=gate)

    def _options(self, stream: Any = None, poll_interval: Any = None) -> StreamOptions:
        """How a call follows the chat: streamed, or polled (``stream=False``, or a
        ``poll_interval``, or the client's ``stream=False``); checked before sending."""
        if stream is not None and not isinstance(stream, bool):
            raise InvalidInputError(f"stream must be True, False or None, got {stream!r}")
        interval = check_poll_interval(poll_interval)
        if interval is not None and stream is True:
            raise InvalidInputError("poll_interval is for polling: pass it without stream=True")
        streams = self._config.stream if stream is None else stream
        if interval is None and not streams:
            interval = self._config.poll_interval
        return StreamOptions(
            max_reconnects=self._max_reconnects,
            reconnect_delay_ms=self._reconnect_delay_ms,
            idle_timeout=self._config.stream_idle_timeout,
            poll_interval=interval,
        )

    def _reconnects(
        self, chat_id: str, options: StreamOptions, deadline: float | None
    ) -> Reconnects:
        def give_up(reason: str, failures: int) -> Exception:
            what = "polling failed" if options.poll_interval is not None else "the stream ended"
            return ChatStreamError(
                f"chat {chat_id}: {what} before the turn finished, after {failures} "
                f"reconnects ({reason})"
            )

        return Reconnects(f"chat {chat_id}", options, deadline, give_up)

    def _adopt(self, response: CreateAgentMessageResponse, machine: ChatMachine) -> list[Any]:
        """The answer to a new chat's first message: the chat's id, and its events."""
        if self._chat_id is None:
            assistant, user = response.assistant_message, response.user_message
            known = assistant if assistant is not None else user
            chat_id = known.chat_id if known is not None else None
            if not chat_id:
                raise ChatStreamError("the server did not say which chat the message went to")
            self._chat_id = chat_id
        return accept_post(response, machine)

    def _asks_callback(self, info: ToolCallInfo) -> bool:
        """Whether ``on_tool_call`` sees this call: once per invocation, so a client tool that
        was handed out for approval is not handed out again when it waits for its result."""
        return info.awaiting_approval or info.id not in self._approvals

    def _hold(self, tool_id: str, body: ToolResultRequest) -> bool:
        """Keep a result submitted while its call waits for approval (the server would refuse
        it); ``_tool_plan`` posts it when the approved call waits for its result."""
        if tool_id not in self._approvals or tool_id in self._dispatched:
            return False
        self._held[tool_id] = body
        return True

    def _tool_plan(
        self, info: ToolCallInfo, has_callback: bool
    ) -> ToolHandler | str | ToolResultRequest | None:
        """What to do after the callback saw a call: a handler to run, a result to post, or
        nothing (an approval, or a result the callback submitted or will submit)."""
        if info.awaiting_approval:
            if not has_callback:
                logger.warning(
                    "tool %r (%s) waits for approval: call approve_tool() or reject_tool()",
                    info.name,
                    info.id,
                )
            elif info.id in self._held and info.id not in self._decided:
                logger.warning(
                    "tool %r (%s) waits for approval: its submitted result is posted once "
                    "approve_tool() lets it run",
                    info.name,
                    info.id,
                )
            return None
        held = self._held.pop(info.id, None)
        if held is not None:
            return held
        if info.id in self._submitted:
            return None
        handler = self._core.handlers.get(info.name)
        if handler is not None:
            return handler
        if has_callback and info.id not in self._approvals:
            return None  # the callback answers with submit_tool_result()
        # No handler, and the callback (if any) already had this call at its approval.
        return tool_result_text(
            {"error": f"no handler for client tool {info.name!r} in this client"}
        )

    def _final_output(self, chat: ChatDTO, before: Any) -> Any:
        """The turn's finish-tool output; ``before`` is the chat's output before the turn (a
        chat keeps the output of an earlier turn when the run does not carry its own)."""
        state, run_output, error = _run_state(chat)
        if state in _FAILED_RUN:
            raise AgentRunError(
                f"the agent run {state}" + (f": {error}" if error else "") + f" (chat {chat.id})",
                chat=chat,
            )
        output = run_output
        if output is None and chat.output != before:
            output = chat.output
        output = _parse_output(output)
        schema = self._core.output_schema
        if output is not None and schema is not None:
            errors = schema_errors(output, schema)
            if errors:
                raise OutputValidationError(
                    "the agent's output does not match output_schema: " + "; ".join(errors[:5]),
                    output=output,
                    errors=errors,
                )
        return output


def accept_post(response: CreateAgentMessageResponse, machine: ChatMachine) -> list[Any]:
    """Hand the ``POST /agents/run`` answer (this turn's two messages) to the machine."""
    user, assistant = response.user_message, response.assistant_message
    return machine.accept_post(
        state_of(user) if user is not None else None,
        state_of(assistant) if assistant is not None else None,
    )


def chat_stream_path(chat_id: str) -> str:
    """The chat's stream route."""
    return f"/chats/{quote(chat_id, safe='')}/stream"


MessageCallback = Callable[[ChatMessageDTO], Any]
"""``on_message``: called with each new state of a message (text includes deltas so far)."""
ToolCallCallback = Callable[[ToolCallInfo], Any]
"""``on_tool_call``: called once per tool call that waits for this client."""
DeltaCallback = Callable[[AgentDelta], Any]
"""``on_delta``: called with each token delta."""
