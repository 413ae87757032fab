"""The shape of a pydantic model, to compare an app's own classes with generated ones.

Two models have the same shape when they have the same fields in the same order, each with the
same type, required-ness, default and bounds; nested models compare by shape, enum classes by
their values (a ``Literal`` is not an enum class), and ``Any``/``object`` are the same thing.
Class names, titles, docstrings and model config are not part of it.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from inferencesh import File

_BOUNDS = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern", "multiple_of")


def type_shape(annotation: Any, seen: frozenset[type] = frozenset()) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return (type_shape(args[0], seen), bounds(args[1:]))
    if origin in (typing.Union, types.UnionType):
        return ("union", frozenset(type_shape(arg, seen) for arg in args))
    if origin is typing.Literal:
        return ("literal", frozenset(args))
    if origin in (list, tuple, set, frozenset):
        return ("list", type_shape(args[0], seen))
    if origin is dict:
        return ("dict", type_shape(args[0], seen), type_shape(args[1], seen))
    if annotation in (Any, object):
        return "any"
    if annotation is type(None) or annotation is None:
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ("enum", frozenset(member.value for member in annotation))
    if annotation is File:
        return "file"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return ("model", annotation.__name__)
        return model_shape(annotation, seen | {annotation})
    if annotation in (str, int, float, bool):
        return annotation.__name__
    raise AssertionError(f"no shape for {annotation!r}")


def bounds(metadata: Any) -> tuple[tuple[str, Any], ...]:
    found: list[tuple[str, Any]] = []
    for item in metadata:
        for name in _BOUNDS:
            value = getattr(item, name, None)
            if value is not None:
                found.append((name, value))
    return tuple(sorted(found))


def field_shape(field: FieldInfo, seen: frozenset[type]) -> Any:
    required = field.is_required()
    default: Any = None
    if not required:
        value = field.get_default(call_default_factory=True)
        default = None if value is PydanticUndefined else to_jsonable_python(value)
    return (type_shape(field.annotation, seen), bounds(field.metadata), required, default)


def model_shape(model: type[BaseModel], seen: frozenset[type] = frozenset()) -> Any:
    seen = seen | {model}
    return (
        "model",
        tuple((name, field_shape(field, seen)) for name, field in model.model_fields.items()),
    )
