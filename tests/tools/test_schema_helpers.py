"""Schema helpers and the params -> JSON Schema conversion (golden JSON)."""

from __future__ import annotations

from typing import Any

import pytest

from inferencesh import (
    InvalidInputError,
    array,
    boolean,
    enum_of,
    integer,
    number,
    obj,
    optional,
    string,
    tool,
)


@pytest.mark.parametrize(
    ("helper", "type_"),
    [(string, "string"), (number, "number"), (integer, "integer"), (boolean, "boolean")],
)
def test_scalar_helpers_carry_type_and_description(helper: Any, type_: str) -> None:
    assert helper("A value") == {"type": type_, "description": "A value"}
    assert helper() == {"type": type_}
    assert helper("") == {"type": type_}


def test_enum_of_is_a_string_with_choices() -> None:
    assert enum_of(["low", "medium", "high"], "Priority") == {
        "type": "string",
        "description": "Priority",
        "enum": ["low", "medium", "high"],
    }


@pytest.mark.parametrize("values", [[], "abc", ["a", "a"], ["a", 1]])
def test_enum_of_refuses_bad_choices(values: Any) -> None:
    with pytest.raises(InvalidInputError, match="enum_of value"):
        enum_of(values)


def test_array_and_obj_nest_schemas() -> None:
    assert array(string("Tag"), "List of tags") == {
        "type": "array",
        "description": "List of tags",
        "items": {"type": "string", "description": "Tag"},
    }
    address = obj({"street": string("Street"), "zip": optional(string("ZIP"))}, "Address")
    assert address == {
        "type": "object",
        "description": "Address",
        "properties": {
            "street": {"type": "string", "description": "Street"},
            "zip": {"type": "string", "description": "ZIP", "optional": True},
        },
    }


def test_optional_marks_a_copy() -> None:
    base = string("x")
    marked = optional(base)
    assert marked == {"type": "string", "description": "x", "optional": True}
    assert base == {"type": "string", "description": "x"}


def test_params_become_an_object_schema_in_declaration_order() -> None:
    schema = (
        tool("t")
        .param("zeta", string("Z"))
        .param("alpha", optional(integer()))
        .param("mid", boolean())
        .input_schema()
    )
    assert schema == {
        "type": "object",
        "properties": {
            "zeta": {"type": "string", "description": "Z"},
            "alpha": {"type": "integer"},
            "mid": {"type": "boolean"},
        },
        "required": ["zeta", "mid"],
    }
    assert list(schema["properties"]) == ["zeta", "alpha", "mid"]


def test_no_params_still_sends_an_empty_required_list() -> None:
    assert tool("t").input_schema() == {"type": "object", "properties": {}, "required": []}


def test_nested_objects_and_array_items_lose_the_optional_marker() -> None:
    schema = (
        tool("t")
        .param("address", obj({"street": string(), "zip": optional(string())}))
        .param("all_optional", optional(obj({"a": optional(number())})))
        .param("rows", array(obj({"id": integer(), "note": optional(string())})))
        .input_schema()
    )
    assert schema == {
        "type": "object",
        "properties": {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                "required": ["street"],
            },
            "all_optional": {"type": "object", "properties": {"a": {"type": "number"}}},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "note": {"type": "string"}},
                    "required": ["id"],
                },
            },
        },
        "required": ["address", "rows"],
    }


def test_hand_written_schema_keeps_its_keys_and_required_list() -> None:
    raw = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "required": ["b"],
        "additionalProperties": False,
    }
    schema = (
        tool("t").param("raw", raw).param("n", {"type": "integer", "minimum": 1}).input_schema()
    )
    assert schema["properties"]["raw"] == raw
    assert schema["properties"]["n"] == {"type": "integer", "minimum": 1}


def test_input_schema_is_a_fresh_copy() -> None:
    choices = enum_of(["a", "b"])
    builder = tool("t").param("c", choices)
    first = builder.input_schema()
    first["properties"]["c"]["enum"].append("z")
    assert builder.input_schema()["properties"]["c"]["enum"] == ["a", "b"]
    assert choices["enum"] == ["a", "b"]


def test_obj_refuses_bad_property_names_and_schemas() -> None:
    with pytest.raises(InvalidInputError, match="obj property name must be .* got 'a b'"):
        obj({"a b": string()})
    with pytest.raises(InvalidInputError, match=r"did you mean|call the helper"):
        obj({"a": string})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match="array items"):
        array("string")  # type: ignore[arg-type]


def test_boolean_property_schemas_are_sent_untouched() -> None:
    raw = {"type": "object", "properties": {"anything": True}}
    assert tool("t").param("raw", raw).input_schema()["properties"]["raw"] == raw
