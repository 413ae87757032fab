"""Sessions: stateful app execution on one warm worker.

``client.sessions`` (the generated ``sessions`` resource: ``get``, ``list``, ``keepalive``, ``end``)
reads and ends sessions; ``client.session(app, ...)`` starts one and returns a handle whose
``call()`` runs the app's functions in it and which ends the session on exit.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, cast, overload

from inferencesh._errors import (
    InvalidInputError,
    InvalidResponseError,
    SessionEndedError,
    SessionError,
)
from inferencesh._generated.models import AppSessionDTO, TaskDTO, TaskResultDTO
from inferencesh._generated.resources.sessions import AsyncSessionsResource, SessionsResource
from inferencesh._logging import logger
from inferencesh.tasks import AsyncTasks, AsyncTaskStream, Tasks, TaskStream, check_session_options

__all__ = ["AsyncSession", "AsyncSessions", "Session", "Sessions"]


def _check_app(app: Any) -> str:
    if not isinstance(app, str) or not app.strip():
        raise InvalidInputError(f"app must be a non-empty app reference string, got {app!r}")
    return app


def _start_params(
    app: str, input: Mapping[str, Any] | None, function: str, session_timeout: int | None
) -> dict[str, Any]:
    check_session_options("new", session_timeout)
    if not isinstance(cast(object, function), str) or not function.strip():
        raise InvalidInputError(f"function must be a non-empty string, got {function!r}")
    params: dict[str, Any] = {
        "app": _check_app(app),
        "input": dict(input or {}),
        "function": function,
        "session": "new",
    }
    if session_timeout is not None:
        params["session_timeout"] = session_timeout
    return params


def _session_id_of(task: TaskDTO) -> str:
    session_id = task.session_id
    if not session_id:
        raise InvalidResponseError(
            f"the server started no session (task {task.id} has no session_id)",
            status_code=200,
        )
    return session_id


def _ended(session_id: str) -> SessionEndedError:
    return SessionEndedError(
        f"session {session_id} has been ended", status_code=410, code="SESSION_ENDED"
    )


Sessions = SessionsResource
"""``client.sessions``: get, list, keep alive and end sessions (all generated)."""

AsyncSessions = AsyncSessionsResource
"""``client.sessions`` of the async client."""


class Session:
    """A started session: ``call()`` runs functions in it; leaving the ``with`` block ends it."""

    def __init__(self, app: str, result: TaskDTO, tasks: Tasks, sessions: Sessions) -> None:
        self.app = app
        self.result = result
        self.session_id = _session_id_of(result)
        self._tasks = tasks
        self._sessions = sessions
        self._ended = False

    def __repr__(self) -> str:
        return f"Session(app={self.app!r}, session_id={self.session_id!r}, ended={self._ended})"

    @overload
    def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: bool = ...,
        stream: Literal[True],
        **options: Any,
    ) -> TaskStream: ...

    @overload
    def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: Literal[False],
        stream: Literal[False] = ...,
        **options: Any,
    ) -> TaskResultDTO: ...

    @overload
    def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: Literal[True] = ...,
        stream: Literal[False] = ...,
        **options: Any,
    ) -> TaskDTO: ...

    def call(
        self,
        function: str = "run",
        input: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        stream: bool = False,
        **options: Any,
    ) -> TaskDTO | TaskResultDTO | TaskStream:
        """Run ``function`` of the app in this session; same options as ``tasks.run``."""
        if self._ended:
            raise _ended(self.session_id)
        params = {
            "app": self.app,
            "function": function,
            "input": dict(input or {}),
            "session": self.session_id,
        }
        return self._tasks.run(params, wait=wait, stream=stream, **options)

    def info(self) -> AppSessionDTO:
        """The session record (``GET /sessions/{id}``)."""
        return self._sessions.get(self.session_id)

    def keepalive(self) -> AppSessionDTO:
        """Reset the idle timer."""
        return self._sessions.keepalive(self.session_id)

    def end(self) -> None:
        """End the session; calling it again does nothing."""
        if not self._ended:
            self._ended = True
            self._sessions.end(self.session_id)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.end()
        except SessionError:
            pass  # already gone on the server: the goal of end() is met
        except Exception:
            if exc is None:
                raise
            logger.warning("ending session %s failed", self.session_id, exc_info=True)


class AsyncSession:
    """Async twin of :class:`Session`: ``async with await client.session(...) as session``."""

    def __init__(
        self, app: str, result: TaskDTO, tasks: AsyncTasks, sessions: AsyncSessions
    ) -> None:
        self.app = app
        self.result = result
        self.session_id = _session_id_of(result)
        self._tasks = tasks
        self._sessions = sessions
        self._ended = False

    def __repr__(self) -> str:
        return (
            f"AsyncSession(app={self.app!r}, session_id={self.session_id!r}, ended={self._ended})"
        )

    @overload
    async def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: bool = ...,
        stream: Literal[True],
        **options: Any,
    ) -> AsyncTaskStream: ...

    @overload
    async def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: Literal[False],
        stream: Literal[False] = ...,
        **options: Any,
    ) -> TaskResultDTO: ...

    @overload
    async def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: Literal[True] = ...,
        stream: Literal[False] = ...,
        **options: Any,
    ) -> TaskDTO: ...

    async def call(
        self,
        function: str = "run",
        input: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        stream: bool = False,
        **options: Any,
    ) -> TaskDTO | TaskResultDTO | AsyncTaskStream:
        """Run ``function`` of the app in this session; same options as ``tasks.run``."""
        if self._ended:
            raise _ended(self.session_id)
        params = {
            "app": self.app,
            "function": function,
            "input": dict(input or {}),
            "session": self.session_id,
        }
        return await self._tasks.run(params, wait=wait, stream=stream, **options)

    async def info(self) -> AppSessionDTO:
        """The session record (``GET /sessions/{id}``)."""
        return await self._sessions.get(self.session_id)

    async def keepalive(self) -> AppSessionDTO:
        """Reset the idle timer."""
        return await self._sessions.keepalive(self.session_id)

    async def end(self) -> None:
        """End the session; calling it again does nothing."""
        if not self._ended:
            self._ended = True
            await self._sessions.end(self.session_id)

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.end()
        except SessionError:
            pass  # already gone on the server: the goal of end() is met
        except Exception:
            if exc is None:
                raise
            logger.warning("ending session %s failed", self.session_id, exc_info=True)


def start_session_params(
    app: str, input: Mapping[str, Any] | None, function: str, session_timeout: int | None
) -> dict[str, Any]:
    """The ``tasks.run`` params that start a session (checked before sending)."""
    return _start_params(app, input, function, session_timeout)
