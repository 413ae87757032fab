"""Request body defs of types.schema.json -> TypedDicts (``src/inferencesh/_generated/params.py``).

For every def a generated method takes as its body, two TypedDicts (all keys optional: request
bodies require nothing, see schema/overrides.yaml):

* ``<Def>Params``: the body as a dict, keyed by wire name, so a misspelled key is a type error;
* ``<Def>Args``: the same fields as keyword arguments, plus the per-call options. A field whose
  name is taken by a path or query parameter, a per-call option or ``body`` is left out: it can
  still be set through the dict.

Top-level keys are typed; a nested object is ``<Model> | Mapping[str, Any]`` (the runtime still
refuses an unknown nested key before sending).
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from typing import Any, cast

from codegen.endpoints import OPTIONS, EndpointSpecError, Spec, environment

__all__ = ["render_params"]

JsonSchema = Mapping[str, Any]
PREFIX = "#/$defs/"
SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
ALWAYS_TAKEN = frozenset({"self", "body", "kwargs", *OPTIONS})


class _Annotator:
    """JSON Schema -> the annotation a caller's value may have."""

    def __init__(self, defs: Mapping[str, JsonSchema], classes: set[str]) -> None:
        self.defs = defs
        self.classes = classes
        self.used: set[str] = set()
        self.datetime = False

    def __call__(self, schema: JsonSchema) -> str:
        parts = self._parts(schema)
        unique = list(dict.fromkeys(parts))
        if "Any" in unique:
            return "Any"
        none = "None" in unique
        unique = [part for part in unique if part != "None"]
        return " | ".join([*unique, "None"] if none else unique)

    def _parts(self, schema: JsonSchema) -> list[str]:
        if "$ref" in schema:
            name = str(schema["$ref"]).removeprefix(PREFIX)
            target = self.defs[name]
            if name not in self.classes:
                return self._parts(target)
            self.used.add(name)
            if "enum" in target:
                return [name, SCALARS[str(target.get("type", "string"))]]
            return [name, "Mapping[str, Any]"]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return [part for member in schema[key] for part in self._parts(member)]
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = cast("list[str]", kind)
            return [part for k in kinds for part in self._parts({**schema, "type": k})]
        if kind == "string" and schema.get("format") == "date-time":
            self.datetime = True
            return ["str", "datetime"]
        if isinstance(kind, str) and kind in SCALARS:
            return [SCALARS[kind]]
        if kind == "array":
            return [f"Sequence[{self(schema.get('items', {}))}]"]
        if kind == "object" or "properties" in schema:
            extra = schema.get("additionalProperties")
            value = self(cast(JsonSchema, extra)) if isinstance(extra, Mapping) and extra else "Any"
            return [f"Mapping[str, {value}]"]
        return ["Any"]


def _properties(defs: Mapping[str, JsonSchema], name: str) -> dict[str, JsonSchema]:
    """Own and inherited (``allOf``) properties of a def, in declaration order."""
    schema = defs[name]
    found: dict[str, JsonSchema] = {}
    for member in schema.get("allOf", [schema]):
        if "$ref" in member:
            found.update(_properties(defs, str(member["$ref"]).removeprefix(PREFIX)))
        else:
            found.update(member.get("properties", {}))
    return found


def render_params(spec: Spec, defs: Mapping[str, JsonSchema], classes: set[str]) -> str:
    """Source of ``inferencesh._generated.params``; ``classes`` are the generated model names."""
    annotate = _Annotator(defs, classes)
    taken: dict[str, set[str]] = {}
    for op in spec.operations:
        if op.body is not None and op.body.model is not None:
            names = taken.setdefault(op.body.model, set(ALWAYS_TAKEN))
            names.update(op.path_params, (q.name for q in op.query))
    bodies: list[dict[str, Any]] = []
    for model in sorted(taken):
        for suffix in ("Params", "Args"):
            if f"{model}{suffix}" in defs:
                raise EndpointSpecError(f"{model}{suffix} is both a schema def and a TypedDict")
        fields: list[tuple[str, str, bool]] = []
        for wire, schema in _properties(defs, model).items():
            if not wire.isidentifier() or keyword.iskeyword(wire):
                raise EndpointSpecError(f"{model}.{wire} cannot be a TypedDict key in class syntax")
            fields.append((wire, annotate(schema), wire not in taken[model]))
        bodies.append({"model": model, "fields": fields})
    return (
        environment()
        .get_template("params.py.jinja")
        .render(
            bodies=bodies,
            models=sorted(annotate.used | set(taken)),
            datetime=annotate.datetime,
        )
    )
