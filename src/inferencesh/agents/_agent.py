"""``Agent`` and ``AsyncAgent``: one chat with an agent, driven over the chat stream.

``_AgentBase`` holds everything that does no I/O (the run request, files to attach, what to do
with a tool call, the output check); the two classes only send, read the stream, run handlers
and wait. The turn itself (merging, deltas, dispatch once, the turn gate) is ``ChatMachine``'s.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import inspect
import json
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from inferencesh._errors import (
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    WaitTimeoutError,
)
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
from inferencesh._generated.resources.agents import AgentsResource, AsyncAgentsResource
from inferencesh._generated.resources.chats import AsyncChatsResource, ChatsResource
from inferencesh._generated.resources.tools import AsyncToolsResource, ToolsResource
from inferencesh._logging import logger, redact
from inferencesh._runtime.base import TOLERANT
from inferencesh._streaming import NDJSON, RECOVERABLE, Reconnects, StreamOptions
from inferencesh.agents._machine import (
    ApprovalWaiting,
    ChatChanged,
    ChatMachine,
    DeltaReceived,
    MachineEvent,
    MessageChanged,
    ToolWaiting,
)
from inferencesh.agents._types import (
    AgentDelta,
    AgentRunError,
    ChatStreamError,
    OutputValidationError,
    SignInRequiredError,
    ToolCallInfo,
    schema_errors,
)
from inferencesh.files import UploadFileOptions
from inferencesh.tool_builder import (
    ToolHandler,
    as_internal_tools,
    split_tools,
    tool_result_text,
)

if TYPE_CHECKING:
    from inferencesh._transport import AsyncTransport, SyncTransport
    from inferencesh.files import AsyncFiles, Files

__all__ = [
    "Agent",
    "AgentSpec",
    "Agents",
    "AsyncAgent",
    "AsyncAgents",
    "FileInput",
    "core_from_spec",
]

AgentSpec: TypeAlias = "str | AgentConfigInput | Mapping[str, Any]"
"""An agent: a template ref ``"namespace/name@version"`` or an ad-hoc config (dict or model)."""

FileInput: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | FileRef"
"""A file to attach: bytes, a ``data:`` URI, a base64 string, a path, or an uploaded ``FileRef``."""

_MAX_ATTACHMENTS = 20
_MAX_PAGES = 20  # of GET /chats/{id}/messages when a turn's reply must be read back
_FAILED_RUN = frozenset({"failed", "canceled", "cancelled", "rejected"})

_M = TypeVar("_M", bound=BaseModel)


def _model(cls: type[_M], state: Mapping[str, Any]) -> _M:
    """A typed view of a stream state, read as Go wrote it (absent fields are zero values)."""
    try:
        return cls.model_validate(dict(state), context=TOLERANT)
    except ValidationError:
        return cls.model_construct(**dict(state))


def _state(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _check_id(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise InvalidInputError(f"{field} must be an id string, got {value!r}")
    return value


def _check_text(text: Any) -> str:
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


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidInputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return time.monotonic() + float(timeout)


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


def _upload_source(data: Any) -> tuple[Any, str]:
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


def _upload_options(source: Any, filename: str | None) -> UploadFileOptions:
    content_type: str | None = None
    if filename and isinstance(source, bytes):
        # Raw bytes carry no type: the name is the only hint (``notes.txt`` -> text/plain).
        content_type = mimetypes.guess_type(filename, strict=False)[0]
    return UploadFileOptions(filename=filename, content_type=content_type)


def _file_ref(record: FileDTO) -> FileRef:
    return FileRef(
        id=record.id,
        uri=record.uri,
        filename=record.filename,
        content_type=record.content_type,
        size=record.size,
    )


def _given_ref(item: Any) -> FileRef | None:
    """An already uploaded file (``FileRef``, file record or dict with a ``uri``), else None."""
    if isinstance(item, FileRef):
        return item
    if isinstance(item, FileDTO):
        return _file_ref(item)
    if isinstance(item, Mapping):
        values = cast("Mapping[str, Any]", item)
        if isinstance(values.get("uri"), str) and values["uri"]:
            return FileRef.model_validate(dict(values))
        raise InvalidInputError(f"a file dict needs a non-empty 'uri', got {dict(values)!r}")
    return None


def _check_files(files: Any) -> list[Any]:
    if files is None:
        return []
    if isinstance(files, (str, bytes, bytearray, Mapping)) or not isinstance(files, Sequence):
        raise InvalidInputError("files must be a list (e.g. files=[b'...'])")
    items = list(cast("Sequence[Any]", files))  # type: ignore[redundant-cast]
    if len(items) > _MAX_ATTACHMENTS:
        raise InvalidInputError(f"at most {_MAX_ATTACHMENTS} files per message, got {len(items)}")
    return items


def _error_result(tool: str, exc: BaseException) -> str:
    """The result posted for a handler that raised, so the agent can go on."""
    detail = redact(f"{type(exc).__name__}: {exc}")
    logger.warning("client tool %r raised %s", tool, detail)
    return tool_result_text({"error": detail})


def _result_body(result_or_action: Any, attachments: Sequence[FileRef] | None) -> ToolResultRequest:
    if isinstance(result_or_action, ToolResultRequest):
        return result_or_action
    body = ToolResultRequest(result=tool_result_text(result_or_action))
    if attachments:
        body.attachments = list(attachments)
    return body


def _sign_in_error(exc: PermissionDeniedError) -> PermissionDeniedError:
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


def _last_assistant(machine: ChatMachine) -> dict[str, Any] | None:
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


class _AgentBase:
    """State and decisions shared by ``Agent`` and ``AsyncAgent``; no I/O."""

    def __init__(
        self,
        spec: AgentSpec,
        *,
        context: Mapping[str, str] | None,
        stream_idle_timeout: float | None,
        max_reconnects: int,
        reconnect_delay_ms: int,
    ) -> None:
        self._core = core_from_spec(spec)
        self._context = _check_context(context)
        self._options = StreamOptions(
            max_reconnects=_check_count("max_reconnects", max_reconnects),
            reconnect_delay_ms=_check_count("reconnect_delay_ms", reconnect_delay_ms),
            idle_timeout=stream_idle_timeout,
        )
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
            return _check_id("chat_id", chat_id)
        if self._chat_id is None:
            raise InvalidInputError("no chat yet: send a message first or pass chat_id")
        return self._chat_id

    def _machine(self, gate: bool = True) -> ChatMachine:
        return ChatMachine(dispatched=self._dispatched, approvals=self._approvals, gate=gate)

    def _reconnects(self, chat_id: str, deadline: float | None) -> Reconnects:
        def give_up(reason: str, failures: int) -> Exception:
            return ChatStreamError(
                f"chat {chat_id}: the stream ended before the turn finished, after {failures} "
                f"reconnects ({reason})"
            )

        return Reconnects(chat_id, self._options, deadline, give_up)

    def _adopt(self, response: CreateAgentMessageResponse, machine: ChatMachine) -> list[Any]:
        assistant = response.assistant_message
        user = response.user_message
        if self._chat_id is None:
            known = assistant if assistant is not None else user
            chat_id = known.chat_id if known is not None else None
            if not chat_id:
                raise ChatStreamError("the server did not say which chat the message went to")
            self._chat_id = chat_id
        return machine.accept_post(
            _state(user) if user is not None else None,
            _state(assistant) if assistant is not None else None,
        )

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


def _stream_path(chat_id: str) -> str:
    return f"/chats/{quote(chat_id, safe='')}/stream"


def _await_sync(awaitable: Awaitable[Any]) -> Any:
    """Run an async handler's awaitable to completion from blocking code."""

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # Called from inside an event loop (a sync agent in async code): use a private loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()


def _call_sync(callback: Callable[[Any], Any], value: Any) -> None:
    result = callback(value)
    if inspect.isawaitable(result):
        _await_sync(result)


MessageCallback = Callable[[ChatMessageDTO], Any]
"""``on_message``: called with each new state of a message (text includes deltas so far)."""
ToolCallCallback = Callable[[ToolCallInfo], Any]
"""``on_tool_call``: called once per tool call that waits for this client."""
DeltaCallback = Callable[[AgentDelta], Any]
"""``on_delta``: called with each token delta."""


class Agent(_AgentBase):
    """A chat with an agent: ``agent = client.agent("my-org/assistant@abc123")``.

    ``send_message`` streams the turn and returns when it is finished; client tools with a
    handler are executed and their results posted; ``run`` returns the finish tool's output::

        reply = agent.send_message("Hello!")
        print(reply.content[0].text)
    """

    def __init__(
        self,
        transport: SyncTransport,
        files: Files,
        spec: AgentSpec,
        *,
        context: Mapping[str, str] | None = None,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
    ) -> None:
        super().__init__(
            spec,
            context=context,
            stream_idle_timeout=transport.config.stream_idle_timeout,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )
        self._transport = transport
        self._files = files
        self._agents = AgentsResource(transport)
        self._chats = ChatsResource(transport)
        self._tools = ToolsResource(transport)

    def send_message(
        self,
        text: str,
        files: Sequence[FileInput] | None = None,
        on_message: MessageCallback | None = None,
        on_tool_call: ToolCallCallback | None = None,
        *,
        on_delta: DeltaCallback | None = None,
        timeout: float | None = None,
    ) -> ChatMessageDTO:
        """Send a message, stream the turn until it is finished; return the assistant message.

        ``files``: bytes, ``data:`` URIs, base64 strings, paths or ``FileRef``s (uploaded
        first). ``on_message`` gets each new state of this turn's messages, ``on_delta`` each
        token delta. ``on_tool_call`` gets every call that waits for this client, once: a
        client tool's call (its handler, if any, then runs and its result is posted; without
        one, answer with ``submit_tool_result``) or, with ``requires_approval`` set, a call
        that waits for ``approve_tool`` / ``reject_tool``. An approved client tool is not
        handed out again: its handler runs, or the result the callback submitted is posted.
        A client tool left without handler or result gets an error result.
        Raises ``WaitTimeoutError`` when ``timeout`` seconds pass first (the chat goes on).
        """
        text = _check_text(text)
        items = _check_files(files)
        deadline = _check_timeout(timeout)
        attachments = [self._attachment(item) for item in items]
        request = self._run_request(text, attachments)
        machine = self._machine()
        callbacks = (on_message, on_tool_call, on_delta)
        if self._chat_id is None:
            response = self._agents.run(request)
            self._handle(self._adopt(response, machine), callbacks)
            self._follow(machine, None, callbacks, deadline)
        else:
            self._follow(machine, request, callbacks, deadline)
        if machine.needs_messages():
            self._handle(self._read_messages(self._chat(None), machine), callbacks)
        self._last_output = machine.chat.get("output") if machine.chat is not None else None
        message = _last_assistant(machine)
        if message is None:
            raise ChatStreamError(f"chat {self._chat_id}: the turn ended without a reply")
        return _model(ChatMessageDTO, message)

    def run(
        self,
        text: str,
        files: Sequence[FileInput] | None = None,
        on_message: MessageCallback | None = None,
        on_tool_call: ToolCallCallback | None = None,
        *,
        on_delta: DeltaCallback | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a message, wait for the turn, return the finish tool's output (or ``None``).

        The output is checked against the config's ``output_schema`` when there is one
        (``OutputValidationError``); a failed run raises ``AgentRunError``.
        """
        before = self._last_output
        self.send_message(text, files, on_message, on_tool_call, on_delta=on_delta, timeout=timeout)
        return self._final_output(self._chats.get(self._chat(None)), before)

    def upload_file(self, data: FileInput, filename: str | None = None) -> FileRef:
        """Upload bytes, a base64 string, a ``data:`` URI or a path; return its ``FileRef``."""
        given = _given_ref(data)
        if given is not None:
            return given
        source, _ = _upload_source(data)
        return _file_ref(self._files.upload(source, _upload_options(source, filename)))

    def get_chat(self, chat_id: str | None = None) -> ChatDTO:
        """The chat (current one by default): status, active run, output."""
        return self._chats.get(self._chat(chat_id))

    def stop_chat(self, chat_id: str | None = None) -> None:
        """Stop the agent's current turn."""
        self._chats.stop(self._chat(chat_id))

    def submit_tool_result(
        self,
        tool_id: str,
        result_or_action: Any,
        attachments: Sequence[FileInput] | None = None,
    ) -> None:
        """Answer a client tool call: a string, any JSON value, or ``{"action": ...}``."""
        tool_id = _check_id("tool_id", tool_id)
        refs = [self._attachment(item) for item in _check_files(attachments)]
        body = _result_body(result_or_action, refs)
        if self._hold(tool_id, body):
            return
        self._submitted.add(tool_id)
        try:
            self._tools.result(tool_id, body)
        except ConflictError:
            logger.info("tool call %s was already answered", tool_id)

    def approve_tool(self, tool_id: str) -> None:
        """Let a tool call that waits for approval run (403 ``SignInRequiredError`` for keys
        that may not approve)."""
        tool_id = _check_id("tool_id", tool_id)
        try:
            self._tools.invoke(tool_id)
        except PermissionDeniedError as exc:
            raise _sign_in_error(exc) from exc
        self._decided.add(tool_id)

    def reject_tool(self, tool_id: str, reason: str | None = None) -> None:
        """Refuse a tool call that waits for approval; ``reason`` is told to the agent."""
        tool_id = _check_id("tool_id", tool_id)
        try:
            self._tools.reject(tool_id, reason=reason)
        except PermissionDeniedError as exc:
            raise _sign_in_error(exc) from exc
        self._decided.add(tool_id)
        self._held.pop(tool_id, None)

    def stream_messages(self, chat_id: str | None = None) -> Iterator[ChatMessageDTO]:
        """Message updates of the chat as they happen, until you stop iterating."""
        for event in self._watch(self._chat(chat_id)):
            if isinstance(event, MessageChanged):
                yield _model(ChatMessageDTO, event.message)

    def stream_chat(self, chat_id: str | None = None) -> Iterator[ChatDTO]:
        """Chat state updates (status, active run, output) until you stop iterating."""
        for event in self._watch(self._chat(chat_id)):
            if isinstance(event, ChatChanged):
                yield _model(ChatDTO, event.chat)

    # Driving.

    def _attachment(self, item: Any) -> FileRef:
        given = _given_ref(item)
        return given if given is not None else self.upload_file(item)

    def _watch(self, chat_id: str) -> Iterator[MachineEvent]:
        machine = self._machine(gate=False)
        policy = self._reconnects(chat_id, None)
        while True:
            reason = "the stream ended"
            try:
                with self._transport.open_stream(
                    _stream_path(chat_id), accept=NDJSON, idle_timeout=policy.idle_timeout()
                ) as response:
                    for chunk in response.iter_raw():
                        events = machine.feed(chunk)
                        if events:
                            policy.progress()
                        yield from events
            except RECOVERABLE as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                machine.end_of_connection()
            time.sleep(policy.next_delay(reason))

    def _follow(
        self,
        machine: ChatMachine,
        request: ApiAgentRunRequest | None,
        callbacks: tuple[Any, Any, Any],
        deadline: float | None,
    ) -> None:
        """Read the chat stream until the turn is finished; post ``request`` once it is open."""
        chat_id = self._chat(None)
        policy = self._reconnects(chat_id, deadline)
        while True:
            reason = "the stream ended"
            with contextlib.ExitStack() as stack:
                response = None
                try:
                    response = stack.enter_context(
                        self._transport.open_stream(
                            _stream_path(chat_id), accept=NDJSON, idle_timeout=policy.idle_timeout()
                        )
                    )
                except RECOVERABLE as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if request is not None:
                    # Posted once, after the stream is open, so no event of this turn is missed.
                    posted, request = self._agents.run(request), None
                    self._handle(self._adopt(posted, machine), callbacks)
                try:
                    if response is not None and not machine.done:
                        for chunk in response.iter_raw():
                            events = machine.feed(chunk)
                            if events:
                                policy.progress()
                            self._handle(events, callbacks)
                            if machine.done or policy.expired():
                                break
                except RECOVERABLE as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                finally:
                    machine.end_of_connection()
            if machine.done:
                return
            if policy.expired():
                raise WaitTimeoutError(
                    f"chat {chat_id}: the turn did not finish before the timeout"
                )
            logger.debug("chat %s: %s before the turn finished", chat_id, reason)
            self._handle(self._reconcile(chat_id, machine), callbacks)
            if machine.done:
                return
            time.sleep(policy.next_delay(reason))

    def _reconcile(self, chat_id: str, machine: ChatMachine) -> list[MachineEvent]:
        events = machine.reconcile(_state(self._chats.get(chat_id)))
        if machine.needs_messages():
            events.extend(self._read_messages(chat_id, machine))
        return events

    def _read_messages(self, chat_id: str, machine: ChatMachine) -> list[MachineEvent]:
        events: list[MachineEvent] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = self._chats.list_messages(chat_id, cursor=cursor)
            events.extend(machine.adopt_messages(_state(item) for item in page.items))
            cursor = page.next_cursor
            if not page.has_next or not cursor or not machine.needs_messages():
                break
        return events

    def _handle(self, events: Sequence[MachineEvent], callbacks: tuple[Any, Any, Any]) -> None:
        on_message, on_tool_call, on_delta = callbacks
        for event in events:
            if isinstance(event, MessageChanged):
                if on_message is not None:
                    _call_sync(on_message, _model(ChatMessageDTO, event.message))
            elif isinstance(event, DeltaReceived):
                if on_delta is not None:
                    _call_sync(
                        on_delta, AgentDelta(event.message_id, event.delta, event.output, event.seq)
                    )
            elif isinstance(event, (ToolWaiting, ApprovalWaiting)):
                info = ToolCallInfo.from_invocation(
                    event.invocation, isinstance(event, ApprovalWaiting)
                )
                if on_tool_call is not None and self._asks_callback(info):
                    _call_sync(on_tool_call, info)
                self._execute(info, self._tool_plan(info, on_tool_call is not None))

    def _execute(
        self, info: ToolCallInfo, plan: ToolHandler | str | ToolResultRequest | None
    ) -> None:
        if plan is None:
            return
        result: str | ToolResultRequest
        if isinstance(plan, (str, ToolResultRequest)):
            result = plan
        else:
            try:
                value = plan(dict(info.args))
                if inspect.isawaitable(value):
                    value = _await_sync(value)
                result = tool_result_text(value)
            except Exception as exc:
                result = _error_result(info.name, exc)
        if info.id not in self._submitted:
            self.submit_tool_result(info.id, result)


class AsyncAgent(_AgentBase):
    """The async twin of :class:`Agent`: the same methods, awaited.

    ``reply = await agent.send_message("Hello!")``; handlers and callbacks may be sync or async
    (sync handlers run in a worker thread).
    """

    def __init__(
        self,
        transport: AsyncTransport,
        files: AsyncFiles,
        spec: AgentSpec,
        *,
        context: Mapping[str, str] | None = None,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
    ) -> None:
        super().__init__(
            spec,
            context=context,
            stream_idle_timeout=transport.config.stream_idle_timeout,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )
        self._transport = transport
        self._files = files
        self._agents = AsyncAgentsResource(transport)
        self._chats = AsyncChatsResource(transport)
        self._tools = AsyncToolsResource(transport)

    async def send_message(
        self,
        text: str,
        files: Sequence[FileInput] | None = None,
        on_message: MessageCallback | None = None,
        on_tool_call: ToolCallCallback | None = None,
        *,
        on_delta: DeltaCallback | None = None,
        timeout: float | None = None,
    ) -> ChatMessageDTO:
        """Send a message, stream the turn until it is finished (see ``Agent.send_message``)."""
        text = _check_text(text)
        items = _check_files(files)
        deadline = _check_timeout(timeout)
        attachments = list(await asyncio.gather(*(self._attachment(item) for item in items)))
        request = self._run_request(text, attachments)
        machine = self._machine()
        callbacks = (on_message, on_tool_call, on_delta)
        if self._chat_id is None:
            response = await self._agents.run(request)
            await self._handle(self._adopt(response, machine), callbacks)
            await self._follow(machine, None, callbacks, deadline)
        else:
            await self._follow(machine, request, callbacks, deadline)
        if machine.needs_messages():
            await self._handle(await self._read_messages(self._chat(None), machine), callbacks)
        self._last_output = machine.chat.get("output") if machine.chat is not None else None
        message = _last_assistant(machine)
        if message is None:
            raise ChatStreamError(f"chat {self._chat_id}: the turn ended without a reply")
        return _model(ChatMessageDTO, message)

    async def run(
        self,
        text: str,
        files: Sequence[FileInput] | None = None,
        on_message: MessageCallback | None = None,
        on_tool_call: ToolCallCallback | None = None,
        *,
        on_delta: DeltaCallback | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send, wait for the turn, return the finish tool's output (see ``Agent.run``)."""
        before = self._last_output
        await self.send_message(
            text, files, on_message, on_tool_call, on_delta=on_delta, timeout=timeout
        )
        return self._final_output(await self._chats.get(self._chat(None)), before)

    async def upload_file(self, data: FileInput, filename: str | None = None) -> FileRef:
        """Upload bytes, a base64 string, a ``data:`` URI or a path; return its ``FileRef``."""
        given = _given_ref(data)
        if given is not None:
            return given
        source, _ = _upload_source(data)
        return _file_ref(await self._files.upload(source, _upload_options(source, filename)))

    async def get_chat(self, chat_id: str | None = None) -> ChatDTO:
        """The chat (current one by default): status, active run, output."""
        return await self._chats.get(self._chat(chat_id))

    async def stop_chat(self, chat_id: str | None = None) -> None:
        """Stop the agent's current turn."""
        await self._chats.stop(self._chat(chat_id))

    async def submit_tool_result(
        self,
        tool_id: str,
        result_or_action: Any,
        attachments: Sequence[FileInput] | None = None,
    ) -> None:
        """Answer a client tool call: a string, any JSON value, or ``{"action": ...}``."""
        tool_id = _check_id("tool_id", tool_id)
        items = _check_files(attachments)
        refs = list(await asyncio.gather(*(self._attachment(item) for item in items)))
        body = _result_body(result_or_action, refs)
        if self._hold(tool_id, body):
            return
        self._submitted.add(tool_id)
        try:
            await self._tools.result(tool_id, body)
        except ConflictError:
            logger.info("tool call %s was already answered", tool_id)

    async def approve_tool(self, tool_id: str) -> None:
        """Let a tool call that waits for approval run (see ``Agent.approve_tool``)."""
        tool_id = _check_id("tool_id", tool_id)
        try:
            await self._tools.invoke(tool_id)
        except PermissionDeniedError as exc:
            raise _sign_in_error(exc) from exc
        self._decided.add(tool_id)

    async def reject_tool(self, tool_id: str, reason: str | None = None) -> None:
        """Refuse a tool call that waits for approval; ``reason`` is told to the agent."""
        tool_id = _check_id("tool_id", tool_id)
        try:
            await self._tools.reject(tool_id, reason=reason)
        except PermissionDeniedError as exc:
            raise _sign_in_error(exc) from exc
        self._decided.add(tool_id)
        self._held.pop(tool_id, None)

    async def stream_messages(self, chat_id: str | None = None) -> AsyncIterator[ChatMessageDTO]:
        """Message updates of the chat as they happen, until you stop iterating."""
        async for event in self._watch(self._chat(chat_id)):
            if isinstance(event, MessageChanged):
                yield _model(ChatMessageDTO, event.message)

    async def stream_chat(self, chat_id: str | None = None) -> AsyncIterator[ChatDTO]:
        """Chat state updates (status, active run, output) until you stop iterating."""
        async for event in self._watch(self._chat(chat_id)):
            if isinstance(event, ChatChanged):
                yield _model(ChatDTO, event.chat)

    # Driving.

    async def _attachment(self, item: Any) -> FileRef:
        given = _given_ref(item)
        return given if given is not None else await self.upload_file(item)

    async def _watch(self, chat_id: str) -> AsyncIterator[MachineEvent]:
        machine = self._machine(gate=False)
        policy = self._reconnects(chat_id, None)
        while True:
            reason = "the stream ended"
            try:
                async with self._transport.open_stream(
                    _stream_path(chat_id), accept=NDJSON, idle_timeout=policy.idle_timeout()
                ) as response:
                    async for chunk in response.aiter_raw():
                        events = machine.feed(chunk)
                        if events:
                            policy.progress()
                        for event in events:
                            yield event
            except RECOVERABLE as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                machine.end_of_connection()
            await asyncio.sleep(policy.next_delay(reason))

    async def _follow(
        self,
        machine: ChatMachine,
        request: ApiAgentRunRequest | None,
        callbacks: tuple[Any, Any, Any],
        deadline: float | None,
    ) -> None:
        """Read the chat stream until the turn is finished; post ``request`` once it is open."""
        chat_id = self._chat(None)
        policy = self._reconnects(chat_id, deadline)
        while True:
            reason = "the stream ended"
            async with contextlib.AsyncExitStack() as stack:
                response = None
                try:
                    response = await stack.enter_async_context(
                        self._transport.open_stream(
                            _stream_path(chat_id), accept=NDJSON, idle_timeout=policy.idle_timeout()
                        )
                    )
                except RECOVERABLE as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if request is not None:
                    # Posted once, after the stream is open, so no event of this turn is missed.
                    posted, request = await self._agents.run(request), None
                    await self._handle(self._adopt(posted, machine), callbacks)
                try:
                    if response is not None and not machine.done:
                        async for chunk in response.aiter_raw():
                            events = machine.feed(chunk)
                            if events:
                                policy.progress()
                            await self._handle(events, callbacks)
                            if machine.done or policy.expired():
                                break
                except RECOVERABLE as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                finally:
                    machine.end_of_connection()
            if machine.done:
                return
            if policy.expired():
                raise WaitTimeoutError(
                    f"chat {chat_id}: the turn did not finish before the timeout"
                )
            logger.debug("chat %s: %s before the turn finished", chat_id, reason)
            await self._handle(await self._reconcile(chat_id, machine), callbacks)
            if machine.done:
                return
            await asyncio.sleep(policy.next_delay(reason))

    async def _reconcile(self, chat_id: str, machine: ChatMachine) -> list[MachineEvent]:
        events = machine.reconcile(_state(await self._chats.get(chat_id)))
        if machine.needs_messages():
            events.extend(await self._read_messages(chat_id, machine))
        return events

    async def _read_messages(self, chat_id: str, machine: ChatMachine) -> list[MachineEvent]:
        events: list[MachineEvent] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self._chats.list_messages(chat_id, cursor=cursor)
            events.extend(machine.adopt_messages(_state(item) for item in page.items))
            cursor = page.next_cursor
            if not page.has_next or not cursor or not machine.needs_messages():
                break
        return events

    async def _handle(
        self, events: Sequence[MachineEvent], callbacks: tuple[Any, Any, Any]
    ) -> None:
        on_message, on_tool_call, on_delta = callbacks
        for event in events:
            if isinstance(event, MessageChanged):
                if on_message is not None:
                    await _maybe_await(on_message(_model(ChatMessageDTO, event.message)))
            elif isinstance(event, DeltaReceived):
                if on_delta is not None:
                    delta = AgentDelta(event.message_id, event.delta, event.output, event.seq)
                    await _maybe_await(on_delta(delta))
            elif isinstance(event, (ToolWaiting, ApprovalWaiting)):
                info = ToolCallInfo.from_invocation(
                    event.invocation, isinstance(event, ApprovalWaiting)
                )
                if on_tool_call is not None and self._asks_callback(info):
                    await _maybe_await(on_tool_call(info))
                await self._execute(info, self._tool_plan(info, on_tool_call is not None))

    async def _execute(
        self, info: ToolCallInfo, plan: ToolHandler | str | ToolResultRequest | None
    ) -> None:
        if plan is None:
            return
        result: str | ToolResultRequest
        if isinstance(plan, (str, ToolResultRequest)):
            result = plan
        else:
            try:
                if inspect.iscoroutinefunction(plan):
                    value = await plan(dict(info.args))
                else:
                    # A blocking handler must not stall the event loop (and other chats on it).
                    value = await asyncio.to_thread(plan, dict(info.args))
                    if inspect.isawaitable(value):
                        value = await value
                result = tool_result_text(value)
            except Exception as exc:
                result = _error_result(info.name, exc)
        if info.id not in self._submitted:
            await self.submit_tool_result(info.id, result)


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


class Agents(AgentsResource):
    """``client.agents``: ``client.agents.create(ref_or_config)`` returns an :class:`Agent`; every
    generated ``agents`` operation (``run``, ``get``, ``list``, ``save``, ...) is here too."""

    def __init__(self, transport: SyncTransport, files: Files) -> None:
        super().__init__(transport)
        self._http = transport
        self._files = files

    def create(
        self,
        agent: AgentSpec,
        *,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
    ) -> Agent:
        """An agent from a template ref ``"namespace/name@version"`` or an ad-hoc config.

        Nothing is sent until the first message. Per-chat context: ``client.agent(..., context=)``.
        """
        return Agent(
            self._http,
            self._files,
            agent,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )


class AsyncAgents(AsyncAgentsResource):
    """``client.agents`` of the async client: ``create`` returns an :class:`AsyncAgent`."""

    def __init__(self, transport: AsyncTransport, files: AsyncFiles) -> None:
        super().__init__(transport)
        self._http = transport
        self._files = files

    def create(
        self,
        agent: AgentSpec,
        *,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
    ) -> AsyncAgent:
        """An agent from a template ref or an ad-hoc config (see ``Agents.create``)."""
        return AsyncAgent(
            self._http,
            self._files,
            agent,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )
