"""Every generated response model reads a body the way a Go server writes it.

For each model (every generated ``WireModel`` that is not a ``RequestModel``), read tolerantly:
an empty body (plus the fields the client needs) gives every field, typed; ``null`` everywhere
gives the same; values of the wrong type are kept as sent. Read strictly, a missing required
field is refused, as it was before tolerant reads existed.
"""

from __future__ import annotations

import typing
from datetime import date, datetime
from enum import Enum
from types import NoneType, UnionType
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from codegen.models import client_needs
from inferencesh._generated import models
from inferencesh._runtime import RequestModel, WireModel
from inferencesh._runtime.base import TOLERANT

RESPONSE_MODELS: list[type[WireModel]] = sorted(
    {
        cls
        for name in models.__all__
        if isinstance(cls := getattr(models, name), type)
        and issubclass(cls, WireModel)
        and not issubclass(cls, RequestModel)
    },
    key=lambda cls: cls.__name__,
)
# Values tried, in order, as "the wrong type" for a field: the first its own type refuses.
WRONG_VALUES: list[Any] = [[1.5, "x"], "not-a-value", {"unexpected": True}, 3.5]


def conforms(value: Any, annotation: Any) -> bool:
    """Is ``value`` of the declared type (all the way into lists and dicts)?"""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return conforms(value, args[0])
    if origin in (typing.Union, UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(conforms(v, args[1]) for v in value.values())
    if annotation is Any:
        return True
    if annotation is NoneType:
        return value is None
    if annotation is bool:
        return type(value) is bool
    if annotation is int:
        return type(value) is int
    if annotation is float:
        return type(value) is float
    if annotation in (str, datetime, date) or (
        isinstance(annotation, type) and issubclass(annotation, (BaseModel, Enum))
    ):
        return isinstance(value, annotation)
    raise AssertionError(f"no rule for {annotation!r}")


def fields(model: type[WireModel]) -> dict[str, FieldInfo]:
    """The model's fields with their types resolved.

    Models build on first use, and a model defined before the others of its reference cycle
    (``AgentDTO``) resolves its fields' types only then; ``model_rebuild`` is that build.
    """
    model.model_rebuild()
    return model.model_fields


def needed(model: type[WireModel]) -> dict[str, Any]:
    """A body with only the fields the client needs (a usable value for each)."""
    return {name: "needed" for name in model.__client_needs__}


def wire_name(model: type[WireModel], name: str) -> str:
    return fields(model)[name].alias or name


def takes_anything(annotation: Any) -> bool:
    return annotation is Any or Any in typing.get_args(annotation)


def is_collection(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, dict)


def required_scalars(model: type[WireModel]) -> set[str]:
    """Wire names of required fields that are not collections (those read as empty always)."""
    return {
        wire_name(model, name)
        for name, field in fields(model).items()
        if field.is_required()
        and not is_collection(field.annotation)
        and name not in model.__client_needs__
    }


def wrong_value(annotation: Any) -> Any:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for value in WRONG_VALUES:
        try:
            adapter.validate_python(value)
        except ValidationError:
            return value
    raise AssertionError(f"every candidate is a valid {annotation!r}")


def ids(model: type[WireModel]) -> str:
    return model.__name__


def test_the_property_tests_cover_the_generated_response_models() -> None:
    names = {model.__name__ for model in RESPONSE_MODELS}
    assert len(RESPONSE_MODELS) > 100
    assert {"TaskDTO", "TaskResultDTO", "FileDTO", "ChatDTO", "AppSessionDTO"} <= names


@pytest.mark.parametrize("model", RESPONSE_MODELS, ids=ids)
def test_an_empty_body_reads_with_every_field_present_and_typed(model: type[WireModel]) -> None:
    parsed = model.model_validate(needed(model), context=TOLERANT)
    for name, field in model.model_fields.items():
        assert name in parsed.__dict__, name
        value = parsed.__dict__[name]
        assert conforms(value, field.annotation), (name, value, field.annotation)
    # The zero values were filled in, not sent.
    assert parsed.model_fields_set == set(model.__client_needs__)
    assert set(parsed.to_dict()) == {wire_name(model, n) for n in model.__client_needs__}


@pytest.mark.parametrize("model", RESPONSE_MODELS, ids=ids)
def test_null_in_every_field_reads_as_zero_values(model: type[WireModel]) -> None:
    body = {wire_name(model, name): None for name in fields(model)}
    parsed = model.model_validate({**body, **needed(model)}, context=TOLERANT)
    for name, field in model.model_fields.items():
        assert conforms(parsed.__dict__[name], field.annotation), name


@pytest.mark.parametrize("model", RESPONSE_MODELS, ids=ids)
def test_values_of_the_wrong_type_are_kept_as_sent(model: type[WireModel]) -> None:
    sent = {
        name: wrong_value(field.annotation)
        for name, field in fields(model).items()
        if not takes_anything(field.annotation) and name not in model.__client_needs__
    }
    body = {wire_name(model, name): value for name, value in sent.items()}
    parsed = model.model_validate({**body, **needed(model)}, context=TOLERANT)
    for name, value in sent.items():
        assert parsed.__dict__[name] == value and type(parsed.__dict__[name]) is type(value)
    assert set(sent) <= parsed.model_fields_set


@pytest.mark.parametrize("model", [m for m in RESPONSE_MODELS if required_scalars(m)], ids=ids)
def test_strict_reads_refuse_a_missing_required_field(model: type[WireModel]) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(needed(model))
    missing = {e["loc"][0] for e in info.value.errors() if e["type"] == "missing"}
    # Collections were read as empty before tolerant reads too (Go sends nil slices as null).
    assert missing == required_scalars(model)


@pytest.mark.parametrize("model", [m for m in RESPONSE_MODELS if m.__client_needs__], ids=ids)
def test_fields_the_client_needs_are_refused_in_every_mode(model: type[WireModel]) -> None:
    for name in model.__client_needs__:
        assert name in model.model_fields, f"{model.__name__}.{name} is not a field"
        for body in ({}, {name: None}, {name: ""}, {name: 42}):
            for context in (TOLERANT, None):
                with pytest.raises(ValidationError, match=name):
                    model.model_validate(body, context=context)


def test_client_needs_must_name_generated_models() -> None:
    overrides = {"required_fields": {"client_needs": {"TaskResultDTO": ["id"], "Nope": ["x"]}}}
    with pytest.raises(SystemExit, match="Nope"):
        client_needs(overrides, {"TaskResultDTO"})
    assert client_needs({}, {"TaskResultDTO"}) == {}


def test_python_names_of_aliased_fields_are_read_like_wire_names() -> None:
    hook = models.LifecycleHookConfig.model_validate({"async_": "maybe"}, context=TOLERANT)
    assert hook.async_ == "maybe"
    mapping = models.OutputFieldMapping.model_validate({"schema_": [1]}, context=TOLERANT)
    assert mapping.schema_ == [1] and mapping.model_fields_set == {"schema_"}
    result = models.A2UIMcpToolResult.model_validate({"field_meta": None}, context=TOLERANT)
    assert result.field_meta is None
