"""``Inference`` and ``AsyncInference``: the client objects.

Both share ``_BaseInference``, which reads the configuration (key, base URL, retries, timeouts);
they differ only in the transport they own and in awaiting. Every API group of the schema is a
property from the generated ``SyncResources`` / ``AsyncResources`` mixins; the groups with
hand-written behaviour (``tasks``, ``files``, ``agents``) are overridden here with
classes that extend the generated resource. Groups are built on first use, so creating a client
loads no generated models.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import httpx

from inferencesh._errors import (
    InferenceError,
    InvalidInputError,
    MissingAPIKeyError,
    TaskFailedError,
)
from inferencesh._generated.client import AsyncResources, SyncResources
from inferencesh._logging import register_secret
from inferencesh._transport import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
    AsyncTransport,
    SyncTransport,
    TransportConfig,
)

if TYPE_CHECKING:
    from inferencesh._generated.models import FileDTO, TaskDTO, TaskResultDTO
    from inferencesh.agents import Agent, Agents, AgentSpec, AsyncAgent, AsyncAgents
    from inferencesh.files import (
        AsyncFiles,
        Files,
        ProgressCallback,
        UploadEncoding,
        UploadOptions,
    )
    from inferencesh.files import UploadSource as UploadSource
    from inferencesh.sessions import AsyncSession, Session
    from inferencesh.tasks import AsyncTasks, AsyncTaskStream, RunParams, Tasks, TaskStream

__all__ = ["AsyncInference", "Inference", "async_inference", "inference"]


def _api_key(api_key: str | None, proxy_url: str | None) -> str | None:
    """The key to send; none in ``proxy_url`` mode, where the proxy adds it."""
    if proxy_url is not None:
        if api_key is not None:
            raise InvalidInputError(
                "pass api_key or proxy_url, not both: with proxy_url the proxy adds the key"
            )
        return None
    key = api_key if api_key is not None else os.environ.get("INFERENCE_API_KEY")
    if not isinstance(key, str) or not key.strip():
        raise MissingAPIKeyError(
            "no API key: pass inference(api_key=...), set INFERENCE_API_KEY, "
            "or use proxy_url=... behind a proxy that adds it"
        )
    key = key.strip()
    register_secret(key)
    return key


def _session_of(exc: TaskFailedError) -> str | None:
    from inferencesh._generated.models import TaskDTO

    task = exc.task
    return (task.session_id or None) if isinstance(task, TaskDTO) else None


class _BaseInference:
    """Configuration shared by the sync and async clients; no I/O."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        headers: Mapping[str, str] | None,
        max_concurrency: int,
        stream_idle_timeout: float | None,
        proxy_url: str | None,
        strict_responses: bool,
    ) -> None:
        key = _api_key(api_key, proxy_url)
        url = base_url or os.environ.get("INFERENCE_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(cast(object, url), str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must be an http(s) URL, got {url!r}")
        if type(cast(object, max_retries)) is not int:
            raise InvalidInputError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if type(cast(object, strict_responses)) is not bool:
            raise InvalidInputError(
                f"strict_responses must be True or False, got {strict_responses!r}"
            )
        self._config = TransportConfig(
            api_key=key,
            base_url=url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            max_concurrency=max_concurrency,
            stream_idle_timeout=stream_idle_timeout,
            proxy_url=proxy_url,
            strict_responses=strict_responses,
        )

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        """How many times a failed request is retried (when retrying is safe)."""
        return self._config.max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class Inference(_BaseInference, SyncResources[SyncTransport]):
    """The blocking client: ``client = inference(api_key=...)``; ``client.tasks.run({...})``.

    Use it as a context manager (or call ``close()``) to release its connection pool.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
        proxy_url: str | None = None,
        strict_responses: bool = False,
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
        )
        self._transport = SyncTransport(self._config, http_client)

    @cached_property
    def files(self) -> Files:
        """Upload files: ``client.files.upload(path)``."""
        from inferencesh.files import Files

        return Files(self._transport)

    @cached_property
    def tasks(self) -> Tasks:
        """Run, get, cancel, wait for and stream tasks."""
        from inferencesh.tasks import Tasks

        return Tasks(self._transport, self.files)

    @cached_property
    def agents(self) -> Agents:
        """Create agents: ``client.agents.create("my-org/assistant@abc123")``."""
        from inferencesh.agents import Agents

        return Agents(self._transport, self.files)

    def agent(
        self,
        agent: AgentSpec,
        context: Mapping[str, str] | None = None,
        *,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
    ) -> Agent:
        """An agent (template ref or ad-hoc config) with per-chat ``context`` variables."""
        from inferencesh.agents import Agent

        return Agent(
            self._transport,
            self.files,
            agent,
            context=context,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
        )

    def run(
        self,
        params: RunParams,
        *,
        wait: bool = True,
        stream: bool = False,
        auto_reconnect: bool = True,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
        upload_files: bool = True,
    ) -> TaskDTO | TaskResultDTO | TaskStream:
        """Same as ``client.tasks.run`` (kept for code written against older SDKs)."""
        return self.tasks.run(
            params,
            wait=wait,
            stream=stream,
            auto_reconnect=auto_reconnect,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
            upload_files=upload_files,
        )

    def upload_file(
        self,
        data: UploadSource,
        options: UploadOptions | None = None,
        *,
        encoding: UploadEncoding | None = None,
        progress: ProgressCallback | bool | None = None,
    ) -> FileDTO:
        """Same as ``client.files.upload``."""
        return self.files.upload(data, options, encoding=encoding, progress=progress)

    def session(
        self,
        app: str,
        input: Mapping[str, Any] | None = None,
        function: str = "run",
        session_timeout: int | None = None,
    ) -> Session:
        """Start a session (runs ``function`` with ``input`` and waits), ended on ``with`` exit."""
        from inferencesh.sessions import Session, start_session_params

        params = start_session_params(app, input, function, session_timeout)
        try:
            result = self.tasks.run(params)
        except TaskFailedError as exc:
            session_id = _session_of(exc)
            if session_id is not None:  # the first call failed: do not leave a worker leased
                with contextlib.suppress(InferenceError):
                    self.sessions.end(session_id)
            raise
        return Session(app, result, self.tasks, self.sessions)

    def close(self) -> None:
        """Close the connection pool (an injected ``http_client`` is left open)."""
        self._transport.close()

    def __enter__(self) -> Inference:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncInference(_BaseInference, AsyncResources[AsyncTransport]):
    """The async client: ``client = async_inference(api_key=...)``; ``await client.tasks.run(...)``.

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
        )
        self._transport = AsyncTransport(self._config, http_client)

    @cached_property
    def files(self) -> AsyncFiles:
        """Upload files: ``await client.files.upload(path)``."""
        from inferencesh.files import AsyncFiles

        return AsyncFiles(self._transport)

    @cached_property
    def tasks(self) -> AsyncTasks:
        """Run, get, cancel, wait for and stream tasks."""
        from inferencesh.tasks import AsyncTasks

        return AsyncTasks(self._transport, self.files)

    @cached_property
    def agents(self) -> AsyncAgents:
        """Create agents: ``client.agents.create("my-org/assistant@abc123")``."""
        from inferencesh.agents import AsyncAgents

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
        from inferencesh.agents import AsyncAgent

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
        auto_reconnect: bool = True,
        max_reconnects: int = 5,
        reconnect_delay_ms: int = 1000,
        upload_files: bool = True,
    ) -> TaskDTO | TaskResultDTO | AsyncTaskStream:
        """Same as ``client.tasks.run`` (kept for code written against older SDKs)."""
        return await self.tasks.run(
            params,
            wait=wait,
            stream=stream,
            auto_reconnect=auto_reconnect,
            max_reconnects=max_reconnects,
            reconnect_delay_ms=reconnect_delay_ms,
            upload_files=upload_files,
        )

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

    async def session(
        self,
        app: str,
        input: Mapping[str, Any] | None = None,
        function: str = "run",
        session_timeout: int | None = None,
    ) -> AsyncSession:
        """Start a session: ``async with await client.session(app, input=...) as session``."""
        from inferencesh.sessions import AsyncSession, start_session_params

        params = start_session_params(app, input, function, session_timeout)
        try:
            result = await self.tasks.run(params)
        except TaskFailedError as exc:
            session_id = _session_of(exc)
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


def inference(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    headers: Mapping[str, str] | None = None,
    http_client: httpx.Client | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
    proxy_url: str | None = None,
    strict_responses: bool = False,
) -> Inference:
    """A blocking client. The key comes from ``api_key`` or ``INFERENCE_API_KEY``; the base URL
    from ``base_url``, ``INFERENCE_BASE_URL`` or ``https://api.inference.sh``. With
    ``proxy_url=`` (no key) every API request goes through a proxy that adds the key
    (``inferencesh.proxy``, or the JS SDK's server proxy).

    Success bodies are read as the Go server writes them: a missing field is its zero value.
    ``strict_responses=True`` refuses a body that lacks a field the schema requires (for
    conformance tests against a server of your own).
    """
    return Inference(
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
    )


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
) -> AsyncInference:
    """An async client; same configuration as :func:`inference`."""
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
    )
