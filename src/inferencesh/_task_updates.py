"""Typed task updates: ``TaskDTO``s from stream states, each built the first time it is used.

Apart from ``inferencesh._tasks`` because this module subclasses ``TaskDTO`` and reads its fields
when imported: the calls that hand out updates import it, so a client that has not followed a
task has not loaded ``TaskDTO`` and the types behind it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, SupportsIndex, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from inferencesh._generated.models import TaskDTO, TaskStatus
from inferencesh._runtime.base import TOLERANT
from inferencesh._status import parse_status

__all__ = ["TaskBuilder", "to_task"]


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


# The names the client layer builds typed updates with.
TaskBuilder = _TaskBuilder
to_task = _to_task
