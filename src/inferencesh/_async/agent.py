"""One chat with an agent, followed over the chat stream (or by polling) until each turn ends.

``AsyncAgent`` sends, follows the chat with the one driver (``inferencesh._async.follow``), runs
tool handlers and calls callbacks; everything it decides is ``AgentBase``'s and the turn itself
is ``ChatMachine``'s.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from inferencesh._agents._agent import (
    MAX_PAGES,
    AgentBase,
    AgentSpec,
    DeltaCallback,
    FileInput,
    MessageCallback,
    ToolCallCallback,
    accept_post,
    attachment_options,
    chat_stream_path,
    check_files,
    check_id,
    check_text,
    deadline_of,
    error_result,
    file_ref,
    given_ref,
    last_assistant,
    result_body,
    sign_in_error,
    state_of,
    typed,
    upload_source,
)
from inferencesh._agents._machine import (
    ApprovalWaiting,
    ChatChanged,
    ChatMachine,
    DeltaReceived,
    MachineEvent,
    MessageChanged,
    ToolWaiting,
)
from inferencesh._agents._types import AgentDelta, ToolCallInfo
from inferencesh._async.follow import follow, status_changed
from inferencesh._concurrency import AsyncConcurrency
from inferencesh._errors import (
    ChatStreamError,
    ConflictError,
    PermissionDeniedError,
    WaitTimeoutError,
)
from inferencesh._generated.models import (
    ApiAgentRunRequest,
    ChatDTO,
    ChatMessageDTO,
    FileRef,
    ToolResultRequest,
)
from inferencesh._generated.resources.agents import AsyncAgentsResource
from inferencesh._generated.resources.chats import AsyncChatsResource
from inferencesh._generated.resources.tools import AsyncToolsResource
from inferencesh._logging import logger
from inferencesh._streaming import StatusWatch
from inferencesh._transport import NDJSON
from inferencesh.tools import ToolHandler, tool_result_text

if TYPE_CHECKING:
    from inferencesh._async.files import AsyncFiles
    from inferencesh._async.transport import AsyncTransport

__all__ = ["AsyncAgent", "AsyncAgents"]

_Callbacks = tuple[MessageCallback | None, ToolCallCallback | None, DeltaCallback | None]


class AsyncAgent(AgentBase):
    """A chat with an agent: ``agent = client.agent("my-org/assistant@abc123")``.

    ``send_message`` follows the turn and returns when it is finished; client tools with a
    handler are executed and their results posted; ``run`` returns the finish tool's output.
    Handlers and callbacks may be plain functions or coroutines::

        reply = await agent.send_message("Hello!")
        print(reply.content[0].text)
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
            config=transport.config,
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
        stream: bool | None = None,
        poll_interval: float | None = None,
    ) -> ChatMessageDTO:
        """Send a message, follow the turn until it is finished; return the assistant message.

        ``files``: bytes, ``data:`` URIs, base64 strings, paths or ``FileRef``s (uploaded
        first). ``on_message`` gets each new state of this turn's messages, ``on_delta`` each
        token delta. ``on_tool_call`` gets every call that waits for this client, once: a
        client tool's call (its handler, if any, then runs and its result is posted; without
        one, answer with ``submit_tool_result``) or, with ``requires_approval`` set, a call
        that waits for ``approve_tool`` / ``reject_tool``. An approved client tool is not
        handed out again: its handler runs, or the result the callback submitted is posted.
        A client tool left without handler or result gets an error result.
        ``stream=False`` (or ``poll_interval`` seconds) follows the turn by polling the chat's
        status instead of holding its stream open; the client's ``stream=`` is the default.
        Raises ``WaitTimeoutError`` when ``timeout`` seconds pass first (the chat goes on).
        """
        text = check_text(text)
        items = check_files(files)
        deadline = deadline_of(timeout)
        options = self._options(stream, poll_interval)
        attachments = await AsyncConcurrency.map(self._attachment, items)
        request = self._run_request(text, attachments)
        machine = self._machine()
        callbacks: _Callbacks = (on_message, on_tool_call, on_delta)
        pending: ApiAgentRunRequest | None = request
        if self._chat_id is None:
            # A new chat: its id comes with the answer, and only then can it be followed.
            await self._handle(self._adopt(await self._agents.run(request), machine), callbacks)
            pending = None
        chat_id = self._chat(None)
        source = _AsyncChatSource(self._transport, chat_id, machine, pending)
        async for event in follow(machine, source, self._reconnects(chat_id, options, deadline)):
            await self._handle((event,), callbacks)
        if not machine.done:
            raise WaitTimeoutError(f"chat {chat_id}: the turn did not finish before the timeout")
        if machine.needs_messages():
            await self._handle(await _read_messages(self._chats, chat_id, machine), callbacks)
        self._last_output = machine.chat.get("output") if machine.chat is not None else None
        message = last_assistant(machine)
        if message is None:
            raise ChatStreamError(f"chat {chat_id}: the turn ended without a reply")
        return typed(ChatMessageDTO, message)

    async def run(
        self,
        text: str,
        files: Sequence[FileInput] | None = None,
        on_message: MessageCallback | None = None,
        on_tool_call: ToolCallCallback | None = None,
        *,
        on_delta: DeltaCallback | None = None,
        timeout: float | None = None,
        stream: bool | None = None,
        poll_interval: float | None = None,
    ) -> Any:
        """Send a message, wait for the turn, return the finish tool's output (or ``None``).

        The output is checked against the config's ``output_schema`` when there is one
        (``OutputValidationError``); a failed run raises ``AgentRunError``. The options are
        ``send_message``'s.
        """
        before = self._last_output
        await self.send_message(
            text,
            files,
            on_message,
            on_tool_call,
            on_delta=on_delta,
            timeout=timeout,
            stream=stream,
            poll_interval=poll_interval,
        )
        return self._final_output(await self._chats.get(self._chat(None)), before)

    async def upload_file(self, data: FileInput, filename: str | None = None) -> FileRef:
        """Upload bytes, a base64 string, a ``data:`` URI or a path; return its ``FileRef``."""
        given = given_ref(data)
        if given is not None:
            return given
        source, _ = upload_source(data)
        return file_ref(await self._files.upload(source, attachment_options(source, filename)))

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
        tool_id = check_id("tool_id", tool_id)
        refs = await AsyncConcurrency.map(self._attachment, check_files(attachments))
        body = result_body(result_or_action, refs)
        if self._hold(tool_id, body):
            return
        self._submitted.add(tool_id)
        try:
            await self._tools.result(tool_id, body)
        except ConflictError:
            logger.info("tool call %s was already answered", tool_id)

    async def approve_tool(self, tool_id: str) -> None:
        """Let a tool call that waits for approval run (403 ``SignInRequiredError`` for keys
        that may not approve)."""
        tool_id = check_id("tool_id", tool_id)
        try:
            await self._tools.invoke(tool_id)
        except PermissionDeniedError as exc:
            raise sign_in_error(exc) from exc
        self._decided.add(tool_id)

    async def reject_tool(self, tool_id: str, reason: str | None = None) -> None:
        """Refuse a tool call that waits for approval; ``reason`` is told to the agent."""
        tool_id = check_id("tool_id", tool_id)
        try:
            await self._tools.reject(tool_id, reason=reason)
        except PermissionDeniedError as exc:
            raise sign_in_error(exc) from exc
        self._decided.add(tool_id)
        self._held.pop(tool_id, None)

    async def stream_messages(self, chat_id: str | None = None) -> AsyncIterator[ChatMessageDTO]:
        """Message updates of the chat as they happen, until you stop iterating."""
        async for event in self._watch(self._chat(chat_id)):
            if isinstance(event, MessageChanged):
                yield typed(ChatMessageDTO, event.message)

    async def stream_chat(self, chat_id: str | None = None) -> AsyncIterator[ChatDTO]:
        """Chat state updates (status, active run, output) until you stop iterating."""
        async for event in self._watch(self._chat(chat_id)):
            if isinstance(event, ChatChanged):
                yield typed(ChatDTO, event.chat)

    # Driving.

    async def _attachment(self, item: Any) -> FileRef:
        given = given_ref(item)
        return given if given is not None else await self.upload_file(item)

    def _watch(self, chat_id: str) -> AsyncIterator[MachineEvent]:
        machine = self._machine(gate=False)
        source = _AsyncChatSource(self._transport, chat_id, machine, None)
        return follow(machine, source, self._reconnects(chat_id, self._options(), None))

    async def _handle(self, events: Sequence[MachineEvent], callbacks: _Callbacks) -> None:
        on_message, on_tool_call, on_delta = callbacks
        for event in events:
            if isinstance(event, MessageChanged):
                if on_message is not None:
                    await AsyncConcurrency.call(on_message, typed(ChatMessageDTO, event.message))
            elif isinstance(event, DeltaReceived):
                if on_delta is not None:
                    delta = AgentDelta(
                        event.message_id, event.delta, event.output, event.seq, event.caught_up
                    )
                    await AsyncConcurrency.call(on_delta, delta)
            elif isinstance(event, (ToolWaiting, ApprovalWaiting)):
                info = ToolCallInfo.from_invocation(
                    event.invocation, isinstance(event, ApprovalWaiting)
                )
                if on_tool_call is not None and self._asks_callback(info):
                    await AsyncConcurrency.call(on_tool_call, info)
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
                result = tool_result_text(await AsyncConcurrency.run_handler(plan, dict(info.args)))
            except Exception as exc:
                result = error_result(info.name, exc)
        if info.id not in self._submitted:
            await self.submit_tool_result(info.id, result)


class _AsyncChatSource:
    """The I/O of following one chat: its stream, posting this turn's message once the stream
    is open, and its record, messages and status for reconciling and polling."""

    def __init__(
        self,
        transport: AsyncTransport,
        chat_id: str,
        machine: ChatMachine,
        request: ApiAgentRunRequest | None,
    ) -> None:
        self._transport = transport
        self._chat_id = chat_id
        self._machine = machine
        self._request = request
        self._agents = AsyncAgentsResource(transport)
        self._chats = AsyncChatsResource(transport)
        self._watch = StatusWatch()
        self._read_status = functools.partial(self._chats.status, chat_id)

    def open(self, idle_timeout: float | None) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._transport.open_stream(
            chat_stream_path(self._chat_id), accept=NDJSON, idle_timeout=idle_timeout
        )

    async def opened(self) -> Sequence[Any]:
        # Posted once, after the stream is open, so that no event of this turn is missed.
        if self._request is None:
            return ()
        request, self._request = self._request, None
        return accept_post(await self._agents.run(request), self._machine)

    async def reconcile(self) -> Sequence[Any]:
        events = self._machine.reconcile(state_of(await self._chats.get(self._chat_id)))
        if self._machine.needs_messages():
            events.extend(await _read_messages(self._chats, self._chat_id, self._machine))
        return events

    async def poll(self) -> Sequence[Any]:
        if not await status_changed(self._watch, self._read_status):
            return ()
        events = self._machine.reconcile(state_of(await self._chats.get(self._chat_id)))
        events.extend(await _read_messages(self._chats, self._chat_id, self._machine, always=True))
        return events


async def _read_messages(
    chats: AsyncChatsResource, chat_id: str, machine: ChatMachine, *, always: bool = False
) -> list[MachineEvent]:
    """Read the chat's messages back (``GET /chats/{id}/messages``, page by page) into
    ``machine``: while this turn's reply is not known in its final state, or ``always``."""
    events: list[MachineEvent] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await chats.list_messages(chat_id, cursor=cursor)
        events.extend(machine.adopt_messages(state_of(item) for item in page.items))
        cursor = page.next_cursor
        if not page.has_next or not cursor or not (always or machine.needs_messages()):
            break
    return events


class AsyncAgents(AsyncAgentsResource):
    """``client.agents``: ``client.agents.create(ref_or_config)`` returns an agent; every
    generated ``agents`` operation (``run``, ``get``, ``list``, ``save``, ...) is here too."""

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
        """An agent from a template ref ``"namespace/name@version"`` or an ad-hoc config.

        Nothing is sent until the first message. Per-chat context: ``client.agent(..., context=)``.
        """
        return AsyncAgent(
            self._http,
            self._files,
            agent,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )
