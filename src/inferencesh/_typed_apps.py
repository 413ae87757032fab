"""Typed app handles: run an app with its generated ``Input`` and get its ``Output`` back typed.

A module written by ``inferencesh types <namespace/name>`` holds the app's models and
``app = TypedApp(...)``. ``app.run(client, Input(...))`` checks the input, calls the public
``client.tasks.run`` (files in the input upload as they always do) and returns a
:class:`TypedTask`, a ``TaskDTO`` whose ``output`` is the app's ``Output``. With an
``AsyncInference`` the same call returns a coroutine of the same result. The checks and the
conversions are written once; only the call to ``tasks.run`` differs between the two clients.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_jsonable_python

from inferencesh._errors import InferenceError, InvalidInputError
from inferencesh.app import File
from inferencesh.types import TaskDTO

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from inferencesh import AsyncInference, AsyncTaskStream, Inference, TaskStream
    from inferencesh._tasks import RunOptions
    from inferencesh.types import TaskResultDTO

__all__ = [
    "AppOutputError",
    "AsyncTypedTaskStream",
    "TypedApp",
    "TypedTask",
    "TypedTaskStream",
    "TypedTaskUpdate",
]

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)
SetupT = TypeVar("SetupT", bound="BaseModel | None")
_TaskT = TypeVar("_TaskT", bound=TaskDTO)

# Keys of the run request the handle fills in itself.
_OWN_KEYS = (
    "app",
    "app_id",
    "version_id",
    "function",
    "input",
    "setup",
    "session",
    "session_timeout",
)
_MAX_PROBLEMS = 5


class AppOutputError(InferenceError, ValueError):
    """A task's output does not match the typed module's ``Output``: the app changed since the
    module was generated. ``.task`` is the task as received, ``.errors`` what did not match."""

    def __init__(self, message: str, *, task: TaskDTO, errors: list[str]) -> None:
        super().__init__(message)
        self.task = task
        self.errors = errors


class TypedTask(TaskDTO, Generic[OutputT]):
    """A completed task whose ``output`` is the app's ``Output`` model (a ``TaskDTO`` otherwise)."""

    # Built by copying a validated task, never by validating one: no schema until it is dumped.
    model_config = ConfigDict(defer_build=True)

    output: OutputT  # pyright: ignore[reportIncompatibleVariableOverride]


class TypedTaskUpdate(TaskDTO, Generic[OutputT]):
    """An update of a typed stream: ``output`` is an ``Output`` once the app produced one."""

    model_config = ConfigDict(defer_build=True)

    output: OutputT | None  # pyright: ignore[reportIncompatibleVariableOverride]


def _problems(exc: ValidationError, where: str) -> list[str]:
    problems: list[str] = []
    for error in exc.errors(include_url=False)[:_MAX_PROBLEMS]:
        path = ".".join([where, *(str(part) for part in error["loc"])])
        got = "" if error["type"] == "missing" else f" (got {error['input']!r:.80})"
        problems.append(f"{path}: {error['msg']}{got}")
    return problems


def _wire(value: Any) -> Any:
    """A model as the run request sends it: the fields that were set, by their wire names, as
    JSON values, except ``File`` objects, which ``tasks.run`` uploads."""
    if isinstance(value, File):
        return value
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        data = {
            field.serialization_alias or field.alias or name: _wire(getattr(value, name))
            for name, field in fields.items()
            if name in value.model_fields_set
        }
        data.update({key: _wire(item) for key, item in (value.model_extra or {}).items()})
        return data
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        items = cast(Mapping[Any, Any], value).items()  # type: ignore[redundant-cast]
        return {str(key): _wire(item) for key, item in items}
    if isinstance(value, (list, tuple)):
        return [_wire(item) for item in cast(list[Any], value)]
    return to_jsonable_python(value)


def _copy_as(cls: type[_TaskT], task: TaskDTO, output: Any) -> _TaskT:
    """``task`` as an instance of ``cls`` (a typed subclass) with ``output`` in place."""
    values: dict[str, Any] = {**task.__dict__, **(task.__pydantic_extra__ or {}), "output": output}
    # The pydantic mypy plugin types model_construct as returning the class it was declared on.
    return cls.model_construct(task.model_fields_set | {"output"}, **values)  # type: ignore[return-value]


class TypedApp(Generic[InputT, OutputT, SetupT]):
    """One function of an app, with its input, output and setup models.

    Written by ``inferencesh types``; ``app.run(client, Input(...))`` runs it::

        result = flux_app.app.run(client, flux_app.Input(prompt="a cat"))
        result.output  # a flux_app.Output
    """

    def __init__(
        self,
        ref: str,
        input: type[InputT],
        output: type[OutputT],
        setup: type[SetupT] | None = None,
        *,
        function: str | None = None,
    ) -> None:
        self.ref = ref
        self.input_model = input
        self.output_model = output
        self.setup_model = cast("type[BaseModel] | None", setup)
        self.function = function
        generic: Any = TypedTask
        update: Any = TypedTaskUpdate
        self._task_class: type[TypedTask[OutputT]] = generic[output]
        self._update_class: type[TypedTaskUpdate[OutputT]] = update[output]

    def __repr__(self) -> str:
        function = f", function={self.function!r}" if self.function else ""
        return f"TypedApp({self.ref!r}{function})"

    # What is sent.

    def _checked(self, model: type[BaseModel], value: Any, where: str) -> BaseModel:
        if isinstance(value, model):
            return value
        if isinstance(value, BaseModel):
            given = f"a {type(value).__module__}.{type(value).__qualname__}"
            raise InvalidInputError(
                f"{where} of {self.ref} must be a {model.__module__}.{model.__qualname__} or a "
                f"dict, got {given}"
            )
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                f"{where} of {self.ref} must be {model.__qualname__} or a dict, got "
                f"{type(value).__name__}"
            )
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(_problems(exc, where))
            raise InvalidInputError(f"invalid {where} for {self.ref}: {problems}") from None

    def params(
        self,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = None,
        session: str | None = None,
        session_timeout: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The checked ``client.tasks.run`` parameters of a run; ``InvalidInputError`` naming the
        field when the input or setup does not fit the app's schema.

        ``params`` adds other run-request fields (``webhook``, ``infra``, ...).
        """
        request: dict[str, Any] = dict(params or {})
        taken = sorted(key for key in request if key in _OWN_KEYS)
        if taken:
            raise InvalidInputError(
                f"params must not set {', '.join(taken)}: the typed handle of {self.ref} sets "
                "them (pass input, setup, session and session_timeout as arguments)"
            )
        request["app"] = self.ref
        if self.function:
            request["function"] = self.function
        request["input"] = _wire(self._checked(self.input_model, input, "input"))
        if setup is not None:
            if self.setup_model is None:
                raise InvalidInputError(f"{self.ref} takes no setup, got {setup!r:.80}")
            request["setup"] = _wire(self._checked(self.setup_model, setup, "setup"))
        if session is not None:
            request["session"] = session
        if session_timeout is not None:
            request["session_timeout"] = session_timeout
        return request

    # What comes back.

    def _output(self, task: TaskDTO, value: Any) -> OutputT:
        try:
            return self.output_model.model_validate(value)
        except ValidationError as exc:
            problems = _problems(exc, "output")
            model = f"{self.output_model.__module__}.{self.output_model.__qualname__}"
            raise AppOutputError(
                f"the output of task {task.id} does not match {model}: {'; '.join(problems)}. "
                f"The app changed since the module was generated: run `inferencesh types "
                f"{self.ref}` again",
                task=task,
                errors=problems,
            ) from None

    def typed(self, task: TaskDTO) -> TypedTask[OutputT]:
        """A task of this app (from ``client.tasks.get``, say) with its output read as ``Output``;
        ``AppOutputError`` when the output does not fit."""
        return _copy_as(self._task_class, task, self._output(task, task.output))

    def typed_update(self, task: TaskDTO) -> TypedTaskUpdate[OutputT]:
        """A stream update of this app with its output (once there is one) read as ``Output``."""
        output = None if task.output is None else self._output(task, task.output)
        return _copy_as(self._update_class, task, output)

    # Running it.

    @overload
    def run(
        self,
        client: Inference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = ...,
        session: str | None = ...,
        session_timeout: int | None = ...,
        params: Mapping[str, Any] | None = ...,
        wait: Literal[True] = ...,
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> TypedTask[OutputT]: ...

    @overload
    def run(
        self,
        client: Inference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = ...,
        session: str | None = ...,
        session_timeout: int | None = ...,
        params: Mapping[str, Any] | None = ...,
        wait: bool = ...,
        stream: Literal[True],
        **options: Unpack[RunOptions],
    ) -> TypedTaskStream[OutputT]: ...

    @overload
    def run(
        self,
        client: Inference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = ...,
        session: str | None = ...,
        session_timeout: int | None = ...,
        params: Mapping[str, Any] | None = ...,
        wait: Literal[False],
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> TaskResultDTO: ...

    @overload
    def run(
        self,
        client: AsyncInference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = ...,
        session: str | None = ...,
        session_timeout: int | None = ...,
        params: Mapping[str, Any] | None = ...,
        wait: Literal[True] = ...,
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> Coroutine[Any, Any, TypedTask[OutputT]]: ...

    @overload
    def run(
        self,
        client: AsyncInference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = ...,
        session: str | None = ...,
        session_timeout: int | None = ...,
        params: Mapping[str, Any] | None = ...,
        wait: bool = ...,
        stream: Literal[True],
        **options: Unpack[RunOptions],
    ) -> Coroutine[Any, Any, AsyncTypedTaskStream[OutputT]]: ...

    @overload
    def run(
        self,
        client: AsyncInference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = ...,
        session: str | None = ...,
        session_timeout: int | None = ...,
        params: Mapping[str, Any] | None = ...,
        wait: Literal[False],
        stream: Literal[False] = ...,
        **options: Unpack[RunOptions],
    ) -> Coroutine[Any, Any, TaskResultDTO]: ...

    def run(
        self,
        client: Inference | AsyncInference,
        input: InputT | Mapping[str, Any],
        *,
        setup: SetupT | Mapping[str, Any] | None = None,
        session: str | None = None,
        session_timeout: int | None = None,
        params: Mapping[str, Any] | None = None,
        wait: bool = True,
        stream: bool = False,
        **options: Unpack[RunOptions],
    ) -> Any:
        """Run the app: the completed task with a typed ``output`` (``wait=True``), the created
        task (``wait=False``) or a stream of typed updates (``stream=True``).

        ``client`` is an ``Inference`` or an ``AsyncInference`` (then await the call). The input
        (and setup) is checked before anything is sent; files in it are uploaded. Other keywords
        go to ``client.tasks.run`` as they are (``auto_reconnect``, ``upload_files``, ...).
        Raises ``TaskFailedError`` when the task fails and ``AppOutputError`` when its output
        does not match ``Output``.
        """
        import inferencesh

        if not isinstance(
            cast(object, client), (inferencesh.Inference, inferencesh.AsyncInference)
        ):
            raise InvalidInputError(
                f"client must be an Inference or an AsyncInference, got {type(client).__name__}"
            )
        request = self.params(
            input, setup=setup, session=session, session_timeout=session_timeout, params=params
        )
        if isinstance(client, inferencesh.AsyncInference):
            return self._run_async(client, request, wait, stream, options)
        return self._finish(client.tasks.run(request, wait=wait, stream=stream, **options))

    def _finish(self, result: Any) -> Any:
        """What ``run`` returns for what ``tasks.run`` returned (sync or async)."""
        import inferencesh

        if isinstance(result, inferencesh.TaskStream):
            return TypedTaskStream(result, self)
        if isinstance(result, inferencesh.AsyncTaskStream):
            return AsyncTypedTaskStream(result, self)
        if isinstance(result, TaskDTO):
            return self.typed(result)
        return result  # the created task (wait=False): it has no output yet

    async def _run_async(
        self,
        client: AsyncInference,
        request: dict[str, Any],
        wait: bool,
        stream: bool,
        options: RunOptions,
    ) -> Any:
        return self._finish(await client.tasks.run(request, wait=wait, stream=stream, **options))


class TypedTaskStream(Generic[OutputT]):
    """Typed updates of a running task (``app.run(..., stream=True)``) until it ends.

    ``result`` is the last update received. Use it as a context manager to stop early.
    """

    def __init__(self, stream: TaskStream, app: TypedApp[Any, OutputT, Any]) -> None:
        self._stream = stream
        self._app = app
        self.result: TypedTaskUpdate[OutputT] | None = None

    def __iter__(self) -> TypedTaskStream[OutputT]:
        return self

    def __next__(self) -> TypedTaskUpdate[OutputT]:
        self.result = self._app.typed_update(next(self._stream))
        return self.result

    def close(self) -> None:
        """Stop reading and close the connection."""
        self._stream.close()

    def __enter__(self) -> TypedTaskStream[OutputT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTypedTaskStream(Generic[OutputT]):
    """Async twin of :class:`TypedTaskStream`."""

    def __init__(self, stream: AsyncTaskStream, app: TypedApp[Any, OutputT, Any]) -> None:
        self._stream = stream
        self._app = app
        self.result: TypedTaskUpdate[OutputT] | None = None

    def __aiter__(self) -> AsyncTypedTaskStream[OutputT]:
        return self

    async def __anext__(self) -> TypedTaskUpdate[OutputT]:
        self.result = self._app.typed_update(await self._stream.__anext__())
        return self.result

    async def close(self) -> None:
        """Stop reading and close the connection."""
        await self._stream.close()

    async def __aenter__(self) -> AsyncTypedTaskStream[OutputT]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
