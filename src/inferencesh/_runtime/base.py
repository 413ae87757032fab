"""Base classes of every generated model.

``WireModel`` decodes responses leniently (unknown fields kept, ``null`` collections read as empty)
and answers dict-style access, because the documented API reads results as ``result["output"]``.
``RequestModel`` requires nothing and is sent with only the fields that were set.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from types import UnionType
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["RequestModel", "WireModel"]

_MISSING: Any = object()


_EmptyFactory = type[list[Any]] | type[dict[Any, Any]]
# model class -> [(wire name, python name, the empty container a null or absent value becomes)]
_COLLECTIONS: dict[type[BaseModel], list[tuple[str, str, _EmptyFactory]]] = {}


def _empty_factory(annotation: Any) -> _EmptyFactory | None:
    """The empty container a ``null`` should become for this annotation, if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _empty_factory(typing.get_args(annotation)[0])
    if origin is list:
        return list
    if origin is dict:
        return dict
    return None


class WireModel(BaseModel):
    """A response-side model: lenient on input, typed attributes, dict-style reads.

    A model is not a dict, so ``json.dumps(result)`` raises ``TypeError``: use
    ``json.dumps(result.to_dict())`` (the fields the server sent, unknown ones included) or
    ``result.model_dump(mode="json")`` / ``result.model_dump_json()`` (every field).
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=True,
        protected_namespaces=(),
    )

    @classmethod
    def _collections(cls) -> list[tuple[str, str, _EmptyFactory]]:
        if cls in _COLLECTIONS:
            return _COLLECTIONS[cls]
        found: list[tuple[str, str, _EmptyFactory]] = []
        for name, field in cls.model_fields.items():
            # `list[X] | None` means the schema itself allows None: keep None there.
            if typing.get_origin(field.annotation) in (typing.Union, UnionType):
                continue
            factory = _empty_factory(field.annotation)
            if factory is not None:
                found.append((field.alias or name, name, factory))
        _COLLECTIONS[cls] = found
        return found

    @model_validator(mode="before")
    @classmethod
    def _absent_collections_are_empty(cls, data: Any) -> Any:
        # Go encodes a nil slice or map as null even where the type says it is always present,
        # and newer servers omit collections older types list (ChatDTO.chat_messages).
        if not isinstance(data, dict):
            return data
        fields = cast("dict[str, Any]", data)
        patched: dict[str, Any] | None = None
        for wire_name, name, factory in cls._collections():
            value = fields.get(wire_name, fields.get(name))
            if value is None:
                if patched is None:
                    patched = dict(fields)
                patched.pop(name, None)
                patched[wire_name] = factory()
        return fields if patched is None else patched

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
        return iter(self.model_dump(mode="python", by_alias=True, exclude_unset=False).keys())

    def to_dict(self) -> dict[str, Any]:
        """The fields the server sent (unknown ones included) as JSON-compatible values, ready
        for ``json.dumps``."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class RequestModel(WireModel):
    """A request-side model: every field optional, sent with only the fields that were set."""

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for this request: set fields only, by wire name."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
