"""Sessions without I/O: stateful app execution on one warm worker.

``client.sessions`` is the generated ``sessions`` resource (``get``, ``list``, ``keepalive``,
``end``); ``client.session(app, ...)`` starts one and returns a handle
(``inferencesh._async.sessions.AsyncSession``, awaited or entered with ``async with``, and its
generated blocking twin) whose ``call()`` runs the app's functions in it and which ends the
session on exit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from inferencesh._errors import (
    InvalidInputError,
    InvalidResponseError,
    SessionEndedError,
    TaskFailedError,
)
from inferencesh._generated.models import TaskDTO
from inferencesh._generated.resources.sessions import AsyncSessionsResource, SessionsResource
from inferencesh._tasks import check_session_options

__all__ = [
    "AsyncSessions",
    "Sessions",
    "call_params",
    "ended_error",
    "failed_session",
    "session_id_of",
    "start_session_params",
]


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


def session_id_of(task: TaskDTO) -> str:
    """The session a started session's first task runs in."""
    session_id = task.session_id
    if not session_id:
        raise InvalidResponseError(
            f"the server started no session (task {task.id} has no session_id)",
            status_code=200,
        )
    return session_id


def ended_error(session_id: str) -> SessionEndedError:
    """The error of a call on a session this handle already ended."""
    return SessionEndedError(
        f"session {session_id} has been ended", status_code=410, code="SESSION_ENDED"
    )


Sessions = SessionsResource
"""``client.sessions``: get, list, keep alive and end sessions (all generated)."""

AsyncSessions = AsyncSessionsResource
"""``client.sessions`` of the async client."""


def start_session_params(
    app: str, input: Mapping[str, Any] | None, function: str, session_timeout: int | None
) -> dict[str, Any]:
    """The ``tasks.run`` params that start a session (checked before sending)."""
    return _start_params(app, input, function, session_timeout)


def call_params(
    app: str, session_id: str, function: str, input: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``tasks.run`` params of a call in a started session."""
    return {"app": app, "function": function, "input": dict(input or {}), "session": session_id}


def failed_session(exc: TaskFailedError) -> str | None:
    """The session a failed first call started, which must not be left leased."""
    return exc.task.session_id or None
