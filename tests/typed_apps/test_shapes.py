"""Generated types equal the app's own classes in shape, for every function of every built-in
app and of the gallery test app, fetched from the local runtime through the command."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from inferencesh.app import File, Metadata
from inferencesh.app._dispatch import AppHandle, load_app_class
from inferencesh.local._builtin import BUILTIN_APPS

from .conftest import GALLERY, Generate
from .shape import model_shape

APPS = {**BUILTIN_APPS, "tests/gallery": str(GALLERY)}


def setup_model(app: type[Any]) -> type[BaseModel] | None:
    hints = typing.get_type_hints(app.setup)
    for name in list(inspect.signature(app.setup).parameters)[1:]:
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, BaseModel) and hint is not Metadata:
            return hint
    return None


CASES = [
    (ref, function)
    for ref, target in sorted(APPS.items())
    for function in sorted(AppHandle(load_app_class(target)).functions)
]


@pytest.mark.parametrize(("ref", "function"), CASES, ids=[f"{r}:{f}" for r, f in CASES])
def test_generated_models_have_the_shape_of_the_app_classes(
    generate: Generate, ref: str, function: str
) -> None:
    app = load_app_class(APPS[ref])
    info = AppHandle(app).functions[function]
    module = generate(f"{ref}:{function}")
    if info.input_model is not None:
        assert model_shape(module.Input) == model_shape(info.input_model)
    if info.output_model is not None:
        assert model_shape(module.Output) == model_shape(info.output_model)
    else:  # a function returning a dict publishes no output schema: any object is accepted
        assert module.Output.model_validate({"any": [1]}).model_extra == {"any": [1]}
    setup = setup_model(app)
    if setup is None:
        assert not hasattr(module, "Setup")
    else:
        assert model_shape(module.Setup) == model_shape(setup)
    assert module.app.ref == ref and module.app.function == function


def test_the_shape_comparison_sees_a_difference() -> None:
    class A(BaseModel):
        n: int = 1

    class B(BaseModel):
        n: int = 2

    class C(BaseModel):
        n: typing.Literal[1, 2] = 1

    assert model_shape(A) != model_shape(B) and model_shape(A) != model_shape(C)


def test_gallery_values_round_trip_through_the_generated_models(generate: Generate) -> None:
    gallery = load_app_class(str(GALLERY))
    info = AppHandle(gallery).functions["run"]
    module = generate("tests/gallery")
    assert info.input_model is not None and info.output_model is not None
    source = info.input_model.model_validate(
        {
            "prompt": "p",
            "size": 2,
            "frames": [{"corner": {"x": 1}, "points": [{"x": 2, "label": "a"}], "color": "blue"}],
            "weights": {"a": 0.5},
            "image": "https://example.com/a.png",
        }
    )
    data = source.model_dump(mode="json")
    assert module.Input.model_validate(data).model_dump(mode="json") == data
    output = info.output_model.model_validate(
        {"image": "https://example.com/b.png", "colors": ["green"], "center": {"x": 3}, "frames": 1}
    )
    data = output.model_dump(mode="json")
    typed = module.Output.model_validate(data)
    assert typed.model_dump(mode="json") == data
    assert isinstance(typed.image, File) and typed.colors == [module.Color.GREEN]
    assert module.Input.model_fields["mode"].annotation == typing.Literal["fast", "slow"]
    assert issubclass(module.Color, str) and issubclass(module.Size, int)
