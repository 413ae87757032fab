"""An app's JSON Schemas -> a Python module of typed models and a handle (``inferencesh types``).

The module is written by the generator the wire models are written by (datamodel-code-generator,
the ``types`` extra), with the options of ``[tool.datamodel-codegen]`` (shipped as
``_generated/generator_options.py``) minus the three that only wire models use, plus the few that
make a model read like the app's own pydantic class. Before the generator sees them the schemas
are prepared: the input, output and setup documents share one ``$defs`` (a name two of them use
for different shapes is prefixed with its role), a ``File`` field (``format: file``) becomes
``inferencesh.File``, an inline enum (a ``Literal``) stays a ``Literal`` while a named one (an
``Enum`` class) stays a class, and ``Input``/``Setup`` refuse unknown fields.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from inferencesh._generated.generator_options import DATAMODEL_CODEGEN

if TYPE_CHECKING:
    from inferencesh._generated.models import AppDTO

__all__ = ["TYPES_EXTRA", "AppSchemas", "TypegenError", "load_generator", "render", "schemas_of"]

TYPES_EXTRA = "pip install 'inferencesh[types]'"

JsonSchema = dict[str, Any]

# Wire-model options: the open-enum template and its imports, and the base class that reads a
# Go server's zero values. An app's types are the app's own declarations, read as declared.
_WIRE_ONLY = frozenset({"custom-template-dir", "additional-imports", "base-class"})
_APP_OPTIONS: dict[str, object] = {
    # pydantic writes ``X | None`` as anyOf-null: a field with a default is not thereby nullable.
    "strict-nullable": True,
    "set-default-enum-member": True,
    "additional-imports": ["inferencesh.TypedApp"],
}
_ROLES = ("Input", "Output", "Setup")
_FILE = "File"
_RESERVED = frozenset({*_ROLES, _FILE, "TypedApp", "app"})
_DEFS = "#/$defs/"
_OLD_DEFS = "#/definitions/"


class TypegenError(ValueError):
    """The app's schemas cannot be turned into a module; the message says why."""


@dataclass(frozen=True)
class AppSchemas:
    """What a typed module is generated from: the app, the function and its three schemas."""

    ref: str
    """``namespace/name``, with ``@version`` when the module is pinned to a version."""
    function: str | None
    """The function the types describe (None: the app did not say; the server picks)."""
    requested_function: str | None
    """The function named on the command line, if any (for the command in the header)."""
    input_schema: JsonSchema
    output_schema: JsonSchema
    setup_schema: JsonSchema | None


def _object(value: Any) -> JsonSchema:
    return cast(JsonSchema, value) if isinstance(value, dict) else {}


def schemas_of(
    app: AppDTO, *, version: str | None = None, function: str | None = None
) -> AppSchemas:
    """The schemas of ``function`` (default: the app's default function) of ``app``'s version."""
    current = app.version
    if current is None:
        raise TypegenError(f"{app.namespace}/{app.name}: the API sent no version with its schemas")
    functions = current.functions or {}
    default = current.default_function or None
    chosen = function or default
    if chosen is not None and chosen in functions:
        entry = functions[chosen]
        input_schema, output_schema = entry.input_schema, entry.output_schema
    elif function is None or function == default:
        input_schema, output_schema = current.input_schema, current.output_schema
    else:
        known = ", ".join(sorted(functions)) or "none listed"
        raise TypegenError(
            f"{app.namespace}/{app.name} has no function {function!r} (functions: {known})"
        )
    setup = _object(current.setup_schema)
    ref = f"{app.namespace}/{app.name}" + (f"@{version}" if version else "")
    return AppSchemas(
        ref=ref,
        function=chosen,
        requested_function=function,
        input_schema=_object(input_schema),
        output_schema=_object(output_schema),
        setup_schema=setup if setup.get("properties") else None,
    )


def load_generator() -> Any:
    """datamodel-code-generator's ``generate``, or a TypegenError saying how to install it."""
    try:
        from datamodel_code_generator import generate
    except ImportError as exc:
        raise TypegenError(
            f"generating app types needs datamodel-code-generator: {TYPES_EXTRA} ({exc})"
        ) from None
    return generate


# Preparing the schemas.


# Keywords whose value is a map of names to schemas, and keywords whose value is data.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_DATA = frozenset({"default", "enum", "const", "examples", "required"})

Visit = Callable[[JsonSchema], JsonSchema]


def _walk(node: Any, visit: Visit) -> Any:
    """A schema rebuilt bottom-up, each subschema passed through ``visit``; values (defaults,
    enums, ``x-`` extensions) and property names are left as they are."""
    if not isinstance(node, dict):
        return node
    rebuilt: JsonSchema = {}
    for key, value in cast(JsonSchema, node).items():
        if key in _DATA or key.startswith("x-"):
            rebuilt[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            named = cast(JsonSchema, value).items()
            rebuilt[key] = {name: _walk(schema, visit) for name, schema in named}
        elif isinstance(value, list):
            rebuilt[key] = [_walk(item, visit) for item in cast(list[Any], value)]  # type: ignore[redundant-cast]
        else:
            rebuilt[key] = _walk(value, visit)
    return visit(rebuilt)


def _renamed_refs(node: Any, renames: dict[str, str]) -> Any:
    def visit(schema: JsonSchema) -> JsonSchema:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_OLD_DEFS):
            ref = _DEFS + ref.removeprefix(_OLD_DEFS)
        if isinstance(ref, str) and ref.startswith(_DEFS):
            name = ref.removeprefix(_DEFS)
            schema = {**schema, "$ref": _DEFS + renames.get(name, name)}
        return schema

    return _walk(node, visit)


def _is_object(schema: JsonSchema) -> bool:
    return schema.get("type") == "object" or "properties" in schema or "allOf" in schema


def _free_name(wanted: str, taken: set[str]) -> str:
    name, number = wanted, 2
    while name in taken or name in _RESERVED:
        name, number = f"{wanted}{number}", number + 1
    return name


def _root_def(root: JsonSchema, local: dict[str, JsonSchema]) -> str | None:
    """The local def a root that is only a ``$ref`` names (pydantic writes a recursive model so)."""
    ref = root.get("$ref")
    if set(root) - {"title", "description"} != {"$ref"} or not isinstance(ref, str):
        return None
    name = ref.removeprefix(_DEFS).removeprefix(_OLD_DEFS)
    return name if name in local else None


def _add_document(role: str, schema: JsonSchema, defs: dict[str, JsonSchema]) -> None:
    """Put ``schema`` into ``defs`` as ``role``, its own ``$defs`` beside it."""
    schema = copy.deepcopy(schema)
    local: dict[str, JsonSchema] = {
        **_object(schema.pop("definitions", None)),
        **_object(schema.pop("$defs", None)),
    }
    target = _root_def(schema, local)
    renames: dict[str, str] = {} if target is None else {target: role}
    for name, body in local.items():
        if name != target and (name in _RESERVED or (name in defs and defs[name] != body)):
            renames[name] = _free_name(f"{role}{name}", set(defs) | set(local))
    for name, body in local.items():
        defs[renames.get(name, name)] = _renamed_refs(body, renames)
    root: JsonSchema = defs[role] if target is not None else _renamed_refs(schema, renames)
    if not _is_object(root):
        # ``{}`` (a function returning a dict, or taking nothing): any object.
        root = {"type": "object", "additionalProperties": True, **root}
    if role != "Output":
        # An unknown input or setup field is a typo: refused before sending. Unknown output
        # fields (a newer version of the app) are ignored, as pydantic ignores them.
        root.setdefault("additionalProperties", False)
    defs[role] = root


def _auto_title(name: str) -> str:
    """The title pydantic gives a field it was not told one for."""
    return name.replace("_", " ").title()


def _prepare(node: JsonSchema, *, is_def: bool = False) -> JsonSchema:
    """File fields as ``inferencesh.File``, inline enums as ``Literal``, no generated titles."""

    def visit(schema: JsonSchema) -> JsonSchema:
        if schema.get("format") == "file" and schema.get("type") == "string":
            rest = {k: v for k, v in schema.items() if k not in ("format", "type")}
            schema = {"$ref": _DEFS + _FILE, **rest}
        if "enum" in schema:
            schema = {**schema, "x-enum-field-as-literal": True}
        properties = schema.get("properties")
        if isinstance(properties, dict):
            fields = cast(dict[str, JsonSchema], properties)
            schema = {
                **schema,
                "properties": {
                    name: {k: v for k, v in field.items() if (k, v) != ("title", _auto_title(name))}
                    for name, field in fields.items()
                },
            }
        return schema

    prepared = cast(JsonSchema, _walk(node, visit))
    if is_def and "enum" in node:
        # A named enum (``$defs``) is an Enum class in the app: it stays one.
        prepared.pop("x-enum-field-as-literal", None)
    return prepared


def _document(schemas: AppSchemas) -> JsonSchema:
    defs: dict[str, JsonSchema] = {}
    _add_document("Input", schemas.input_schema, defs)
    _add_document("Output", schemas.output_schema, defs)
    if schemas.setup_schema is not None:
        _add_document("Setup", schemas.setup_schema, defs)
    prepared = {name: _prepare(body, is_def=True) for name, body in defs.items()}
    prepared[_FILE] = {
        "type": "string",
        "x-python-import": {"module": "inferencesh", "name": "File"},
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": prepared}


# The module.


def command_of(schemas: AppSchemas) -> str:
    """The command that (re)generates the module, as its header shows it."""
    ref = schemas.ref + (f":{schemas.requested_function}" if schemas.requested_function else "")
    return f"inferencesh types {ref}"


def _header(schemas: AppSchemas, classes: list[str]) -> str:
    names = ", ".join(f"``{name}``" for name in classes)
    return (
        f"# Generated by `{command_of(schemas)}`. Do not edit: run it again.\n"
        "# `--check` fails when the app's schemas no longer match this file.\n"
        f'"""Typed models and a handle for the inference.sh app ``{schemas.ref}``.\n'
        "\n"
        f"{names}: the app's schemas as pydantic models.\n"
        "``app`` runs the app with them::\n"
        "\n"
        "    result = app.run(client, Input(...))  # await it with an AsyncInference\n"
        "    result.output  # an Output\n"
        '"""'
    )


def _handle(schemas: AppSchemas) -> str:
    setup = "Setup" if schemas.setup_schema is not None else "None"
    function = f", function={json.dumps(schemas.function)}" if schemas.function else ""
    return (
        f"app: TypedApp[Input, Output, {setup}] = TypedApp(\n"
        f"    {json.dumps(schemas.ref)}, Input, Output, {setup}{function}\n"
        ")\n"
        f'"""Runs {schemas.ref}: ``app.run(client, Input(...))`` returns a task whose\n'
        '``output`` is an ``Output`` (a coroutine of one with an ``AsyncInference``)."""\n'
    )


def _options(header: str) -> dict[str, object]:
    options = {
        key.replace("-", "_"): value
        for key, value in DATAMODEL_CODEGEN.items()
        if key not in _WIRE_ONLY
    }
    options.update({key.replace("-", "_"): value for key, value in _APP_OPTIONS.items()})
    options["custom_file_header"] = header
    return options


def render(schemas: AppSchemas) -> str:
    """The source of the typed module of ``schemas``."""
    generate = load_generator()
    classes = [role for role in _ROLES if role != "Setup" or schemas.setup_schema is not None]
    try:
        with warnings.catch_warnings():
            # The pinned generator warns on Python 3.10 that a later release drops it; the
            # module it writes is the same, and a user of `inferencesh types` cannot act on it.
            warnings.filterwarnings(
                "ignore", "Running datamodel-code-generator on Python 3.10", FutureWarning
            )
            source = generate(_document(schemas), **_options(_header(schemas, classes)))
    except Exception as exc:  # the generator's own errors name the schema part it refused
        raise TypegenError(f"{schemas.ref}: cannot generate types: {exc}") from None
    if not isinstance(source, str):
        raise TypegenError(f"{schemas.ref}: the generator produced no single module")
    missing = [name for name in classes if not re.search(rf"^class {name}\b", source, re.M)]
    if missing:
        raise TypegenError(f"{schemas.ref}: the generator did not write {', '.join(missing)}")
    return f"{source.rstrip()}\n\n\n{_handle(schemas)}"
