"""schema/openapi.yaml -> the generated resources, the clients' group properties and docs/api.md.

Reads the hand-kept OpenAPI document, checks it against the conventions written at its top, and
renders with Jinja2, for every tag (API group):

* ``src/inferencesh/_generated/resources/<group>.py``: a blocking and an async resource class with
  one method per operation, and their ``with_raw_response`` twins;
* ``src/inferencesh/_generated/client.py``: one cached property per group for each client;
* ``docs/api.md``: every method with its route and types.

Anything the conventions do not cover is an error naming the operation: a silent fallback would
put an untyped or wrong method into the client.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jinja2
import yaml  # type: ignore[import-untyped]

__all__ = [
    "Body",
    "EndpointSpecError",
    "Field",
    "Group",
    "Operation",
    "Payload",
    "QueryParam",
    "Spec",
    "load_spec",
    "referenced_defs",
    "render_api_doc",
    "render_client",
    "environment",
    "render_resources",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
TYPES_REF = re.compile(r"^types\.schema\.json#/\$defs/([A-Za-z_][A-Za-z0-9_]*)$")
OPERATION_ID = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")
PATH_PARAM = re.compile(r"\{([^{}]+)\}")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
STREAM_KINDS = frozenset({"ndjson", "sse"})
ENVELOPE = "#/components/schemas/Envelope"
CURSOR_PAGE = "#/components/schemas/CursorListResponse"
CURSOR_REQUEST = "CursorListRequest"

# JSON Schema scalar types accepted for query parameters and inline body fields.
SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
# Per-call options every method takes (inferencesh._runtime.request.RequestOptions).
OPTIONS = ("timeout", "extra_headers", "extra_query", "extra_body")
# Names a generated method binds itself; a parameter with one of them would shadow it.
RESERVED = frozenset({"self", "body", "kwargs", "options", "call", "fields", "builtins", *OPTIONS})

Json = Mapping[str, Any]


class EndpointSpecError(ValueError):
    """openapi.yaml breaks a convention the endpoint generator relies on."""


@dataclass(frozen=True)
class QueryParam:
    name: str
    annotation: str
    description: str


@dataclass(frozen=True)
class Field:
    """A property of an inline request body, taken as a keyword argument."""

    name: str
    annotation: str
    required: bool


@dataclass(frozen=True)
class Body:
    """A request body: a generated model (``model``), inline ``fields``, or any JSON object."""

    model: str | None
    fields: tuple[Field, ...]
    required: bool

    @property
    def free_form(self) -> bool:
        return self.model is None and not self.fields


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
    cursor: str | None  # where a cursor page takes the next cursor: "body" or "query"

    @property
    def models(self) -> set[str]:
        names: set[str] = set()
        if self.payload.model is not None:
            names.add(self.payload.model)
        if self.body is not None and self.body.model is not None:
            names.add(self.body.model)
        return names


@dataclass(frozen=True)
class Group:
    """One tag of openapi.yaml: an API group, a resource class per client."""

    name: str
    description: str
    operations: tuple[Operation, ...]
    streams: tuple[tuple[str, str, str], ...]  # (operationId, method, path) read by hand

    @property
    def stem(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class Spec:
    groups: tuple[Group, ...]

    @property
    def operations(self) -> list[Operation]:
        return [op for group in self.groups for op in group.operations]


def _fail(where: str, message: str) -> EndpointSpecError:
    return EndpointSpecError(f"schema/openapi.yaml, {where}: {message}")


def _identifier(name: str, where: str, what: str) -> str:
    if (
        not name.isidentifier()
        or keyword.iskeyword(name)
        or name in RESERVED
        or name.startswith("_")
    ):
        raise _fail(where, f"{what} {name!r} cannot be a Python parameter name")
    return name


def _one_line(text: object, where: str, what: str) -> str:
    line = " ".join(str(text or "").split())
    if not line or '"""' in line or "\\" in line:
        raise _fail(where, f"needs a one-line {what} without triple quotes or backslashes")
    return line


class _Document:
    """The loaded document plus local ``#/components/...`` reference resolution."""

    def __init__(self, document: Json) -> None:
        self.document = document

    def resolve(self, node: Any, where: str) -> Any:
        seen: set[str] = set()
        while True:
            mapping = _as_map(node)
            if mapping is None or set(mapping) != {"$ref"}:
                return node
            ref = mapping["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/components/"):
                return node
            if ref in seen:
                raise _fail(where, f"reference cycle at {ref}")
            seen.add(ref)
            target: Any = self.document
            for part in ref[2:].split("/"):
                found = _as_map(target)
                if found is None or part not in found:
                    raise _fail(where, f"unresolved reference {ref}")
                target = found[part]
            node = target


def _def_name(schema: Any, where: str) -> str | None:
    """``X`` for ``{$ref: types.schema.json#/$defs/X}``, else None."""
    if isinstance(schema, Mapping) and set(cast(Json, schema)) == {"$ref"}:
        ref = str(cast(Json, schema)["$ref"])
        match = TYPES_REF.match(ref)
        if match is None:
            raise _fail(where, f"unexpected $ref {ref!r}")
        return match.group(1)
    return None


def _as_list(value: object) -> list[object] | None:
    """``value`` if it is a JSON array, else None."""
    return cast("list[object]", value) if isinstance(value, list) else None


def _as_map(value: object) -> Json | None:
    """``value`` if it is a JSON object, else None."""
    return cast(Json, value) if isinstance(value, Mapping) else None


def _is_array(schema: Json) -> bool:
    kind = schema.get("type")
    kinds = _as_list(kind)
    return kind == "array" or (kinds is not None and set(kinds) == {"array", "null"})


def _payload_of(data: Any, where: str) -> Payload:
    """Apply the payload rule from the top of openapi.yaml to the schema of ``data``."""
    if not isinstance(data, Mapping):
        raise _fail(where, "the data schema must be an object")
    schema = cast(Json, data)
    if not schema or set(schema) <= {"description"}:
        return Payload("json")
    if schema.get("type") == "null" and set(schema) <= {"type", "description"}:
        return Payload("none")
    model = _def_name(schema, where)
    if model is not None:
        return Payload("model", model)
    if _is_array(schema) and set(schema) <= {"type", "items", "description"}:
        item = _def_name(schema.get("items"), where)
        if item is not None:
            return Payload("list", item)
    members = _as_list(schema.get("allOf"))
    if members is not None and len(members) == 2 and members[0] == {"$ref": CURSOR_PAGE}:
        second = _as_map(members[1]) or {}
        try:
            item = _def_name(second["properties"]["items"]["items"], where)
        except (KeyError, TypeError):
            item = None
        if item is not None:
            return Payload("cursor", item)
    raise _fail(where, "the data schema matches none of the payload rules")


def _response_payload(doc: _Document, response: Any, where: str) -> Payload:
    response = doc.resolve(response, where)
    content = cast(Json, response).get("content") if isinstance(response, Mapping) else None
    if not content:
        return Payload("none")
    if set(content) != {"application/json"}:
        raise _fail(where, f"a JSON operation answers with {sorted(content)}")
    schema = doc.resolve(content["application/json"].get("schema"), where)
    members = _as_list((_as_map(schema) or {}).get("allOf"))
    second = _as_map(members[1]) if members is not None and len(members) == 2 else None
    if (
        members is None
        or second is None
        or members[0] != {"$ref": ENVELOPE}
        or set(second) != {"properties"}
        or set(second["properties"]) != {"data"}
    ):
        raise _fail(where, "a success body must be allOf [Envelope, {properties: {data: ...}}]")
    return _payload_of(second["properties"]["data"], where)


def _payload(doc: _Document, responses: Json, where: str) -> Payload:
    found = {
        _response_payload(doc, response, f"{where} response {code}")
        for code, response in responses.items()
        if str(code).startswith("2")
    }
    if not found:
        raise _fail(where, "no 2xx response")
    if len(found) > 1:
        raise _fail(where, f"2xx responses disagree on the payload: {sorted(map(str, found))}")
    return found.pop()


def _annotation(schema: Any, where: str) -> str:
    """The Python annotation for a query parameter or inline body field schema."""
    if not isinstance(schema, Mapping):
        raise _fail(where, "schema must be an object")
    node = cast(Json, schema)
    if not set(node) - {"description"}:
        return "Any"
    kind = node.get("type")
    if kind == "string" and "enum" in node:
        values = node["enum"]
        if not values or not all(isinstance(v, str) and v.isprintable() for v in values):
            raise _fail(where, "a string enum needs printable string values")
        return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"
    if isinstance(kind, str) and kind in SCALARS:
        return SCALARS[kind]
    if kind == "object":
        return "Mapping[str, Any]"
    if kind == "array":
        return f"Sequence[{_annotation(node.get('items', {}), where)}]"
    raise _fail(where, f"unsupported schema {dict(node)!r}")


def _body(doc: _Document, node: Any, where: str) -> Body | None:
    if node is None:
        return None
    node = doc.resolve(node, where)
    content = cast(Json, node).get("content", {})
    if set(content) != {"application/json"}:
        raise _fail(where, "a request body must be application/json only")
    required = bool(cast(Json, node).get("required", False))
    schema = content["application/json"].get("schema")
    model = _def_name(schema, where)
    if model is not None:
        return Body(model, (), required)
    if not isinstance(schema, Mapping) or cast(Json, schema).get("type") != "object":
        raise _fail(where, "an inline request body must be an object schema")
    inline = cast(Json, schema)
    properties: Json = inline.get("properties", {})
    if not properties:
        if set(inline) - {"type", "description", "additionalProperties"}:
            raise _fail(where, "a free-form body is {type: object} and at most a description")
        return Body(None, (), required)
    must = set(inline.get("required", []))
    fields = tuple(
        Field(
            _identifier(name, where, "body field"),
            _annotation(prop, f"{where}.{name}"),
            name in must,
        )
        for name, prop in properties.items()
    )
    if must - {f.name for f in fields}:
        raise _fail(where, "an inline request body needs properties covering `required`")
    return Body(None, tuple(sorted(fields, key=lambda f: not f.required)), required)


def _cursor(
    op_where: str, payload: Payload, body: Body | None, query: Sequence[QueryParam]
) -> str | None:
    if payload.kind != "cursor":
        return None
    if body is not None and body.model == CURSOR_REQUEST:
        return "body"
    if any(q.name == "cursor" for q in query):
        return "query"
    raise _fail(op_where, f"a cursor page needs a {CURSOR_REQUEST} body or a `cursor` query")


def _operation(
    doc: _Document, path: str, method: str, item: Json
) -> tuple[str, Operation | tuple[str, str, str]]:
    """(group, the operation) or, for a stream, (group, its id, method and path)."""
    op = cast(Json, item[method])
    where = f"{method.upper()} {path}"
    match = OPERATION_ID.match(str(op.get("operationId", "")))
    if match is None:
        raise _fail(where, f"operationId {op.get('operationId')!r} is not <group>.<verb>")
    group, verb = match.groups()
    tags = op.get("tags")
    if tags != [group]:
        raise _fail(where, f"tags must be [{group}] (the group of operationId {group}.{verb})")
    if "x-stream" in op:
        if op["x-stream"] not in STREAM_KINDS:
            raise _fail(where, f"x-stream must be one of {sorted(STREAM_KINDS)}")
        return group, (f"{group}.{verb}", method.upper(), path)
    _identifier(verb, where, "verb")
    summary = _one_line(op.get("summary"), where, "summary")

    params: dict[tuple[str, str], Json] = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = cast(Json, doc.resolve(raw, where))
        params[(param["in"], param["name"])] = param
    in_path = PATH_PARAM.findall(path)
    declared = sorted(name for (where_in, name) in params if where_in == "path")
    if sorted(in_path) != declared or len(set(in_path)) != len(in_path):
        raise _fail(where, f"path parameters {in_path} do not match the declared {declared}")
    for name in in_path:
        _identifier(name, where, "path parameter")
        if params[("path", name)].get("schema", {}).get("type") != "string":
            raise _fail(where, f"path parameter {name!r} must be a string")
    query: list[QueryParam] = []
    for (where_in, name), param in sorted(params.items()):
        if where_in == "path":
            continue
        if where_in != "query" or param.get("required", False):
            raise _fail(where, f"parameter {name!r}: only optional query parameters are supported")
        schema = param.get("schema", {})
        if schema.get("type") not in SCALARS:
            raise _fail(where, f"query parameter {name!r} must be a scalar, not {schema!r}")
        annotation = _annotation(schema, f"{where} query {name}")
        description = " ".join(str(param.get("description", "")).split())
        query.append(
            QueryParam(_identifier(name, where, "query parameter"), annotation, description)
        )

    body = _body(doc, op.get("requestBody"), where)
    fields = body.fields if body is not None else ()
    names = [*in_path, *(q.name for q in query), *(f.name for f in fields)]
    if len(set(names)) != len(names):
        raise _fail(where, f"parameter names collide: {names}")
    payload = _payload(doc, op.get("responses", {}), where)
    return group, Operation(
        operation_id=f"{group}.{verb}",
        group=group,
        verb=verb,
        method=method.upper(),
        path=path,
        summary=summary,
        path_params=tuple(in_path),
        query=tuple(query),
        body=body,
        payload=payload,
        cursor=_cursor(where, payload, body, query),
    )


def load_spec(openapi_path: Path) -> Spec:
    """The groups of openapi.yaml with their generated operations, sorted by group and verb."""
    # libyaml when available: the pure-Python parser takes most of a second on this file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(openapi_path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(document, Mapping) or not str(
        cast(Json, document).get("openapi", "")
    ).startswith("3.1"):
        raise _fail("top level", "expected an OpenAPI 3.1 document")
    doc = _Document(cast(Json, document))
    descriptions: dict[str, str] = {}
    for tag in doc.document.get("tags", []):
        name = str(tag.get("name", ""))
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in descriptions:
            raise _fail("tags", f"tag name {name!r} is not a unique snake_case group name")
        descriptions[name] = _one_line(tag.get("description"), f"tag {name}", "description")
    operations: dict[str, list[Operation]] = {}
    streams: dict[str, list[tuple[str, str, str]]] = {}
    seen: dict[str, str] = {}
    for path, item in doc.document.get("paths", {}).items():
        for method in item:
            if method == "parameters":
                continue
            if method not in HTTP_METHODS:
                raise _fail(path, f"unsupported key or method {method!r}")
            group, found = _operation(doc, path, method, item)
            if group not in descriptions:
                raise _fail(f"{method.upper()} {path}", f"tag {group!r} is not declared in `tags`")
            operation_id = found.operation_id if isinstance(found, Operation) else found[0]
            here = f"{method.upper()} {path}"
            if operation_id in seen:
                raise _fail(here, f"operationId {operation_id} also used by {seen[operation_id]}")
            seen[operation_id] = here
            if isinstance(found, Operation):
                operations.setdefault(group, []).append(found)
            else:
                streams.setdefault(group, []).append(found)
    groups = tuple(
        Group(
            name,
            descriptions[name],
            tuple(sorted(operations.get(name, []), key=lambda o: o.verb)),
            tuple(sorted(streams.get(name, []))),
        )
        for name in sorted(descriptions)
    )
    empty = [group.name for group in groups if not group.operations]
    if empty:
        raise _fail("tags", f"tags without a generated operation: {', '.join(empty)}")
    return Spec(groups)


def referenced_defs(openapi_path: Path) -> set[str]:
    """Every types.schema.json def the generated endpoints use (a scope root for the models)."""
    found: set[str] = set()
    for op in load_spec(openapi_path).operations:
        found |= op.models
    return found


# ---------------------------------------------------------------------------------------------
# Rendering


def _path_expression(path: str) -> str:
    """A Python expression for the request path, each parameter checked and escaped."""
    if not PATH_PARAM.search(path):
        return f'"{path}"'
    return 'f"' + PATH_PARAM.sub(lambda m: f"{{_rq.segment('{m[1]}', {m[1]})}}", path) + '"'


@dataclass(frozen=True)
class _Method:
    """What the template needs to write one method, in each of its four variants."""

    op: Operation
    parameters: tuple[str, ...]  # after self, before the options
    kwargs: str  # "**options: Unpack[RequestOptions]" or the body's Args
    split: bool  # kwargs hold body fields: split them from the options
    returns: str  # the parsed type, sync
    async_returns: str
    sync_call: str  # the _rq.Call(...) expression
    async_call: str
    doc_signature: str  # for docs/api.md

    @property
    def page(self) -> bool:
        return self.op.payload.kind == "cursor"


def _returns(payload: Payload, page: str) -> str:
    return {
        "model": str(payload.model),
        "cursor": f"{page}[{payload.model}]",
        "list": f"builtins.list[{payload.model}]",
        "json": "Any",
        "none": "None",
    }[payload.kind]


def _method(op: Operation) -> _Method:
    parameters = [f"{name}: str" for name in op.path_params]
    body_args: list[str] = []
    payload = op.payload

    # At run time the models and pages are read from their packages (``_models.X``,
    # ``_runtime.SyncPage``), which load a name on first use: importing a resource loads no
    # model and no page class. Annotations name them directly.
    def returns_expr(page: str) -> str:
        return {
            "model": f"_rq.model_of(_models.{payload.model})",
            "cursor": f"_rq.model_of(_runtime.{page}[_models.{payload.model}])",
            "list": f"_rq.list_of(_models.{payload.model})",
            "json": "_rq.JSON",
            "none": "_rq.NOTHING",
        }[payload.kind]

    kwargs = "**options: Unpack[RequestOptions]"
    split = False
    body = op.body
    if body is not None and body.model is not None:
        parameters.append(f"body: {body.model} | {body.model}Params | None = None")
        kwargs = f"**kwargs: Unpack[{body.model}Args]"
        split = True
        body_args.append(f"body=_rq.request_body(_models.{body.model}, body, fields)")
    elif body is not None and body.free_form:
        if body.required:
            parameters.append("body: Mapping[str, Any]")
            body_args.append("body=_rq.json_body(body)")
        else:
            parameters.append("body: Mapping[str, Any] | None = None")
            body_args.append("body=_rq.json_body({} if body is None else body)")
    keywords: list[str] = []
    if body is not None and body.fields:
        for field in body.fields:
            if field.required:
                keywords.append(f"{field.name}: {field.annotation}")
            elif field.annotation == "Any":
                keywords.append(f"{field.name}: Any = None")
            else:
                keywords.append(f"{field.name}: {field.annotation} | None = None")
        values = ", ".join(f'"{f.name}": {f.name}' for f in body.fields)
        body_args.append(f"body=_rq.inline_body({{{values}}})")
    for param in op.query:
        keywords.append(f"{param.name}: {param.annotation} | None = None")
    if op.query:
        values = ", ".join(f'"{q.name}": {q.name}' for q in op.query)
        body_args.append(f"params=_rq.query({{{values}}})")
    if keywords:
        parameters += ["*", *keywords]
    if op.cursor is not None:
        body_args.append(f'cursor="{op.cursor}"')

    def call(page: str) -> str:
        arguments = [f'"{op.method}"', _path_expression(op.path), returns_expr(page), *body_args]
        return f"_rq.Call({', '.join(arguments)})"

    shown = [*op.path_params]
    if body is not None and body.model is not None:
        shown += [f"body: {body.model} = None", "**fields"]
    elif body is not None and body.free_form:
        shown.append("body: dict" if body.required else "body: dict = None")
    shown += [k.replace(" | None = None", " = None").replace("builtins.", "") for k in keywords]
    return _Method(
        op=op,
        parameters=tuple(parameters),
        kwargs=kwargs,
        split=split,
        returns=_returns(payload, "SyncPage"),
        async_returns=_returns(payload, "AsyncPager"),
        sync_call=call("SyncPage"),
        async_call=call("AsyncPage"),
        doc_signature=", ".join(shown).replace("Mapping[str, Any]", "dict"),
    )


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _check_defs(spec: Spec, defs: set[str]) -> None:
    missing = sorted(
        f"{name} (used by {op.operation_id})"
        for op in spec.operations
        for name in op.models
        if name not in defs
    )
    if missing:
        raise EndpointSpecError(
            "schema/openapi.yaml uses types that inferencesh._generated.models does not define "
            f"(only object and enum defs become models): {', '.join(missing)}"
        )


def render_resources(spec: Spec, defs: set[str]) -> dict[str, str]:
    """``group -> source`` of ``inferencesh._generated.resources.<group>``.

    ``defs`` are the model names ``inferencesh._generated.models`` defines; an operation that
    uses any other type is an error, so a scope gap shows up here and not as an ImportError.
    """
    _check_defs(spec, defs)
    template = environment().get_template("resource.py.jinja")
    sources: dict[str, str] = {}
    for group in spec.groups:
        methods = [_method(op) for op in group.operations]
        body_models = sorted(
            {op.body.model for op in group.operations if op.body is not None and op.body.model}
        )
        sources[group.name] = template.render(
            group=group,
            methods=methods,
            models=sorted({name for op in group.operations for name in op.models}),
            params=[name for model in body_models for name in (f"{model}Args", f"{model}Params")],
        )
    return sources


def render_client(spec: Spec) -> str:
    """Source of ``inferencesh._generated.client``: a property per group for each client."""
    return environment().get_template("client.py.jinja").render(groups=spec.groups)


def render_api_doc(spec: Spec) -> str:
    """``docs/api.md``: every method of both clients with its route and types."""
    groups = [(group, [_method(op) for op in group.operations]) for group in spec.groups]
    return environment().get_template("api.md.jinja").render(groups=groups)


def render_routes(spec: Spec) -> str:
    """Source of ``inferencesh._generated.routes``: every route of openapi.yaml, streams too."""
    rows = {(op.path, op.method.upper(), op.operation_id) for op in spec.operations}
    rows |= {(path, method, op_id) for g in spec.groups for op_id, method, path in g.streams}
    lines = [
        "# Generated by codegen. Do not edit: run `make generate`.",
        '"""Every route of schema/openapi.yaml: (method, path template, operationId), by path.',
        "",
        "The local runtime routes from this table, so every operation is answered (501 where it",
        "serves none) and ``Allow`` lists what the spec lists.",
        '"""',
        "",
        "ROUTES: tuple[tuple[str, str, str], ...] = (",
        *(f"    ({method!r}, {path!r}, {op_id!r})," for path, method, op_id in sorted(rows)),
        ")",
        "",
    ]
    return "\n".join(lines)
