"""Base classes of every generated model.

``WireModel`` decodes responses leniently (unknown fields kept, ``null`` collections read as empty)
and answers dict-style access, because the documented API reads results as ``result["output"]``.
``RequestModel`` requires nothing and is sent with only the fields that were set.

The API is written in Go, where a field absent from the JSON is that field's zero value. Read with
:data:`TOLERANT` as the validation context (what the client does with every 2xx body), a model
takes the Go zero value for a required field that is absent or ``null`` and keeps a value of the
wrong type as it was sent; only the fields in ``__client_needs__`` are still refused. Without that
context (user input, our own conformance tests) a model is as strict as the schema.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from enum import Enum, IntEnum
from types import MappingProxyType, UnionType
from typing import Any, ClassVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import Self

from inferencesh._logging import logger

__all__ = ["TOLERANT", "RequestModel", "WireModel", "read_context"]

_MISSING: Any = object()
_TOLERANT_KEY = "inferencesh_tolerant"

TOLERANT: Mapping[str, Any] = MappingProxyType({_TOLERANT_KEY: True})
"""The validation context of a tolerant read (``model_validate(body, context=TOLERANT)``)."""


def read_context(strict: bool) -> Mapping[str, Any] | None:
    """The validation context of a response read: ``None`` (as strict as the schema) or
    :data:`TOLERANT`."""
    return None if strict else TOLERANT


def _is_tolerant(context: Any) -> bool:
    if context is TOLERANT:
        return True
    return (
        isinstance(context, Mapping)
        and cast("Mapping[str, Any]", context).get(_TOLERANT_KEY) is True
    )


# Go encodes a zero time.Time as this instant.
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_GO_ZERO_DATE = "0001-01-01"


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _go_zero(annotation: Any) -> Callable[[], Any]:
    """A factory of the JSON a Go server would send for a zero value of this type.

    A nested object is an empty object (a Go struct's zero value is the struct with zero fields,
    which a tolerant read fills in); a nullable type, ``Any`` or anything unknown is ``null``.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _go_zero(args[0])
    if origin in (typing.Union, UnionType):
        return _constant(None) if type(None) in args else _go_zero(args[0])
    if origin is typing.Literal:
        return _constant(args[0])
    if origin is list:
        return list
    if origin is dict:
        return dict
    if not isinstance(annotation, type):
        return _constant(None)
    kind = cast("type[Any]", annotation)
    if issubclass(kind, BaseModel):
        return dict
    if issubclass(kind, IntEnum) or kind in (int, float):
        return _constant(0)
    if issubclass(kind, Enum) or kind is str:
        return _constant("")
    if kind is bool:
        return _constant(False)
    if issubclass(kind, datetime):
        return _constant(_GO_ZERO_TIME)
    if issubclass(kind, date):
        return _constant(_GO_ZERO_DATE)
    return _constant(None)


def _empty_factory(annotation: Any) -> type[list[Any]] | type[dict[Any, Any]] | None:
    """The empty container a ``null`` should become for this annotation, if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _empty_factory(typing.get_args(annotation)[0])
    if origin is list:
        return list
    if origin is dict:
        return dict
    return None


class _ReadPlan:
    """What one model class fills in when it reads a body: computed once per class."""

    __slots__ = ("collections", "keys", "names", "needs", "strict_fill", "tolerant_fill", "zeros")

    def __init__(self, cls: type[WireModel]) -> None:
        names: dict[str, str] = {}
        keys: dict[str, str] = {}
        zeros: dict[str, Callable[[], Any]] = {}
        collections: list[str] = []
        collection_keys: list[tuple[str, str]] = []
        required: list[str] = []
        for name, field in cls.model_fields.items():
            wire = field.alias or name
            names[wire] = name
            keys[wire] = keys[name] = wire  # a body may use either (populate_by_name)
            # `list[X] | None` means the schema itself allows None: keep None there.
            empty = None if _is_union(field.annotation) else _empty_factory(field.annotation)
            if empty is not None:
                collections.append(wire)
                collection_keys.extend({(wire, wire), (name, wire)})
                zeros[wire] = empty
            elif field.is_required():
                required.append(wire)
                zeros[wire] = _go_zero(field.annotation)
        self.names = names
        self.keys = keys
        self.zeros = zeros
        # Go encodes a nil slice or map as null even where the type says it is always present,
        # and newer servers omit collections older types list (ChatDTO.chat_messages): both
        # read as empty in every mode.
        self.collections = tuple(collection_keys)
        self.strict_fill = frozenset(collections)
        self.tolerant_fill = frozenset(collections + required)
        self.needs = cls.__client_needs__

    def fill(self, data: dict[str, Any], tolerant: bool) -> tuple[dict[str, Any], list[str]]:
        """``data`` with absent (and null) fields set to their zero values, and the names of
        the fields that were absent."""
        missing = (self.tolerant_fill if tolerant else self.strict_fill).difference(data)
        patched: dict[str, Any] | None = None
        absent: list[str] = []
        for wire in missing:
            name = self.names[wire]
            if name != wire and name in data:
                continue
            if patched is None:
                patched = dict(data)
            patched[wire] = self.zeros[wire]()
            absent.append(name)
        for key, wire in self.collections:
            if data.get(key, _MISSING) is None:
                if patched is None:
                    patched = dict(data)
                del patched[key]
                patched[wire] = self.zeros[wire]()
        return (data if patched is None else patched), absent


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, UnionType)


_PLANS: dict[type[BaseModel], _ReadPlan] = {}


class WireModel(BaseModel):
    """A response-side model: lenient on input, typed attributes, dict-style reads.

    A model is not a dict, so ``json.dumps(result)`` raises ``TypeError``: use
    ``json.dumps(result.to_dict())`` (the fields the server sent, unknown ones included) or
    ``result.model_dump(mode="json")`` / ``result.model_dump_json()`` (every field).
    """

    model_config = ConfigDict(
        # A model builds its validator the first time it validates: building all of them at
        # import cost hundreds of milliseconds, and a program uses few.
        defer_build=True,
        extra="allow",
        populate_by_name=True,
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=True,
        protected_namespaces=(),
    )

    __client_needs__: ClassVar[tuple[str, ...]] = ()
    """Fields a tolerant read still refuses to do without (schema/overrides.yaml)."""

    @model_validator(mode="wrap")
    @classmethod
    def _read_wire(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        if not isinstance(data, dict):
            return handler(data)
        plan = _PLANS.get(cls)
        if plan is None:
            plan = _PLANS[cls] = _ReadPlan(cls)
        tolerant = _is_tolerant(info.context)
        fields, absent = plan.fill(cast("dict[str, Any]", data), tolerant)
        if not tolerant:
            model = handler(fields)
        else:
            try:
                model = handler(fields)
            except ValidationError as exc:
                model = cls._salvage(plan, fields, exc, handler, absent)
        if absent:
            model.__pydantic_fields_set__.difference_update(absent)
        for name in plan.needs:
            _check_need(model, name)
        return model

    @classmethod
    def _salvage(
        cls,
        plan: _ReadPlan,
        data: dict[str, Any],
        error: ValidationError,
        handler: ModelWrapValidatorHandler[Self],
        absent: list[str],
    ) -> Self:
        """Read ``data`` again without the fields that failed, then put back what was sent:
        a ``null`` is the zero value, any other value is kept as it came."""
        failed: set[str] = set()
        for detail in error.errors(include_url=False, include_context=False, include_input=False):
            loc = detail["loc"]
            if not loc or not isinstance(loc[0], str) or loc[0] not in data:
                raise error
            if loc[0] not in plan.keys:
                raise error
            failed.add(loc[0])
        retry = dict(data)
        kept: dict[str, Any] = {}
        for key in failed:
            value = retry.pop(key)
            wire = plan.keys[key]
            name = plan.names[wire]
            if wire in plan.zeros:
                retry[wire] = plan.zeros[wire]()
            if value is None:
                absent.append(name)
            else:
                kept[name] = value
        model = handler(retry)
        values = cast("dict[str, Any]", model.__dict__)  # type: ignore[redundant-cast]
        for name, value in kept.items():
            values[name] = value
            model.__pydantic_fields_set__.add(name)
            logger.debug(
                "response: kept %s.%s as sent (a %s, not what the schema allows)",
                cls.__name__,
                name,
                type(value).__name__,
            )
        return model

    # Dict-style access, so code written against the dict-returning SDK keeps working.
    def _lookup(self, key: str) -> Any:
        fields = type(self).model_fields
        if key in fields:
            return getattr(self, key)
        for name, field in fields.items():
            if field.alias == key:
                return getattr(self, name)
        extra = self.__pydantic_extra__
        if extra is not None and key in extra:
            return extra[key]
        return _MISSING

    def __getitem__(self, key: str) -> Any:
        value = self._lookup(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not _MISSING

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value like ``dict.get``: ``default`` when the field does not exist."""
        value = self._lookup(key)
        return default if value is _MISSING else value

    def keys(self) -> Iterator[str]:
        """The wire names of the set fields and the unknown fields."""
        dumped = self.model_dump(mode="python", by_alias=True, exclude_unset=False, warnings=False)
        return iter(dumped.keys())

    def to_dict(self) -> dict[str, Any]:
        """The fields the server sent (unknown ones included) as JSON-compatible values, ready
        for ``json.dumps``."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)


def _check_need(model: WireModel, name: str) -> None:
    value = model.__dict__.get(name)
    kind = type(model).model_fields[name].annotation
    if value is None or value == "" or (isinstance(kind, type) and not isinstance(value, kind)):
        raise PydanticCustomError(
            "client_needs",
            "the response has no usable {field}: the client cannot use a {model} without it",
            {"model": type(model).__name__, "field": name},
        )


class RequestModel(WireModel):
    """A request-side model: every field optional, sent with only the fields that were set."""

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for this request: set fields only, by wire name."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
