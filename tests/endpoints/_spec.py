"""An independent reading of schema/openapi.yaml for the tests, and sample payloads.

Deliberately not codegen.endpoints: the tests check the generated code against the spec, so they
must not borrow the generator's own reading of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "schema" / "openapi.yaml"
TYPES = ROOT / "schema" / "types.schema.json"
DEF_PREFIX = "types.schema.json#/$defs/"
TIMESTAMP = "2026-01-02T03:04:05Z"


@cache
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded: dict[str, Any] = yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=loader)
    return loaded


@cache
def type_defs() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(TYPES.read_text(encoding="utf-8"))["$defs"]
    return defs


def resolve(node: Any) -> Any:
    """Follow ``#/components/...`` references inside openapi.yaml."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/"):
        target: Any = spec()
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def def_name(schema: Any) -> str:
    ref = schema["$ref"]
    assert ref.startswith(DEF_PREFIX), ref
    return str(ref[len(DEF_PREFIX) :])


@dataclass(frozen=True)
class Op:
    operation_id: str
    method: str
    path: str
    operation: dict[str, Any]
    path_params: tuple[str, ...]
    query: dict[str, dict[str, Any]]  # name -> schema
    body_model: str | None
    body_required: bool
    body_fields: dict[str, tuple[dict[str, Any], bool]]  # name -> (schema, required)
    body_free: bool  # a free-form JSON object (no def, no properties)
    payload: tuple[str, str | None]  # (model | list | cursor | json | none, def name)
    tags: tuple[str, ...]

    @property
    def group(self) -> str:
        return self.operation_id.split(".")[0]

    @property
    def verb(self) -> str:
        return self.operation_id.split(".")[1]

    @property
    def stream(self) -> bool:
        return "x-stream" in self.operation

    def __str__(self) -> str:
        return self.operation_id


def _payload(operation: dict[str, Any]) -> tuple[str, str | None]:
    kinds = set()
    for code, response in operation["responses"].items():
        if not str(code).startswith("2"):
            continue
        content = resolve(response).get("content")
        if not content or "application/json" not in content:
            kinds.add(("none", None))
            continue
        data = content["application/json"]["schema"]["allOf"][1]["properties"]["data"]
        if data == {} or set(data) == {"description"}:
            kinds.add(("json", None))
        elif data.get("type") == "null":
            kinds.add(("none", None))
        elif "$ref" in data:
            kinds.add(("model", def_name(data)))
        elif "allOf" in data:
            kinds.add(("cursor", def_name(data["allOf"][1]["properties"]["items"]["items"])))
        else:
            kinds.add(("list", def_name(data["items"])))
    assert len(kinds) == 1, (operation["operationId"], kinds)
    return kinds.pop()


@cache
def operations() -> tuple[Op, ...]:
    found = []
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            params = [
                resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
            ]
            in_path = tuple(p["name"] for p in params if p["in"] == "path")
            ordered = tuple(sorted(in_path, key=path.index))
            body_model, body_required, fields, free = None, False, {}, False
            if "requestBody" in operation:
                request = resolve(operation["requestBody"])
                body_required = bool(request.get("required", False))
                schema = request["content"]["application/json"]["schema"]
                if "$ref" in schema:
                    body_model = def_name(schema)
                elif not schema.get("properties"):
                    free = True
                else:
                    must = set(schema.get("required", []))
                    fields = {n: (s, n in must) for n, s in schema["properties"].items()}
            found.append(
                Op(
                    operation_id=operation["operationId"],
                    method=method.upper(),
                    path=path,
                    operation=operation,
                    path_params=ordered,
                    query={p["name"]: p["schema"] for p in params if p["in"] == "query"},
                    body_model=body_model,
                    body_required=body_required,
                    body_fields=fields,
                    body_free=free,
                    payload=("none", None) if "x-stream" in operation else _payload(operation),
                    tags=tuple(operation.get("tags", ())),
                )
            )
    return tuple(found)


def generated_operations() -> list[Op]:
    return [op for op in operations() if not op.stream]


# ---------------------------------------------------------------- sample payloads


def sample(schema: Any, depth: int = 0) -> Any:
    """A minimal value valid against a types.schema.json schema: required fields only."""
    assert depth < 40, "runaway recursion in sample()"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return sample(type_defs()[name], depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], depth + 1)
    value: Any = None
    if "allOf" in schema:
        value = {}
        for member in schema["allOf"]:
            value.update(sample(member, depth + 1))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        value = value or {}
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            value[name] = sample(properties.get(name, {}), depth + 1)
        if "id" in properties:
            value["id"] = "id-1"
        return value
    if value is not None:
        return value
    return {
        "array": [],
        "string": TIMESTAMP if schema.get("format") == "date-time" else "s",
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "null": None,
    }.get(kind, {})


def sample_payload(op: Op) -> Any:
    """The ``data`` a server would send for this operation."""
    kind, name = op.payload
    if kind == "none":
        return None
    if kind == "json":
        return [{"name": "web_search", "enabled": True}]
    item = sample({"$ref": f"#/$defs/{name}"})
    if kind == "model":
        return item
    if kind == "list":
        return [item]
    return {
        "items": [item],
        "next_cursor": "c-2",
        "prev_cursor": None,
        "has_next": True,
        "has_previous": False,
        "items_per_page": 1,
    }


def simple_request_field(name: str) -> tuple[str, Any] | None:
    """A settable plain-string (else boolean/integer) field of a request def, with a value."""
    properties = type_defs()[name].get("properties", {})
    for wanted, value in (("string", "v"), ("boolean", True), ("integer", 3)):
        for field, schema in sorted(properties.items()):
            options = schema.get("anyOf", [schema])
            plain = [s for s in options if s.get("type") != "null"]
            if (
                len(plain) == 1
                and plain[0].get("type") == wanted
                and not {"enum", "format", "$ref"} & set(plain[0])
            ):
                return field, (f"{value}-{field}" if wanted == "string" else value)
    return None


def field_value(schema: dict[str, Any]) -> Any:
    """A value for an inline body field of openapi.yaml."""
    if "enum" in schema:
        return schema["enum"][-1]
    return {
        "string": "text",
        "boolean": True,
        "integer": 3,
        "number": 2.5,
        "object": {"k": "v"},
    }.get(schema.get("type", ""), {"any": [1, "two"]})


def operation_for(method: str, path: str) -> Op:
    """The generated operation a request is for (literal routes before templated ones)."""
    segments = path.split("/")

    def matches(op: Op) -> bool:
        template = op.path.split("/")
        return (
            op.method == method
            and len(template) == len(segments)
            and all(
                t == s or (t.startswith("{") and t.endswith("}"))
                for t, s in zip(template, segments, strict=True)
            )
        )

    found = [op for op in generated_operations() if matches(op)]
    found.sort(key=lambda op: op.path.count("{"))
    assert found, (method, path)
    return found[0]
