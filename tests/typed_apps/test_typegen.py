"""Preparing schemas for the generator: shared and clashing ``$defs``, reserved names, values
left alone, empty and ``$ref`` roots, older ``definitions``; the output is deterministic."""

from __future__ import annotations

import sys
import typing
import uuid
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from inferencesh import File
from inferencesh._typegen import AppSchemas, render

from .conftest import import_file


def schemas(input: dict[str, Any], output: dict[str, Any], setup: Any = None) -> AppSchemas:
    return AppSchemas("acme/demo", "run", None, input, output, setup)


def load(source: str, tmp_path: Path) -> ModuleType:
    path = tmp_path / f"demo_{uuid.uuid4().hex}.py"
    path.write_text(source)
    return import_file(path, path.stem)


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Any:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def test_defs_shared_by_input_and_output_are_one_class_and_clashes_are_renamed(
    tmp_path: Path,
) -> None:
    color = {"enum": ["red", "blue"], "title": "Color", "type": "string"}
    given = schemas(
        obj(
            {"item": {"$ref": "#/$defs/Item"}, "color": {"$ref": "#/$defs/Color"}},
            ("item",),
            **{"$defs": {"Item": obj({"x": {"type": "integer"}}, ("x",)), "Color": color}},
        ),
        obj(
            {"item": {"$ref": "#/$defs/Item"}, "color": {"$ref": "#/$defs/Color"}},
            ("item", "color"),
            **{"$defs": {"Item": obj({"y": {"type": "string"}}, ("y",)), "Color": color}},
        ),
    )
    module = load(render(given), tmp_path)
    assert module.Input.model_fields["item"].annotation is module.Item
    assert module.Output.model_fields["item"].annotation is module.OutputItem
    assert set(module.OutputItem.model_fields) == {"y"}
    assert module.Output.model_fields["color"].annotation is module.Color
    assert not hasattr(module, "OutputColor")


def test_reserved_names_are_renamed(tmp_path: Path) -> None:
    # An app whose own models are called File and Input.
    given = schemas(
        obj(
            {"file": {"$ref": "#/$defs/File"}, "inner": {"$ref": "#/$defs/Input"}},
            ("file", "inner"),
            **{
                "$defs": {
                    "File": obj({"name": {"type": "string"}}, ("name",)),
                    "Input": obj({"n": {"type": "integer"}}, ("n",)),
                }
            },
        ),
        obj({"image": {"type": "string", "format": "file"}}, ("image",)),
    )
    module = load(render(given), tmp_path)
    assert module.Input.model_fields["file"].annotation is module.InputFile
    assert module.Input.model_fields["inner"].annotation is module.InputInput
    assert module.Output.model_fields["image"].annotation is File
    assert module.File is File


def test_values_and_property_names_are_not_schemas(tmp_path: Path) -> None:
    file_like = {"type": "string", "format": "file"}
    given = schemas(
        obj(
            {
                "enum": {"type": "string", "default": "x"},
                "format": {"type": "object", "default": file_like},
                "choice": {"enum": ["a", "b"], "default": "a", "type": "string"},
            }
        ),
        {},
    )
    module = load(render(given), tmp_path)
    fields = module.Input.model_fields
    assert list(fields) == ["enum", "format", "choice"]
    assert fields["format"].default == file_like
    assert fields["choice"].annotation == typing.Literal["a", "b"]


def test_empty_schemas_are_any_object_and_a_ref_root_becomes_the_class(tmp_path: Path) -> None:
    node = obj(
        {
            "value": {"type": "integer"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
        },
        ("value",),
    )
    given = schemas({}, {"$ref": "#/$defs/Node", "$defs": {"Node": node}})
    module = load(render(given), tmp_path)
    assert module.Input.model_validate({"anything": 1}).model_extra == {"anything": 1}
    tree = module.Output.model_validate({"value": 1, "children": [{"value": 2}]})
    # The recursive model is the Output class itself, not a wrapper around it.
    assert module.Output.model_fields["children"].annotation == list[module.Output] | None
    assert tree.children[0].value == 2 and not hasattr(module, "Node")


def test_draft_07_definitions_are_read(tmp_path: Path) -> None:
    given = schemas(
        obj(
            {"point": {"$ref": "#/definitions/Point"}},
            ("point",),
            definitions={"Point": obj({"x": {"type": "number"}}, ("x",))},
        ),
        {},
    )
    module = load(render(given), tmp_path)
    assert module.Input(point=module.Point(x=1)).point.x == 1


def test_output_is_deterministic_and_names_the_command() -> None:
    given = AppSchemas(
        "acme/demo@v2", "other", "other", obj({"a": {"type": "string"}}, ("a",)), {}, None
    )
    source = render(given)
    assert source == render(given)
    assert source.startswith("# Generated by `inferencesh types acme/demo@v2:other`.")
    assert (
        'TypedApp[Input, Output, None] = TypedApp(\n    "acme/demo@v2", Input, Output, None'
        in source
    )
    assert 'function="other"' in source


def test_rendering_warns_nothing_on_any_python() -> None:
    # The pinned generator warns on Python 3.10 that a later release drops it (make matrix runs
    # this there); a user of `inferencesh types` cannot act on that.
    given = AppSchemas("acme/demo", None, None, obj({"a": {"type": "string"}}), {}, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render(given)


@pytest.fixture(autouse=True)
def forget_modules() -> Any:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("demo_"):
            del sys.modules[name]
