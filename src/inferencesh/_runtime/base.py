"""Base classes of every generated model.

``WireModel`` decodes responses leniently (unknown fields kept, ``null`` collections read as empty)
and answers dict-style access, because the documented API reads results as ``result["output"]``.
``RequestModel`` requires nothing and is sent with only the fields that were set.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from types import UnionType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["RequestModel", "WireModel"]

_MISSING: Any = object()


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


class WireModel(BaseModel):
    """A response-side model: lenient on input, typed attributes, dict-style reads."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=True,
        protected_namespaces=(),
    )

    # field name -> empty container type; filled lazily per class
    __null_collections__: ClassVar[dict[str, type[list[Any]] | type[dict[Any, Any]]] | None] = None

    @classmethod
    def _null_collections(cls) -> dict[str, type[list[Any]] | type[dict[Any, Any]]]:
        cached = cls.__dict__.get("__null_collections__")
        if cached is None:
            cached = {}
            for name, field in cls.model_fields.items():
                annotation = field.annotation
                # Optional[list[X]] means the schema itself allows None: keep None there.
                if typing.get_origin(annotation) in (typing.Union, UnionType):
                    continue
                factory = _empty_factory(annotation)
                if factory is not None:
                    cached[field.alias or name] = factory
                    cached[name] = factory
            cls.__null_collections__ = cached
        return cached

    @model_validator(mode="before")
    @classmethod
    def _null_collections_are_empty(cls, data: Any) -> Any:
        # Go encodes a nil slice or map as null even where the type says it is always present.
        if isinstance(data, dict):
            empties = cls._null_collections()
            if empties and any(data.get(key, 0) is None for key in empties):
                data = {
                    key: (empties[key]() if value is None and key in empties else value)
                    for key, value in data.items()
                }
        return data

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
        """The JSON-compatible dict the server sent (unknown fields included)."""
        return self.model_dump(mode="json", by_alias=True)


class RequestModel(WireModel):
    """A request-side model: every field optional, sent with only the fields that were set."""

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for this request: set fields only, by wire name."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
