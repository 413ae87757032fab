"""A started session: ``call()`` runs the app's functions in it, leaving ``with`` ends it."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from inferencesh._errors import SessionError
from inferencesh._generated.models import AppSessionDTO, TaskDTO, TaskResultDTO
from inferencesh._logging import logger
from inferencesh._sessions import AsyncSessions, call_params, ended_error, session_id_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from inferencesh._async.tasks import AsyncTasks, AsyncTaskStream
    from inferencesh._tasks import RunOptions

__all__ = ["AsyncSession"]


class AsyncSession:
    """A started session: ``async with client.session(app, input=...) as session``.

    ``call()`` runs a function of the app in the session (same options as ``tasks.run``);
    leaving the ``with`` block ends the session.
    """

    def __init__(
        self, app: str, result: TaskDTO, tasks: AsyncTasks, sessions: AsyncSessions
    ) -> None:
        self.app = app
        self.result = result
        self.session_id = session_id_of(result)
        self._tasks = tasks
        self._sessions = sessions
        self._ended = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(app={self.app!r}, session_id={self.session_id!r}, "
            f"ended={self._ended})"
        )

    @overload
    async def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: bool = ...,
        stream: Literal[True],
        **options: Unpack[RunOptions],
    ) -> AsyncTaskStream: ...

    @overload
    async def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: Literal[False],
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> TaskResultDTO: ...

    @overload
    async def call(
        self,
        function: str = ...,
        input: Mapping[str, Any] | None = ...,
        *,
        wait: Literal[True] = ...,
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> TaskDTO: ...

    async def call(
        self,
        function: str = "run",
        input: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        stream: bool = False,
        **options: Unpack[RunOptions],
    ) -> TaskDTO | TaskResultDTO | AsyncTaskStream:
        """Run ``function`` of the app in this session; the options (callbacks,
        ``poll_interval``, reconnects) are ``tasks.run``'s."""
        if self._ended:
            raise ended_error(self.session_id)
        params = call_params(self.app, self.session_id, function, input)
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
