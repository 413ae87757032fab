"""schema/openapi.yaml -> src/inferencesh/_generated/endpoints.py.

Reads the hand-kept OpenAPI document, checks it against the conventions written at its top, and
renders one sync and one async endpoint class per operation group with Jinja2. Anything the
conventions do not cover is an error naming the operation: a silent fallback would put an
untyped or wrong method into the client.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

__all__ = [
    "Body",
    "EndpointSpecError",
    "Field",
    "Operation",
    "Payload",
    "QueryParam",
    "load_operations",
    "referenced_defs",
    "render_endpoints",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
TYPES_REF = re.compile(r"^types\.schema\.json#/\$defs/([A-Za-z_][A-Za-z0-9_]*)$")
OPERATION_ID = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")
PATH_PARAM = re.compile(r"\{([^{}]+)\}")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
STREAM_KINDS = frozenset({"ndjson", "sse"})
ENVELOPE = "#/components/schemas/Envelope"
CURSOR_PAGE = "#/components/schemas/CursorListResponse"

# JSON Schema scalar types accepted for query parameters and inline body fields.
SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
# Names the generated module itself binds; a parameter with one of them would shadow it.
RESERVED = frozenset(
    {
        "self",
        "body",
        "quote",
        "builtins",
        "Any",
        "Literal",
        "Mapping",
        "RequestModel",
        "_query",
        "_fields",
    }
)


class EndpointSpecError(ValueError):
    """openapi.yaml breaks a convention the endpoint generator relies on."""


@dataclass(frozen=True)
class QueryParam:
    name: str
    annotation: str


@dataclass(frozen=True)
class Field:
    """A property of an inline request body, taken as a keyword argument."""

    name: str
    annotation: str
    required: bool


@dataclass(frozen=True)
class Body:
    """A request body: a generated model (``model``) or inline ``fields``."""

    model: str | None
    fields: tuple[Field, ...]
    required: bool


@dataclass(frozen=True)
class Payload:
    """What the method returns; ``kind`` is model, list, cursor, json or none."""

    kind: str
    model: str | None = None


@dataclass(frozen=True)
class Operation:
    operation_id: str
    group: str
    verb: str
    method: str
    path: str
    summary: str
    path_params: tuple[str, ...]
    query: tuple[QueryParam, ...]
    body: Body | None
    payload: Payload

    @property
    def models(self) -> set[str]:
        names = {self.payload.model} if self.payload.model else set()
        if self.body is not None and self.body.model is not None:
            names.add(self.body.model)
        return names


def _fail(where: str, message: str) -> EndpointSpecError:
    return EndpointSpecError(f"schema/openapi.yaml, {where}: {message}")


def _identifier(name: str, where: str, what: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name) or name in RESERVED:
        raise _fail(where, f"{what} {name!r} cannot be a Python parameter name")
    return name


class _Spec:
    """The loaded document plus local ``#/components/...`` reference resolution."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any, where: str) -> Any:
        seen: set[str] = set()
        while isinstance(node, Mapping) and set(node) == {"$ref"}:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/components/"):
                return node
            if ref in seen:
                raise _fail(where, f"reference cycle at {ref}")
            seen.add(ref)
            target: Any = self.document
            for part in ref[2:].split("/"):
                if not isinstance(target, Mapping) or part not in target:
                    raise _fail(where, f"unresolved reference {ref}")
                target = target[part]
            node = target
        return node


def _def_name(schema: Any, where: str) -> str | None:
    """``X`` for ``{$ref: types.schema.json#/$defs/X}``, else None."""
    if isinstance(schema, Mapping) and set(schema) == {"$ref"}:
        match = TYPES_REF.match(str(schema["$ref"]))
        if match is None:
            raise _fail(where, f"unexpected $ref {schema['$ref']!r}")
        return match.group(1)
    return None


def _is_array(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "array" or (isinstance(kind, list) and set(kind) == {"array", "null"})


def _payload_of(data: Any, where: str) -> Payload:
    """Apply the payload rule from the top of openapi.yaml to the schema of ``data``."""
    if not isinstance(data, Mapping):
        raise _fail(where, "the data schema must be an object")
    if not data or set(data) <= {"description"}:
        return Payload("json")
    if data.get("type") == "null" and set(data) <= {"type", "description"}:
        return Payload("none")
    model = _def_name(data, where)
    if model is not None:
        return Payload("model", model)
    if _is_array(data) and set(data) <= {"type", "items", "description"}:
        item = _def_name(data.get("items"), where)
        if item is not None:
            return Payload("list", item)
    members = data.get("allOf")
    if isinstance(members, list) and len(members) == 2 and members[0] == {"$ref": CURSOR_PAGE}:
        try:
            item = _def_name(members[1]["properties"]["items"]["items"], where)
        except (KeyError, TypeError):
            item = None
        if item is not None:
            return Payload("cursor", item)
    raise _fail(where, "the data schema matches none of the payload rules")


def _response_payload(spec: _Spec, response: Any, where: str) -> Payload:
    response = spec.resolve(response, where)
    content = response.get("content") if isinstance(response, Mapping) else None
    if not content:
        return Payload("none")
    if set(content) != {"application/json"}:
        raise _fail(where, f"a JSON operation answers with {sorted(content)}")
    schema = spec.resolve(content["application/json"].get("schema"), where)
    members = schema.get("allOf") if isinstance(schema, Mapping) else None
    if (
        not isinstance(members, list)
        or len(members) != 2
        or members[0] != {"$ref": ENVELOPE}
        or not isinstance(members[1], Mapping)
        or set(members[1]) != {"properties"}
        or set(members[1]["properties"]) != {"data"}
    ):
        raise _fail(where, "a success body must be allOf [Envelope, {properties: {data: ...}}]")
    return _payload_of(members[1]["properties"]["data"], where)


def _payload(spec: _Spec, responses: Mapping[str, Any], where: str) -> Payload:
    found = {
        _response_payload(spec, response, f"{where} response {code}")
        for code, response in responses.items()
        if str(code).startswith("2")
    }
    if not found:
        raise _fail(where, "no 2xx response")
    if len(found) > 1:
        raise _fail(where, f"2xx responses disagree on the payload: {sorted(map(str, found))}")
    return found.pop()


def _annotation(schema: Any, where: str) -> str:
    """The Python annotation for a parameter or inline body field schema."""
    if not isinstance(schema, Mapping):
        raise _fail(where, "schema must be an object")
    if not set(schema) - {"description"}:
        return "Any"
    kind = schema.get("type")
    if kind == "string" and "enum" in schema:
        values = schema["enum"]
        if not values or not all(isinstance(v, str) and v.isprintable() for v in values):
            raise _fail(where, "a string enum needs printable string values")
        return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"
    if kind in SCALARS:
        return SCALARS[kind]
    if kind == "object":
        return "Mapping[str, Any]"
    if kind == "array":
        return f"builtins.list[{_annotation(schema.get('items', {}), where)}]"
    raise _fail(where, f"unsupported schema {dict(schema)!r}")


def _body(spec: _Spec, node: Any, where: str) -> Body | None:
    if node is None:
        return None
    node = spec.resolve(node, where)
    content = node.get("content", {})
    if set(content) != {"application/json"}:
        raise _fail(where, "a request body must be application/json only")
    required = bool(node.get("required", False))
    schema = content["application/json"].get("schema")
    model = _def_name(schema, where)
    if model is not None:
        return Body(model, (), required)
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        raise _fail(where, "an inline request body must be an object schema")
    must = set(schema.get("required", []))
    fields = tuple(
        Field(
            _identifier(name, where, "body field"),
            _annotation(prop, f"{where}.{name}"),
            name in must,
        )
        for name, prop in schema.get("properties", {}).items()
    )
    if not fields or must - {f.name for f in fields}:
        raise _fail(where, "an inline request body needs properties covering `required`")
    return Body(None, tuple(sorted(fields, key=lambda f: not f.required)), required)


def _operation(spec: _Spec, path: str, method: str, item: Mapping[str, Any]) -> Operation | None:
    op = item[method]
    where = f"{method.upper()} {path}"
    if "x-stream" in op:
        if op["x-stream"] not in STREAM_KINDS:
            raise _fail(where, f"x-stream must be one of {sorted(STREAM_KINDS)}")
        return None
    match = OPERATION_ID.match(str(op.get("operationId", "")))
    if match is None:
        raise _fail(where, f"operationId {op.get('operationId')!r} is not <group>.<verb>")
    group, verb = match.groups()
    _identifier(verb, where, "verb")
    summary = " ".join(str(op.get("summary", "")).split())
    if not summary or '"""' in summary or "\\" in summary:
        raise _fail(where, "needs a one-line summary without triple quotes or backslashes")

    params: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = spec.resolve(raw, where)
        params[(param["in"], param["name"])] = param
    in_path = PATH_PARAM.findall(path)
    declared = sorted(name for (where_in, name) in params if where_in == "path")
    if sorted(in_path) != declared or len(set(in_path)) != len(in_path):
        raise _fail(where, f"path parameters {in_path} do not match the declared {declared}")
    for name in in_path:
        _identifier(name, where, "path parameter")
        if params[("path", name)].get("schema", {}).get("type") != "string":
            raise _fail(where, f"path parameter {name!r} must be a string")
    query = []
    for (where_in, name), param in sorted(params.items()):
        if where_in == "path":
            continue
        if where_in != "query" or param.get("required", False):
            raise _fail(where, f"parameter {name!r}: only optional query parameters are supported")
        schema = param.get("schema", {})
        if schema.get("type") not in SCALARS:
            raise _fail(where, f"query parameter {name!r} must be a scalar, not {schema!r}")
        annotation = _annotation(schema, f"{where} query {name}")
        query.append(QueryParam(_identifier(name, where, "query parameter"), annotation))

    body = _body(spec, op.get("requestBody"), where)
    fields = body.fields if body is not None else ()
    names = [*in_path, *(q.name for q in query), *(f.name for f in fields)]
    if len(set(names)) != len(names):
        raise _fail(where, f"parameter names collide: {names}")
    return Operation(
        operation_id=f"{group}.{verb}",
        group=group,
        verb=verb,
        method=method.upper(),
        path=path,
        summary=summary,
        path_params=tuple(in_path),
        query=tuple(query),
        body=body,
        payload=_payload(spec, op.get("responses", {}), where),
    )


def load_operations(openapi_path: Path) -> list[Operation]:
    """The generated operations of openapi.yaml (streams excluded), sorted by group and verb."""
    # libyaml when available: the pure-Python parser takes most of a second on this file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(openapi_path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(document, Mapping) or not str(document.get("openapi", "")).startswith("3.1"):
        raise _fail("top level", "expected an OpenAPI 3.1 document")
    spec = _Spec(document)
    operations: list[Operation] = []
    for path, item in document.get("paths", {}).items():
        for method in item:
            if method == "parameters":
                continue
            if method not in HTTP_METHODS:
                raise _fail(path, f"unsupported key or method {method!r}")
            operation = _operation(spec, path, method, item)
            if operation is not None:
                operations.append(operation)
    seen: dict[str, Operation] = {}
    for operation in operations:
        other = seen.setdefault(operation.operation_id, operation)
        if other is not operation:
            raise _fail(
                f"{operation.method} {operation.path}",
                f"operationId {operation.operation_id} also used by {other.method} {other.path}",
            )
    return sorted(operations, key=lambda o: (o.group, o.verb))


def referenced_defs(openapi_path: Path) -> set[str]:
    """Every types.schema.json def the generated endpoints use (a scope root for the models)."""
    return set().union(*(op.models for op in load_operations(openapi_path)))


def _class_stem(group: str) -> str:
    return "".join(part.capitalize() for part in group.split("_"))


def _path_expression(path: str) -> str:
    """A Python expression for the request path, each parameter escaped as one segment."""
    if not PATH_PARAM.search(path):
        return f'"{path}"'
    return 'f"' + PATH_PARAM.sub(lambda m: "{quote(" + m.group(1) + ", safe='')}", path) + '"'


_TRANSPORT_METHOD = {
    "model": "request_model",
    "cursor": "request_model",
    "list": "request_list",
    "json": "request_json",
    "none": "request_none",
}


def _view(op: Operation) -> dict[str, Any]:
    """What the template needs to write one method: signature, return type and call."""
    signature = ["self", *(f"{name}: str" for name in op.path_params)]
    call = [f'"{op.method}"', _path_expression(op.path)]
    payload = op.payload
    returns = {
        "model": str(payload.model),
        "cursor": f"CursorListResponse[{payload.model}]",
        "list": f"builtins.list[{payload.model}]",
        "json": "Any",
        "none": "None",
    }[payload.kind]
    if payload.kind in ("model", "cursor"):
        call.append(f"model={returns}")
    elif payload.kind == "list":
        call.append(f"item={payload.model}")
    keywords: list[str] = []
    body = op.body
    if body is not None and body.model is not None:
        annotation = f"{body.model} | Mapping[str, Any]"
        if body.required:
            signature.append(f"body: {annotation}")
            call.append(f"body=coerce_body({body.model}, body)")
        else:
            signature.append(f"body: {annotation} | None = None")
            call.append(f"body=coerce_body({body.model}, {{}} if body is None else body)")
    elif body is not None:
        for field in body.fields:
            if field.required:
                keywords.append(f"{field.name}: {field.annotation}")
            elif field.annotation == "Any":
                keywords.append(f"{field.name}: Any = None")
            else:
                keywords.append(f"{field.name}: {field.annotation} | None = None")
        values = ", ".join(f'"{f.name}": {f.name}' for f in body.fields)
        call.append(f"body=_fields({{{values}}})")
    for param in op.query:
        keywords.append(f"{param.name}: {param.annotation} | None = None")
    if op.query:
        values = ", ".join(f'"{q.name}": {q.name}' for q in op.query)
        call.append(f"params=_query({{{values}}})")
    if keywords:
        signature += ["*", *keywords]
    return {
        "verb": op.verb,
        "method": op.method,
        "path": op.path,
        "summary": op.summary,
        "payload": payload,
        "signature": signature,
        "returns": returns,
        "transport_method": _TRANSPORT_METHOD[payload.kind],
        "call": call,
    }


def render_endpoints(openapi_path: Path, defs: set[str]) -> str:
    """Python source of ``inferencesh._generated.endpoints``.

    ``defs`` are the model names ``inferencesh._generated.models`` defines; an operation that
    uses any other type is an error, so a scope gap shows up here and not as an ImportError.
    """
    operations = load_operations(openapi_path)
    missing = sorted(
        f"{name} (used by {op.operation_id})"
        for op in operations
        for name in op.models
        if name not in defs
    )
    if missing:
        raise EndpointSpecError(
            "schema/openapi.yaml uses types that inferencesh._generated.models does not define "
            f"(add them to codegen/scope.yaml): {', '.join(missing)}"
        )
    groups: dict[str, list[Operation]] = {}
    for op in operations:
        groups.setdefault(op.group, []).append(op)
    classes = [
        (group, _class_stem(group), [_view(op) for op in groups[group]]) for group in sorted(groups)
    ]
    views = [view for _, _, group_views in classes for view in group_views]
    kinds = {op.payload.kind for op in operations}
    uses_fields = any(op.body is not None and op.body.fields for op in operations)
    runtime = sorted(
        name
        for name, used in (("CursorListResponse", "cursor" in kinds), ("RequestModel", uses_fields))
        if used
    )
    imports = {
        "builtins": any("builtins." in " ".join(v["signature"]) + v["returns"] for v in views),
        "literal": any("Literal[" in " ".join(v["signature"]) for v in views),
        "mapping": any(op.body is not None or op.query for op in operations),
        "quote": any(op.path_params for op in operations),
        "runtime": runtime,
        "coerce_body": any(op.body is not None and op.body.model for op in operations),
        "query": any(op.query for op in operations),
        "fields": uses_fields,
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template("endpoints.py.jinja").render(
        classes=classes,
        models=sorted(set().union(*(op.models for op in operations))),
        exports=sorted(
            name for _, stem, _ in classes for name in (f"{stem}Endpoints", f"Async{stem}Endpoints")
        ),
        imports=imports,
    )
