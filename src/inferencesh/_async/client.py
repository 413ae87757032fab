"""The client: ``client = async_inference(api_key=...)``; then ``await client.tasks.run(...)``.

Every API group of the schema is a property from the generated ``AsyncResources`` mixin; the
groups with hand-written behaviour (``tasks``, ``files``, ``agents``) are overridden here with
classes that extend the generated resource. Groups are built on first use, so creating a client
loads no generated models. The configuration is read and checked by ``ClientBase``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from inferencesh._async.transport import AsyncTransport
from inferencesh._client import ClientBase
from inferencesh._concurrency import AsyncConcurrency
from inferencesh._errors import InferenceError, TaskFailedError
from inferencesh._generated.client import AsyncResources
from inferencesh._transport import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from inferencesh._agents._agent import AgentSpec
    from inferencesh._async.agent import AsyncAgent, AsyncAgents
    from inferencesh._async.files import AsyncFiles
    from inferencesh._async.sessions import AsyncSession
    from inferencesh._async.tasks import AsyncTasks, AsyncTaskStream
    from inferencesh._concurrency import AsyncStarting
    from inferencesh._files import ProgressCallback, UploadEncoding, UploadOptions, UploadSource
    from inferencesh._generated.models import FileDTO, TaskDTO, TaskResultDTO
    from inferencesh._runtime.request import RequestOptions
    from inferencesh._tasks import FollowOptions, RunOptions, RunParams

__all__ = ["AsyncInference", "async_inference"]


class AsyncInference(ClientBase, AsyncResources[AsyncTransport]):
    """A client: ``client = async_inference(api_key=...)``; then
    ``await client.tasks.run({...})``.

    Use ``async with`` (or ``await client.close()``) to release its connection pool.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
        proxy_url: str | None = None,
        strict_responses: bool = False,
        stream: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            max_concurrency=max_concurrency,
            stream_idle_timeout=stream_idle_timeout,
            proxy_url=proxy_url,
            strict_responses=strict_responses,
            stream=stream,
            poll_interval=poll_interval,
        )
        self._transport = AsyncTransport(self._config, http_client)

    @cached_property
    def files(self) -> AsyncFiles:
        """Upload files: ``await client.files.upload(path)``."""
        from inferencesh._async.files import AsyncFiles

        return AsyncFiles(self._transport)

    @cached_property
    def tasks(self) -> AsyncTasks:
        """Run, get, cancel, wait for and stream tasks."""
        from inferencesh._async.tasks import AsyncTasks

        return AsyncTasks(self._transport, lambda: self.files)

    @cached_property
    def agents(self) -> AsyncAgents:
        """Create agents: ``client.agents.create("my-org/assistant@abc123")``."""
        from inferencesh._async.agent import AsyncAgents

        return AsyncAgents(self._transport, self.files)

    def agent(
        self,
        agent: AgentSpec,
        context: Mapping[str, str] | None = None,
        *,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
    ) -> AsyncAgent:
        """An agent (template ref or ad-hoc config) with per-chat ``context`` variables."""
        from inferencesh._async.agent import AsyncAgent

        return AsyncAgent(
            self._transport,
            self.files,
            agent,
            context=context,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )

    async def run(
        self,
        params: RunParams,
        *,
        wait: bool = True,
        stream: bool = False,
        **options: Unpack[RunOptions],
    ) -> TaskDTO | TaskResultDTO | AsyncTaskStream:
        """Same as ``client.tasks.run`` (kept for code written against older SDKs)."""
        return await self.tasks.run(params, wait=wait, stream=stream, **options)

    async def get_task(self, task_id: str, **options: Unpack[RequestOptions]) -> TaskDTO:
        """Alias of ``client.tasks.get`` (the official Python SDK's name)."""
        return await self.tasks.get(task_id, **options)

    async def cancel(self, task_id: str) -> None:
        """Alias of ``client.tasks.cancel`` (the official Python SDK's name)."""
        await self.tasks.cancel(task_id)

    def stream_task(
        self, task_id: str, *, sse: bool = False, **options: Unpack[FollowOptions]
    ) -> AsyncTaskStream:
        """Alias of ``client.tasks.stream`` (the official Python SDK's name)."""
        return self.tasks.stream(task_id, sse=sse, **options)

    async def wait_for_completion(
        self, task_id: str, *, timeout: float | None = None, **options: Unpack[FollowOptions]
    ) -> TaskDTO:
        """Alias of ``client.tasks.wait_for_completion`` (the official Python SDK's name)."""
        return await self.tasks.wait_for_completion(task_id, timeout=timeout, **options)

    async def upload_file(
        self,
        data: UploadSource,
        options: UploadOptions | None = None,
        *,
        encoding: UploadEncoding | None = None,
        progress: ProgressCallback | bool | None = None,
    ) -> FileDTO:
        """Same as ``client.files.upload``."""
        return await self.files.upload(data, options, encoding=encoding, progress=progress)

    def session(
        self,
        app: str,
        input: Mapping[str, Any] | None = None,
        function: str = "run",
        session_timeout: int | None = None,
    ) -> AsyncStarting[AsyncSession]:
        """Start a session: run ``function`` of ``app`` with ``input`` in a new session and wait.

        ``async with client.session(app, input=...) as session:`` ends it on leaving;
        ``session = await client.session(app, ...)`` keeps it until ``session.end()``.
        """
        from inferencesh._sessions import start_session_params

        params = start_session_params(app, input, function, session_timeout)
        return AsyncConcurrency.starting(self._start_session(app, params))

    async def _start_session(self, app: str, params: dict[str, Any]) -> AsyncSession:
        from inferencesh._async.sessions import AsyncSession
        from inferencesh._sessions import failed_session

        try:
            result = await self.tasks.run(params)
        except TaskFailedError as exc:
            session_id = failed_session(exc)
            if session_id is not None:  # the first call failed: do not leave a worker leased
                with contextlib.suppress(InferenceError):
                    await self.sessions.end(session_id)
            raise
        return AsyncSession(app, result, self.tasks, self.sessions)

    async def close(self) -> None:
        """Close the connection pool (an injected ``http_client`` is left open)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncInference:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def async_inference(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    headers: Mapping[str, str] | None = None,
    http_client: httpx.AsyncClient | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
    proxy_url: str | None = None,
    strict_responses: bool = False,
    stream: bool = True,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> AsyncInference:
    """A client. The key comes from ``api_key`` or ``INFERENCE_API_KEY``; the base URL from
    ``base_url``, ``INFERENCE_BASE_URL`` or ``https://api.inference.sh``. With ``proxy_url=``
    (no key) every API request goes through a proxy that adds the key (``inferencesh.proxy``, or
    the JS SDK's server proxy).

    Success bodies are read as the Go server writes them: a missing field is its zero value.
    ``strict_responses=True`` refuses a body that lacks a field the schema requires (for
    conformance tests against a server of your own). ``stream=False`` follows tasks and agent
    turns by polling their status every ``poll_interval`` seconds instead of holding a stream
    open (for proxies, serverless functions and networks that cut long connections).
    """
    return AsyncInference(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        headers=headers,
        http_client=http_client,
        max_concurrency=max_concurrency,
        stream_idle_timeout=stream_idle_timeout,
        proxy_url=proxy_url,
        strict_responses=strict_responses,
        stream=stream,
        poll_interval=poll_interval,
    )
