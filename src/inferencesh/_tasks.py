"""Tasks without I/O: run requests checked before sending, outcomes, typed stream updates and
the run callbacks.

``client.tasks`` itself (``inferencesh._async.tasks.AsyncTasks`` and its generated blocking twin)
extends the generated ``tasks`` resource with ``run``, ``wait_for_completion`` and ``stream``;
what they decide without waiting is here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, SupportsIndex, TypedDict, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from inferencesh._callbacks import DeltaCallback, PartialUpdateCallback, UpdateCallback
from inferencesh._errors import InvalidInputError, TaskFailedError
from inferencesh._files import InputPlan, plan_input
from inferencesh._generated.models import ApiAppRunRequest, TaskDTO, TaskStatus
from inferencesh._runtime.base import TOLERANT
from inferencesh._status import parse_status
from inferencesh._streaming import StreamOptions
from inferencesh._transport import check_poll_interval

if TYPE_CHECKING:
    from inferencesh._transport import TransportConfig

__all__ = [
    "FollowOptions",
    "RunOptions",
    "RunParams",
    "TaskBuilder",
    "check_session_options",
    "check_task_id",
    "deadline_of",
    "follow_options",
    "plan_run",
    "stream_path",
    "task_outcome",
    "task_state",
    "to_task",
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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def deadline_of(timeout: float | None) -> float | None:
    """The monotonic deadline of a ``timeout`` in seconds (checked), or ``None``."""
    if timeout is None:
        return None
    if not _is_number(timeout) or timeout <= 0:
        raise InvalidInputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return time.monotonic() + timeout


def _to_task(state: dict[str, Any], context: Any = TOLERANT) -> TaskDTO:
    """The ``TaskDTO`` of a stream state, read in full (tolerantly unless ``context`` is strict)."""
    status = state.get("status")
    if isinstance(status, str):
        # A status name this client does not know yet: unknown, never terminal.
        state = {**state, "status": parse_status(status)}
    try:
        return TaskDTO.model_validate(state, context=context)
    except ValidationError:
        # Strict reads only: a slim stream update (e.g. a delta before the first snapshot) lacks
        # fields a full task has; hand it out as it came rather than failing the stream.
        fields = dict(state)
        fields["status"] = parse_status(fields.get("status")) or TaskStatus.UNKNOWN
        return TaskDTO.model_construct(**fields)


# A field read by the stream builder: _PLAIN (no validation: Any fields, unknown fields), a memo
# dict (enum fields: exact ints and strings seen before -> member), or its validator.
_PLAIN: Any = object()
_Validate = Callable[[Any], Any]
_Kind = Any
# field name -> how it is read, for strict reads (False) and tolerant ones (True)
_KINDS: dict[bool, dict[str, _Kind]] = {False: {}, True: {}}
_ENUM_MEMO_SIZE = 256


def _field_kind(name: str, context: Any) -> _Kind:
    """How the stream builder reads one ``TaskDTO`` field with ``context``."""
    kinds = _KINDS[context is not None]
    if name in kinds:
        return kinds[name]
    field = TaskDTO.model_fields.get(name)
    if field is None or field.alias not in (None, name):
        return _PLAIN  # an unknown field: kept as sent, and not remembered (a server picks them)
    kind: _Kind = _PLAIN
    if field.annotation is not Any:
        annotation: Any = field.annotation
        if field.metadata:
            params = (annotation, *field.metadata)
            annotation = cast(Any, Annotated)[params]
        # The core validator itself: TypeAdapter.validate_python only forwards to it.
        validator = TypeAdapter(annotation).validator
        kind = functools.partial(validator.validate_python, context=context)
        if isinstance(field.annotation, type) and issubclass(field.annotation, Enum):
            kind = _EnumMemo(kind)
    kinds[name] = kind
    return kind


class _EnumMemo(dict[Any, Any]):
    """An enum field's validator that remembers the members exact ints and strings gave:
    members are singletons, and a stream repeats its status on every partial update."""

    __slots__ = ("validate",)

    def __init__(self, validate: _Validate) -> None:
        super().__init__()
        self.validate = validate

    def __call__(self, value: Any) -> Any:
        result = self.validate(value)
        if (type(value) is int or type(value) is str) and len(self) < _ENUM_MEMO_SIZE:
            self[value] = result
        return result


_FIELDS = frozenset(TaskDTO.__pydantic_fields__)
_new_model = object.__new__
# The storage of a model, read and set as pydantic's own copy does: its ``__dict__`` (the
# field values), and pydantic's three slots.
_values_slot = BaseModel.__dict__["__dict__"]
_get_values: Callable[[BaseModel], dict[str, Any]] = _values_slot.__get__
_set_values: Callable[[BaseModel, dict[str, Any]], None] = _values_slot.__set__
_MODEL_SLOTS: dict[str, Any] = {
    name: BaseModel.__dict__[name]
    for name in ("__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")
}
_fields_set_slot = _MODEL_SLOTS["__pydantic_fields_set__"]
_set_extra: Callable[[BaseModel, Any], None] = _MODEL_SLOTS["__pydantic_extra__"].__set__
_set_fields_set: Callable[[BaseModel, Any], None] = _fields_set_slot.__set__
_set_private: Callable[[BaseModel, Any], None] = _MODEL_SLOTS["__pydantic_private__"].__set__


def _validated(
    state: dict[str, Any], changed: frozenset[str], context: Any
) -> dict[str, Any] | None:
    """The ``changed`` fields of ``state``, validated; ``None`` if a value fails on its own."""
    kinds = _KINDS[context is not None]
    update: dict[str, Any] = {}
    try:
        for key in changed:
            value = state.get(key)
            kind = kinds.get(key)
            if kind is None:
                kind = _field_kind(key, context)
            if kind is _PLAIN:
                update[key] = value
            elif type(kind) is _EnumMemo and (type(value) is int or type(value) is str):
                member = kind.get(value)
                update[key] = kind(value) if member is None else member
            else:
                update[key] = kind(value)
    except ValidationError:
        return None
    return update


# A built stream update, as its successors build on it: its field values as built (its
# ``__dict__`` until someone assigns to it), the set fields, the unknown fields (pydantic's
# "extra") and the private values. Never changed once made, so successive updates share what
# did not change; each update's own mutable copies are made when pydantic first asks for them.
_Record = tuple[dict[str, Any], frozenset[str], "dict[str, Any] | None", Any]
# What a stream update is built from: its state, the update built before it that it builds on
# (or None), the fields changed since that one's state (None: unknown), the validation context.
_Source = tuple[dict[str, Any], TaskDTO | None, frozenset[str] | None, Any]


def _updated(record: _Record, update: dict[str, Any], changed: frozenset[str]) -> _Record:
    """``record`` with ``update`` (validated values of the ``changed`` fields) applied."""
    values, fields, extra, private = record
    values = {**values}
    if extra is None or _FIELDS.issuperset(update):
        values.update(update)
    else:
        extra = {**extra}
        for key, value in update.items():
            if key in _FIELDS:
                values[key] = value
            else:
                extra[key] = value
    if not changed <= fields:
        fields = fields | changed
    return values, fields, extra, private


def _built_values(task: TaskDTO) -> dict[str, Any]:
    """A stream update's ``__dict__``, built on first use: only the fields changed since the
    update it builds on are validated; the whole state when there is none (a full snapshot)
    or a value fails on its own."""
    values = _get_values(task)
    if values:
        return values
    source = _source_of(task)
    if source is None:  # made by pydantic itself (a copy): nothing is pending
        return values
    state, base, changed, context = source
    record: _Record | None = None
    if base is not None and changed is not None:
        update = _validated(state, changed, context)
        if update is not None:
            record = _updated(_get_record(base), update, changed)
    if record is None:
        full = _to_task(state, context)
        fields = frozenset(full.__pydantic_fields_set__)
        record = (_get_values(full), fields, full.__pydantic_extra__, full.__pydantic_private__)
    _set_record(task, record)
    _set_source(task, None)
    _set_values(task, record[0])  # last: a model with values is a built one
    return record[0]


def _fill_slots(task: TaskDTO) -> None:
    """Give a built stream update its own fields set, extra and private values."""
    record = _record_of(task)
    if record is not None:
        _, fields, extra, private = record
        _set_extra(task, None if extra is None else {**extra})
        _set_fields_set(task, set(fields))
        _set_private(task, None if private is None else {**private})


class _StreamTask(TaskDTO):
    """A stream update: a ``TaskDTO`` in every respect, built on first use.

    Until then it holds its stream state (never changed once handed out) and what to build on.
    Python and pydantic reach a model's values through ``__dict__`` or, for a name not in it,
    the class (``_Field``) and ``__getattr__``: each builds them first. Assigning to a field
    copies the values first, so no other update ever sees it. It pickles as a plain
    ``TaskDTO`` and compares equal to one with the same values.
    """

    __slots__ = ("_record", "_source")

    if not TYPE_CHECKING:  # as pydantic's own: type checkers see a plain TaskDTO
        __dict__ = property(_built_values, _set_values)

        def __getattr__(self, name: str) -> Any:
            _built_values(self)
            try:
                _fields_set_slot.__get__(self)
            except AttributeError:
                _fill_slots(self)
                if name in _MODEL_SLOTS:
                    return _MODEL_SLOTS[name].__get__(self)
            return super().__getattr__(name)

        def __setattr__(self, name: str, value: Any) -> None:
            _own_values(self)
            super().__setattr__(name, value)

        def __delattr__(self, name: str) -> None:
            _own_values(self)
            super().__delattr__(name)

    def __repr_name__(self) -> str:
        return "TaskDTO"

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        return _plain_task, (self.__getstate__(),)


def _plain_task(state: dict[Any, Any]) -> TaskDTO:
    """A pickled stream update, unpickled as a plain ``TaskDTO``."""
    task: TaskDTO = _new_model(TaskDTO)
    task.__setstate__(state)
    return task


class _Field:
    """A field of a stream update whose values are not built yet: build them, then read.
    (Once built, the value in ``__dict__`` comes first: this is not called again.)"""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, task: TaskDTO | None, owner: Any = None) -> Any:
        if task is None:
            raise AttributeError(self.name)
        try:
            return _built_values(task)[self.name]
        except KeyError:  # no value (a strict read that failed): __getattr__ answers as pydantic
            raise AttributeError(self.name) from None


# Set after the class is made, so that pydantic does not read them as field defaults.
for _name in _FIELDS:
    setattr(_StreamTask, _name, _Field(_name))
# pydantic compares models of one origin by their values, as it does a parametrized generic
# model (Model[int]) and its origin (Model): a stream update equals a TaskDTO read otherwise.
_StreamTask.__pydantic_generic_metadata__ = {"origin": TaskDTO, "args": (), "parameters": ()}

_source_slot = _StreamTask.__dict__["_source"]
_record_slot = _StreamTask.__dict__["_record"]
_set_source: Callable[[TaskDTO, _Source | None], None] = _source_slot.__set__
_set_record: Callable[[TaskDTO, _Record], None] = _record_slot.__set__
# For updates the builder made (both slots set); pydantic's copies have neither: _source_of.
_get_source: Callable[[TaskDTO], _Source | None] = _source_slot.__get__
_get_record: Callable[[TaskDTO], _Record] = _record_slot.__get__


def _source_of(task: TaskDTO) -> _Source | None:
    try:
        source: _Source | None = _source_slot.__get__(task)
    except AttributeError:  # never set: made by pydantic itself, not by a stream
        return None
    return source


def _record_of(task: TaskDTO) -> _Record | None:
    try:
        record: _Record = _record_slot.__get__(task)
    except AttributeError:  # not built by a stream
        return None
    return record


def _own_values(task: TaskDTO) -> None:
    """Before an assignment: give ``task`` its own ``__dict__`` if it still is its record's,
    which later updates build on."""
    values = _built_values(task)
    record = _record_of(task)
    if record is not None and values is record[0]:
        _set_values(task, {**values})


_NOTHING: frozenset[str] = frozenset()


class _TaskBuilder:
    """Turns successive stream states into ``TaskDTO``s that are built when first used.

    Handing an update out costs next to nothing. Building one validates only the fields the
    machine reported changed since the last update that was already built when it was handed
    out (when a consumer reads every update: the one before it), and shares that one's values;
    a full snapshot, or an update with nothing built before it, is validated whole.
    """

    def __init__(self, context: Any = TOLERANT) -> None:
        self._context = context
        self._last: TaskDTO | None = None  # the update handed out last
        self._base: TaskDTO | None = None  # a built update the next ones build on
        self._since: frozenset[str] | None = None  # fields changed since its state (None: unknown)

    def build(self, state: dict[str, Any]) -> TaskDTO:
        """The update of ``state``, the state that follows the last one given."""
        last = self._last
        if last is not None and last is not self._base and _get_source(last) is None:
            self._base, self._since = last, _NOTHING
        since = self._since
        if since is not None:
            changed: frozenset[str] | None = getattr(state, "changed", None)
            if changed is None:
                since = self._since = None
            elif not changed <= since:
                since = self._since = since | changed
        task: TaskDTO = _new_model(_StreamTask)
        _set_source(task, (state, self._base, since, self._context))
        self._last = task
        return task


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


# The names the client layer builds typed updates with.
TaskBuilder = _TaskBuilder
to_task = _to_task
