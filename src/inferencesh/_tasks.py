"""Tasks without I/O: run requests checked before sending, outcomes and the follow options.

``client.tasks`` itself (``inferencesh._async.tasks.AsyncTasks`` and its generated blocking twin)
extends the generated ``tasks`` resource with ``run``, ``wait_for_completion`` and ``stream``;
what they decide without waiting is here. Typed stream updates are ``inferencesh._task_updates``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, ValidationError

from inferencesh._errors import InvalidInputError, TaskFailedError
from inferencesh._generated.models import ApiAppRunRequest
from inferencesh._input_files import InputPlan, plan_input
from inferencesh._status import parse_status
from inferencesh._transport import StreamOptions, check_poll_interval, deadline_of

if TYPE_CHECKING:
    from inferencesh._callbacks import (
        DeltaCallback,
        PartialUpdateCallback,
        TaskCallbacks,
        UpdateCallback,
    )
    from inferencesh._generated.models import TaskDTO
    from inferencesh._transport import TransportConfig

__all__ = [
    "FollowOptions",
    "RunOptions",
    "RunParams",
    "check_session_options",
    "check_task_id",
    "deadline_of",
    "follow_options",
    "plan_run",
    "stream_path",
    "task_callbacks",
    "task_outcome",
    "task_state",
]

RunParams = ApiAppRunRequest | Mapping[str, Any]
"""``POST /apps/run`` parameters: the documented dict or the generated request model."""


class FollowOptions(TypedDict, total=False):
    """How a call follows its task: the keyword arguments of ``tasks.wait_for_completion`` and
    ``tasks.stream`` (defaults: reconnect up to 5 times, 1000 ms apart; no callbacks; the
    client's ``stream=``)."""

    auto_reconnect: bool
    max_reconnects: int
    reconnect_delay_ms: int
    on_update: UpdateCallback | None
    on_partial_update: PartialUpdateCallback | None
    on_delta: DeltaCallback | None
    poll_interval: float | None


class RunOptions(FollowOptions, total=False):
    """The keyword arguments of ``tasks.run`` besides ``wait`` and ``stream``."""

    upload_files: bool


def _params_dict(params: Any) -> dict[str, Any]:
    if isinstance(params, BaseModel):
        return params.model_dump(mode="python", by_alias=True, exclude_unset=True)
    if isinstance(params, Mapping):
        return dict(params)  # pyright: ignore[reportUnknownArgumentType]
    raise InvalidInputError(
        f"params must be a dict or an ApiAppRunRequest, got {type(params).__name__}"
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _session_timeout_range() -> tuple[Any, Any]:
    """The bounds of ``session_timeout`` declared in schema/overrides.yaml (as generated)."""
    low = high = None
    for bound in ApiAppRunRequest.model_fields["session_timeout"].metadata:
        low = getattr(bound, "ge", low)
        high = getattr(bound, "le", high)
    return low, high


def check_session_options(session: Any, session_timeout: Any) -> None:
    """Refuse bad ``session`` / ``session_timeout`` values before anything is sent."""
    if session is not None and (not isinstance(session, str) or not session.strip()):
        raise InvalidInputError(f'session must be "new" or an existing session id, got {session!r}')
    if session_timeout is None:
        return
    low, high = _session_timeout_range()
    # The model would take "60" or 60.0; an int is what the documented API asks for.
    if not _is_int(session_timeout):
        raise InvalidInputError(
            f"session_timeout must be an int number of seconds from {low} to {high}, "
            f"got {session_timeout!r}"
        )
    try:
        ApiAppRunRequest(session_timeout=session_timeout)
    except ValidationError:
        raise InvalidInputError(
            f"session_timeout must be from {low} to {high} seconds, got {session_timeout}"
        ) from None
    if session != "new":
        raise InvalidInputError(
            f'session_timeout is only allowed with session="new" (got session={session!r})'
        )


class _RunPlan:
    """A checked run request whose input may still hold files to upload."""

    def __init__(self, request: ApiAppRunRequest, input_plan: InputPlan, has_input: bool) -> None:
        self.request = request
        self.input_plan = input_plan
        self.has_input = has_input

    def body(self, uris: list[str]) -> ApiAppRunRequest:
        if not self.has_input:
            return self.request
        return self.request.model_copy(update={"input": self.input_plan.fill(uris)})


def plan_run(params: Any, *, upload_files: bool) -> _RunPlan:
    """Check run parameters and plan their uploads; raise ``InvalidInputError`` before sending."""
    values = _params_dict(params)
    app = values.get("app")
    if app is None and not values.get("app_id"):
        raise InvalidInputError('params need "app": an app reference like "namespace/name@version"')
    if app is not None and (not isinstance(app, str) or not app.strip()):
        raise InvalidInputError(f"app must be a non-empty app reference string, got {app!r}")
    function = values.get("function")
    if function is not None and (not isinstance(function, str) or not function.strip()):
        raise InvalidInputError(f"function must be a non-empty string, got {function!r}")
    check_session_options(values.get("session"), values.get("session_timeout"))
    has_input = "input" in values
    input_plan = plan_input(values.pop("input", None), upload_files=upload_files)
    setup = values.get("setup")
    if setup is not None:
        values["setup"] = plan_input(setup, upload_files=False, where="setup").value
    try:
        request = ApiAppRunRequest.model_validate(values)
    except ValidationError as exc:
        raise InvalidInputError(_validation_message(exc)) from None
    return _RunPlan(request, input_plan, has_input)


def _validation_message(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "params"
        problems.append(f"{where}: {error['msg']}")
    return "invalid run parameters: " + "; ".join(problems)


def task_outcome(task: TaskDTO) -> TaskDTO:
    """The task if it completed; ``TaskFailedError`` if it failed, was cancelled or rejected."""
    status = parse_status(task.status)
    name = status.name if status is not None else "UNKNOWN"
    if name == "COMPLETED":
        return task
    detail = task.error or None
    task_id = task.id
    if name == "FAILED":
        message = detail or "task failed"
    elif name == "CANCELLED":
        message = "task cancelled"
    elif name == "REJECTED":
        message = f"task rejected: {detail}" if detail else "task rejected"
    else:
        message = f"task ended with status {name}"
    raise TaskFailedError(f"{message} (task {task_id})", task=task)


def follow_options(
    config: TransportConfig,
    auto_reconnect: bool,
    max_reconnects: int,
    reconnect_delay_ms: int,
    poll_interval: float | None,
    sse: bool = False,
) -> StreamOptions:
    """How a call follows its task: checked before anything is sent. ``poll_interval`` polls
    this call; without it the client's choice (``inference(stream=False)`` polls) applies."""
    if not _is_int(max_reconnects) or max_reconnects < 0:
        raise InvalidInputError(f"max_reconnects must be an int >= 0, got {max_reconnects!r}")
    if not _is_int(reconnect_delay_ms) or reconnect_delay_ms < 0:
        raise InvalidInputError(
            f"reconnect_delay_ms must be an int >= 0, got {reconnect_delay_ms!r}"
        )
    interval = check_poll_interval(poll_interval)
    if interval is None and not config.stream:
        interval = config.poll_interval
    return StreamOptions(
        auto_reconnect=auto_reconnect,
        max_reconnects=max_reconnects,
        reconnect_delay_ms=reconnect_delay_ms,
        idle_timeout=config.stream_idle_timeout,
        sse=sse,
        poll_interval=interval,
    )


def task_callbacks(
    on_update: UpdateCallback | None,
    on_partial_update: PartialUpdateCallback | None,
    on_delta: DeltaCallback | None,
    *,
    follows: bool = True,
) -> TaskCallbacks | None:
    """The callbacks of a call, checked before anything is sent; ``None`` without any.
    ``follows`` is false for ``run(wait=False)``, which hands out no updates to call them with."""
    given = {"on_update": on_update, "on_partial_update": on_partial_update, "on_delta": on_delta}
    for name, callback in given.items():
        if callback is not None and not callable(callback):
            raise InvalidInputError(f"{name} must be a function, got {type(callback).__name__}")
    if all(callback is None for callback in given.values()):
        return None
    if not follows:
        named = ", ".join(name for name, callback in given.items() if callback is not None)
        raise InvalidInputError(
            f"{named}: callbacks need a call that follows the task (wait=True or stream=True), "
            "not wait=False"
        )
    from inferencesh._callbacks import TaskCallbacks  # with the stream machinery it needs

    return TaskCallbacks(on_update, on_partial_update, on_delta)


def task_state(task: TaskDTO) -> dict[str, Any]:
    """A task read with a GET, as the stream machine holds states."""
    return task.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)


def check_task_id(task_id: Any) -> str:
    """A task id, checked before it goes into a path."""
    if not isinstance(task_id, str) or not task_id.strip() or "/" in task_id:
        raise InvalidInputError(f"task_id must be a task id string, got {task_id!r}")
    return task_id


def stream_path(task_id: str) -> str:
    """The task's stream route."""
    return f"/tasks/{task_id}/stream"
