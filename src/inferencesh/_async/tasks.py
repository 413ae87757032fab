"""``client.tasks``: run apps as tasks, wait for them, stream their updates.

``AsyncTasks`` extends the generated ``tasks`` resource (every ``tasks`` operation of the schema:
``create``, ``get``, ``status``, ``cancel``, ``list``, ...) with what takes more than one request:
input checks and automatic file upload before ``POST /apps/run``, then following the task, by
its stream or by polling, with the run callbacks.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from inferencesh._concurrency import AsyncConcurrency
from inferencesh._errors import WaitTimeoutError
from inferencesh._generated.resources.tasks import AsyncTasksResource
from inferencesh._runtime.base import TOLERANT
from inferencesh._status import is_terminal_status
from inferencesh._tasks import (
    RunOptions,
    RunParams,
    check_task_id,
    deadline_of,
    follow_options,
    plan_run,
    stream_path,
    task_callbacks,
    task_outcome,
    task_state,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from inferencesh._async.files import AsyncFiles
    from inferencesh._async.transport import AsyncTransport
    from inferencesh._callbacks import (
        DeltaCallback,
        PartialUpdateCallback,
        TaskCallbacks,
        UpdateCallback,
    )
    from inferencesh._generated.models import TaskDTO, TaskResultDTO
    from inferencesh._streaming import TaskStreamMachine
    from inferencesh._transport import StreamOptions

__all__ = ["AsyncTaskStream", "AsyncTasks"]


class AsyncTaskStream:
    """Typed task updates, until the task ends. Use it as a context manager to close early.

    ``result`` is the last update received (the final task once the stream is exhausted). The
    call's callbacks run as updates are read.
    """

    def __init__(
        self,
        updates: AsyncIterator[dict[str, Any]],
        context: Any = TOLERANT,
        callbacks: TaskCallbacks | None = None,
    ) -> None:
        from inferencesh._task_updates import TaskBuilder  # loads TaskDTO: see that module

        self._updates = updates
        self._build = TaskBuilder(context).build
        self._callbacks = callbacks
        self.result: TaskDTO | None = None
        self._tasks = self._iterate()

    def __aiter__(self) -> AsyncGenerator[TaskDTO]:
        return self._tasks

    async def __anext__(self) -> TaskDTO:
        return await self._tasks.__anext__()

    async def _iterate(self) -> AsyncGenerator[TaskDTO]:
        # One generator for the whole stream: resuming it costs less per update than a call.
        build, callbacks = self._build, self._callbacks
        async for state in self._updates:
            task = build(state)
            self.result = task
            if callbacks is not None:
                for callback, arguments in callbacks.calls(task, state):
                    await AsyncConcurrency.call(callback, *arguments)
            yield task

    async def close(self) -> None:
        """Stop reading and close the connection."""
        await self._tasks.aclose()
        aclose = getattr(self._updates, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncTaskStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class _AsyncTaskSource:
    """The I/O of following one task: its stream, and its record and status for reconciling
    and polling."""

    def __init__(
        self,
        tasks: AsyncTasks,
        transport: AsyncTransport,
        task_id: str,
        machine: TaskStreamMachine,
        accept: str,
    ) -> None:
        from inferencesh._streaming import StatusWatch

        self._tasks = tasks
        self._transport = transport
        self._task_id = task_id
        self._machine = machine
        self._accept = accept
        self._watch = StatusWatch()
        self._read_status = functools.partial(tasks.status, task_id)

    def open(self, idle_timeout: float | None) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._transport.open_stream(
            stream_path(self._task_id), accept=self._accept, idle_timeout=idle_timeout
        )

    async def opened(self) -> Sequence[Any]:
        return ()

    async def reconcile(self) -> Sequence[Any]:
        state = self._machine.reconcile(task_state(await self._tasks.get(self._task_id)))
        return () if state is None else (state,)

    async def poll(self) -> Sequence[Any]:
        from inferencesh._async.follow import status_changed

        if not await status_changed(self._watch, self._read_status):
            return ()
        state = self._machine.adopt(task_state(await self._tasks.get(self._task_id)))
        return () if state is None else (state,)


class AsyncTasks(AsyncTasksResource):
    """``client.tasks``: run, wait for and stream tasks, and every generated task operation."""

    def __init__(self, transport: AsyncTransport, files: Callable[[], AsyncFiles]) -> None:
        super().__init__(transport)
        self._http = transport
        self._files = files  # the client's files, built at the first upload
        self._context = transport.config.read_context

    @overload
    async def run(
        self,
        params: RunParams,
        *,
        wait: bool = ...,
        stream: Literal[True],
        **options: Unpack[RunOptions],
    ) -> AsyncTaskStream: ...

    @overload
    async def run(
        self,
        params: RunParams,
        *,
        wait: Literal[False],
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> TaskResultDTO: ...

    @overload
    async def run(
        self,
        params: RunParams,
        *,
        wait: Literal[True] = ...,
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> TaskDTO: ...

    @overload
    async def run(
        self,
        params: RunParams,
        *,
        wait: bool = ...,
        stream: bool = ...,
        **options: Unpack[RunOptions],
    ) -> TaskDTO | TaskResultDTO | AsyncTaskStream: ...

    async def run(
        self,
        params: RunParams,
        *,
        wait: bool = True,
        stream: bool = False,
        auto_reconnect: bool = True,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
        upload_files: bool = True,
        on_update: UpdateCallback | None = None,
        on_partial_update: PartialUpdateCallback | None = None,
        on_delta: DeltaCallback | None = None,
        poll_interval: float | None = None,
    ) -> TaskDTO | TaskResultDTO | AsyncTaskStream:
        """Run an app: the completed task (``wait=True``), the created task (``wait=False``)
        or typed updates (``stream=True``: ``async for update in await client.tasks.run(...)``).

        ``(await client.tasks.run({"app": "infsh/echo", "input": {"text": "hi"}}))["output"]``.
        Raises ``TaskFailedError`` (a ``RuntimeError``) when a waited-for task fails.
        ``on_update(task)`` is called with every update, ``on_partial_update(task, fields)``
        with each partial update and the fields it changed, ``on_delta(delta)`` with each token
        delta (a ``TaskDelta`` with its ``seq``); they may be plain functions or coroutines.
        ``poll_interval`` (seconds) follows the task by polling its status instead of holding a
        stream open; the client's ``stream=False`` makes that the default.
        """
        options = follow_options(
            self._http.config, auto_reconnect, max_reconnects, reconnect_delay_ms, poll_interval
        )
        callbacks = task_callbacks(on_update, on_partial_update, on_delta, follows=wait or stream)
        plan = plan_run(params, upload_files=upload_files)
        uploads = plan.input_plan.uploads
        uris = await self._files().upload_many(uploads) if uploads else []
        created = await self.create(plan.body(uris))
        if stream:
            return AsyncTaskStream(self._follow(created.id, options), self._context, callbacks)
        if not wait:
            return created
        return await self._wait(created.id, options, None, callbacks)

    async def wait_for_completion(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        auto_reconnect: bool = True,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
        on_update: UpdateCallback | None = None,
        on_partial_update: PartialUpdateCallback | None = None,
        on_delta: DeltaCallback | None = None,
        poll_interval: float | None = None,
    ) -> TaskDTO:
        """Wait until the task ends; return it if completed, else raise ``TaskFailedError``.

        With ``timeout`` (seconds) raise ``WaitTimeoutError`` when the task is still running then.
        Callbacks and ``poll_interval`` as for ``run``.
        """
        options = follow_options(
            self._http.config, auto_reconnect, max_reconnects, reconnect_delay_ms, poll_interval
        )
        callbacks = task_callbacks(on_update, on_partial_update, on_delta)
        deadline = deadline_of(timeout)
        return await self._wait(check_task_id(task_id), options, deadline, callbacks)

    def stream(
        self,
        task_id: str,
        *,
        auto_reconnect: bool = True,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
        sse: bool = False,
        on_update: UpdateCallback | None = None,
        on_partial_update: PartialUpdateCallback | None = None,
        on_delta: DeltaCallback | None = None,
        poll_interval: float | None = None,
    ) -> AsyncTaskStream:
        """Typed updates of an existing task: ``async with client.tasks.stream(id) as s: ...``.

        Callbacks and ``poll_interval`` as for ``run``; ``sse=True`` asks for server-sent events
        instead of NDJSON.
        """
        options = follow_options(
            self._http.config,
            auto_reconnect,
            max_reconnects,
            reconnect_delay_ms,
            poll_interval,
            sse,
        )
        callbacks = task_callbacks(on_update, on_partial_update, on_delta)
        updates = self._follow(check_task_id(task_id), options)
        return AsyncTaskStream(updates, self._context, callbacks)

    def _follow(
        self, task_id: str, options: StreamOptions, deadline: float | None = None
    ) -> AsyncGenerator[dict[str, Any]]:
        # The stream machinery loads when a call first follows a task: run(wait=False) and the
        # plain reads do without it.
        from inferencesh._async.follow import follow
        from inferencesh._streaming import Reconnects, TaskStreamMachine

        machine = TaskStreamMachine(sse=options.sse, operation=f"GET {stream_path(task_id)}")
        source = _AsyncTaskSource(self, self._http, task_id, machine, options.accept)
        return follow(machine, source, Reconnects(f"task {task_id}", options, deadline))

    async def _wait(
        self,
        task_id: str,
        options: StreamOptions,
        deadline: float | None,
        callbacks: TaskCallbacks | None,
    ) -> TaskDTO:
        updates = self._follow(task_id, options, deadline)
        task: TaskDTO | None = None
        if callbacks is None:
            # Nothing to call: read the states alone, and build the typed task of the last.
            last: dict[str, Any] | None = None
            async with aclosing(updates):
                async for state in updates:
                    last = state
            if last is not None:
                from inferencesh._task_updates import to_task  # loads TaskDTO: see that module

                task = to_task(last, self._context)
        else:
            async with AsyncTaskStream(updates, self._context, callbacks) as stream:
                async for _ in stream:
                    pass
                task = stream.result
        if task is None or not is_terminal_status(task.status):
            task = await self.get(task_id)
            if not is_terminal_status(task.status):
                raise WaitTimeoutError(f"task {task_id} did not finish before the timeout")
        return task_outcome(task)
