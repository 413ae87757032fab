"""``schema/types.schema.json`` -> the ``src/inferencesh/_generated/models/`` package.

Only the ``$ref`` closure of the roots in ``codegen/scope.yaml`` is generated. The scoped schema is
handed to the pinned datamodel-code-generator (options in ``[tool.datamodel-codegen]`` of
pyproject.toml, open enums from ``codegen/templates/dcg/Enum.jinja2``); its single module is then
split into one module per type (the types of a reference cycle share one), each importing the
types it names, so that importing a type creates it and what it refers to and nothing else. The
fields the client cannot go without (``required_fields.client_needs``), the aliases and the
terminal statuses from ``schema/overrides.yaml`` follow their class. The package's
``__init__.py`` (``codegen/templates/models_init.py.jinja``) loads each name on first use.
Every generated model derives from ``inferencesh._runtime.WireModel``, which reads a response the
way the Go server writes it and builds its validator the first time it validates.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import keyword
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jinja2
import yaml  # type: ignore[import-untyped]

from codegen.import_upstream import closure

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schema" / "types.schema.json"
SCOPE_PATH = Path(__file__).resolve().parent / "scope.yaml"
OVERRIDES_PATH = ROOT / "schema" / "overrides.yaml"

JsonSchema = dict[str, Any]
PREFIX = "#/$defs/"


def _is_named_type(schema: JsonSchema) -> bool:
    """Objects and enums become classes; anything else is inlined where it is used."""
    return "enum" in schema or "allOf" in schema or "properties" in schema


def _inline_aliases(node: Any, defs: dict[str, JsonSchema]) -> Any:
    if isinstance(node, dict):
        schema = cast(JsonSchema, node)
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = defs[ref.removeprefix(PREFIX)]
            if not _is_named_type(target):
                merged = {k: v for k, v in schema.items() if k != "$ref"}
                inlined: JsonSchema = _inline_aliases(copy.deepcopy(target), defs)
                inlined.pop("x-alias-of", None)
                return {**inlined, **merged} if merged else inlined
        return {k: _inline_aliases(v, defs) for k, v in schema.items()}
    if isinstance(node, list):
        return [_inline_aliases(item, defs) for item in cast("list[object]", node)]
    return node


def apply_constraints(defs: dict[str, JsonSchema], constraints: dict[str, Any]) -> None:
    """Merge the bounds of ``overrides.yaml`` (JSON Schema keywords) into the scoped defs.

    A def or field that does not exist is an error: a bound that silently stops applying is worse
    than none.
    """
    for name, fields in sorted(constraints.items()):
        if name not in defs:
            raise SystemExit(f"overrides.yaml constrains {name}, which is not generated")
        body = defs[name]
        own = body["allOf"][-1] if "allOf" in body else body
        properties: dict[str, JsonSchema] = own.get("properties", {})
        for field, bounds in sorted(fields.items()):
            if field not in properties:
                raise SystemExit(f"overrides.yaml constrains unknown field {name}.{field}")
            prop = properties[field]
            members = [m for m in prop.get("anyOf", [prop]) if m.get("type") != "null"]
            if len(members) != 1:
                raise SystemExit(f"overrides.yaml: {name}.{field} is not one type to constrain")
            constrained = {**members[0], **bounds}
            if len(prop.get("anyOf", [])) == 2 and isinstance(constrained.get("type"), str):
                # `type: [X, null]` rather than anyOf: the generator then writes
                # `Annotated[X | None, Field(...)]` instead of a wrapper class for X.
                constrained["type"] = [constrained["type"], "null"]
            extra = {k: v for k, v in prop.items() if k != "anyOf"}
            properties[field] = {**constrained, **extra}


def terminal_sets(
    defs: dict[str, JsonSchema], enum_aliases: dict[str, dict[str, Any]], terminal: dict[str, Any]
) -> dict[str, tuple[str, str]]:
    """Module-level ``<ENUM>_TERMINAL`` frozensets from ``overrides.yaml``'s ``terminal``: enum ->
    (constant, its line).

    Members are named as the schema names them or by a documented alias (``enum_aliases``), so a
    renamed member with an alias stays terminal; a name that is neither is an error.
    """
    lines: dict[str, tuple[str, str]] = {}
    for enum, members in sorted(terminal.items()):
        schema = defs.get(enum)
        if schema is None or "enum" not in schema:
            raise SystemExit(f"overrides.yaml: terminal statuses of {enum}, which is not an enum")
        known = set(schema.get("x-enum-varnames", [])) | set(enum_aliases.get(enum, {}))
        unknown = sorted(set(members) - known)
        if unknown:
            raise SystemExit(f"overrides.yaml: {enum} has no member {', '.join(unknown)}")
        constant = re.sub(r"(?<!^)(?=[A-Z])", "_", enum).upper() + "_TERMINAL"
        values = ", ".join(f"{enum}.{member}" for member in members)
        lines[enum] = (constant, f"{constant}: frozenset[{enum}] = frozenset({{{values}}})")
    return lines


def scoped_schema(schema: JsonSchema, roots: list[str]) -> JsonSchema:
    """The named types reachable from ``roots``, with aliases inlined, ready for the generator."""
    defs: dict[str, JsonSchema] = schema["$defs"]
    missing = sorted(r for r in roots if r not in defs)
    if missing:
        raise SystemExit(f"codegen/scope.yaml names unknown defs: {', '.join(missing)}")
    scoped: dict[str, JsonSchema] = {}
    for name in sorted(closure(defs, roots)):
        if not _is_named_type(defs[name]):
            continue
        body = _inline_aliases(copy.deepcopy(defs[name]), defs)
        if body.pop("x-request", False):
            body["customBasePath"] = "inferencesh._runtime.RequestModel"
        scoped[name] = body
    return {"$schema": schema["$schema"], "$defs": scoped}


def _run_datamodel_codegen(scoped: JsonSchema, enum_aliases: dict[str, Any]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "types.schema.json").write_text(json.dumps(scoped, indent=2, sort_keys=True))
        (work / "extra.json").write_text(json.dumps(enum_aliases, sort_keys=True))
        subprocess.run(
            [
                str(Path(sys.executable).parent / "datamodel-codegen"),
                "--input",
                str(work / "types.schema.json"),
                "--output",
                str(work / "models.py"),
                "--extra-template-data",
                str(work / "extra.json"),
            ],
            check=True,
            cwd=ROOT,  # the generator reads its options from pyproject.toml here
        )
        return (work / "models.py").read_text()


def client_needs(overrides: dict[str, Any], names: set[str]) -> dict[str, list[str]]:
    """``required_fields.client_needs`` of the overrides, checked against the generated models."""
    needs: dict[str, list[str]] = overrides.get("required_fields", {}).get("client_needs", {})
    unknown = sorted(set(needs) - names)
    if unknown:
        raise SystemExit(f"schema/overrides.yaml: client_needs names unknown models: {unknown}")
    return {model: list(fields) for model, fields in sorted(needs.items())}


HEADER = "# Generated by codegen from schema/types.schema.json. Do not edit: run `make generate`.\n"
PACKAGE = "inferencesh._generated.models"
INIT_TEMPLATE = Path(__file__).resolve().parent / "templates" / "models_init.py.jinja"


@dataclass
class _Type:
    """One class datamodel-codegen wrote: its text and the names it uses."""

    name: str
    text: str
    names: set[str]
    node: ast.ClassDef


@dataclass
class _Module:
    """One module of the package: a type, or the types of one reference cycle."""

    name: str
    types: list[_Type]
    refs: set[str] = dataclasses.field(default_factory=set[str])


def module_name(type_name: str) -> str:
    """The module of a type: ``TaskDTO`` -> ``task_dto``, ``A2UIAction`` -> ``a2_ui_action``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type_name).lower()
    return f"{words}_" if keyword.iskeyword(words) else words


def _split(source: str) -> tuple[list[ast.Import | ast.ImportFrom], list[_Type]]:
    """The imports and the classes of datamodel-codegen's single module, in its order.

    Its closing ``X.model_rebuild()`` calls are dropped: each module imports the types it names,
    so only a reference cycle is left unresolved when a class is created, and pydantic resolves
    that when it builds the model (a rebuild here would build the validator at import).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    imports: list[ast.Import | ast.ImportFrom] = []
    types: list[_Type] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                imports.append(node)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign) and isinstance(
                    statement.annotation, ast.Constant
                ):
                    raise SystemExit(
                        f"datamodel-codegen quoted the annotation of {node.name}: "
                        "codegen/models.py cannot tell which types it names"
                    )
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            text = "\n".join(lines[first - 1 : node.end_lineno])
            names = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)}
            types.append(_Type(node.name, text, names, node))
        elif not _is_rebuild(node):
            raise SystemExit(
                f"datamodel-codegen wrote a statement codegen/models.py does not expect "
                f"(line {node.lineno}): {ast.unparse(node)[:80]}"
            )
    return imports, types


def _is_rebuild(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "model_rebuild"
    )


def _cycles(types: list[_Type]) -> list[list[_Type]]:
    """The types grouped by reference cycle (strongly connected components), each group and
    its members in datamodel-codegen's order (which defines a type after those it names)."""
    order = {t.name: i for i, t in enumerate(types)}
    refs = {t.name: sorted(t.names & order.keys() - {t.name}, key=order.__getitem__) for t in types}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for ref in refs[name]:
            if ref not in index:
                visit(ref)
                low[name] = min(low[name], low[ref])
            elif ref in stack:
                low[name] = min(low[name], index[ref])
        if low[name] == index[name]:
            group: list[str] = []
            while not group or group[-1] != name:
                group.append(stack.pop())
            groups.append(group)

    for t in types:
        if t.name not in index:
            visit(t.name)
    by_name = {t.name: t for t in types}
    ordered = [sorted(group, key=order.__getitem__) for group in groups]
    ordered.sort(key=lambda group: order[group[0]])
    return [[by_name[name] for name in group] for group in ordered]


def _is_plain_optional(statement: ast.stmt) -> bool:
    """``x: X | None = None``: a field the read plan of ``WireModel`` (``_runtime/base.py``)
    reads the same whether or not ``X`` was resolved when the class was created."""
    if not isinstance(statement, ast.AnnAssign):
        return False
    annotation = statement.annotation
    return (
        isinstance(annotation, ast.BinOp)
        and isinstance(annotation.op, ast.BitOr)
        and isinstance(annotation.left, ast.Name)
        and isinstance(annotation.right, ast.Constant)
        and annotation.right.value is None
        and isinstance(statement.value, ast.Constant)
        and statement.value.value is None
    )


def _needed_first(t: _Type) -> set[str]:
    """The names ``t`` needs defined before it: all it uses except the types it names only in
    plain optional fields (see ``_cycle_order``)."""
    header: list[ast.AST] = [*t.node.bases, *t.node.keywords, *t.node.decorator_list]
    body = [statement for statement in t.node.body if not _is_plain_optional(statement)]
    needed = {n.id for node in header + body for n in ast.walk(node) if isinstance(n, ast.Name)}
    return needed - {t.name}


def _cycle_order(cycle: list[_Type]) -> list[_Type]:
    """The types of a reference cycle in the order their module defines them.

    A class naming a type defined after it is created with that field unresolved: pydantic
    resolves it when the class builds (first validates). Until then the field must read as it
    will after, which holds for a plain ``x: X | None = None`` (optional, no list or map, no
    alias); every other reference must point back. Among the orders that do that, the one closest
    to datamodel-codegen's.
    """
    left = list(cycle)
    ordered: list[_Type] = []
    while left:
        names = {t.name for t in left}
        ready = next((t for t in left if not _needed_first(t) & names), None)
        if ready is None:
            raise SystemExit(
                f"the reference cycle of {', '.join(sorted(names))} has no order in which every "
                "reference to a type defined later is a plain `X | None = None` field "
                "(see _cycle_order in codegen/models.py)"
            )
        ordered.append(ready)
        left.remove(ready)
    return ordered


def _modules(types: list[_Type]) -> list[_Module]:
    """One module per type. The types of a reference cycle share one (modules that import each
    other cannot both go first), named after the last it defines: the one that refers to the
    others, and whose fields are all resolved when it is created."""
    modules: list[_Module] = []
    home: dict[str, str] = {}
    for cycle in _cycles(types):
        group = _cycle_order(cycle)
        module = _Module(module_name(group[-1].name), group)
        modules.append(module)
        for t in group:
            home[t.name] = module.name
    seen: dict[str, str] = {}
    for module in modules:
        if module.name in seen:
            raise SystemExit(
                f"{seen[module.name]} and {module.types[0].name} would both be generated as "
                f"models/{module.name}.py (see module_name in codegen/models.py)"
            )
        seen[module.name] = module.types[0].name
        names = {n for t in module.types for n in t.names}
        module.refs = {n for n in names if n in home and home[n] != module.name}
    return modules


def _imports_used(imports: list[ast.Import | ast.ImportFrom], names: set[str]) -> list[str]:
    """The lines of ``imports`` that a module using ``names`` needs, trimmed to those names."""
    lines: list[str] = []
    for node in imports:
        kept = [a for a in node.names if (a.asname or a.name).split(".")[0] in names]
        if kept:
            trimmed = copy.copy(node)
            trimmed.names = kept
            lines.append(ast.unparse(trimmed))
    return lines


def _render_module(
    module: _Module,
    imports: list[ast.Import | ast.ImportFrom],
    home: dict[str, str],
    extras: dict[str, list[str]],
    exported: list[str],
) -> str:
    names = {n for t in module.types for n in t.names}
    titles = ", ".join(f"``{t.name}``" for t in module.types)
    if len(module.types) == 1:
        doc = f'"""{titles}: a wire type of the inference.sh API."""'
    else:
        doc = f'"""{titles}: wire types of the inference.sh API that refer to each other."""'
    lines = [HEADER, doc, "", "from __future__ import annotations", ""]
    lines += _imports_used(imports, names)
    lines += [f"from {PACKAGE}.{home[ref]} import {ref}" for ref in sorted(module.refs)]
    for t in module.types:
        lines += ["", "", t.text]
        for extra in extras.get(t.name, []):
            lines += ["", extra]
    lines += ["", "__all__ = [" + ", ".join(json.dumps(n) for n in exported) + "]", ""]
    return "\n".join(lines)


def render_models(extra_roots: set[str]) -> tuple[dict[str, str], set[str]]:
    """The files of the ``_generated/models/`` package (file name -> source before ruff) and
    the class names they define.

    ``extra_roots`` are generated too (the defs openapi.yaml uses), besides ``scope.yaml``'s.
    """
    schema = json.loads(SCHEMA_PATH.read_text())
    scope = yaml.safe_load(SCOPE_PATH.read_text())
    overrides = yaml.safe_load(OVERRIDES_PATH.read_text())
    roots = sorted({root for group in scope.values() for root in group} | set(extra_roots))
    scoped = scoped_schema(schema, roots)
    apply_constraints(scoped["$defs"], overrides.get("constraints", {}))
    enum_aliases = {
        name: {"aliases": members}
        for name, members in sorted(overrides.get("enum_aliases", {}).items())
    }
    imports, types = _split(_run_datamodel_codegen(scoped, enum_aliases))
    names = {t.name for t in types}
    terminal = terminal_sets(
        scoped["$defs"], overrides.get("enum_aliases", {}), overrides.get("terminal", {})
    )
    aliases = {
        alias: target
        for alias, target in sorted(overrides.get("aliases", {}).items())
        if target in names
    }
    # What follows a class in its module, and the extra names that module exports.
    extras: dict[str, list[str]] = {}
    exports: dict[str, list[str]] = {name: [name] for name in names}
    for model, fields in client_needs(overrides, names).items():
        quoted = "".join(json.dumps(f) + ", " for f in fields)
        extras.setdefault(model, []).append(
            f"# Fields a tolerant read still refuses (schema/overrides.yaml).\n"
            f"{model}.__client_needs__ = ({quoted})"
        )
    for alias, target in aliases.items():
        extras.setdefault(target, []).append(
            f"# The documented name of this renamed wire type (schema/overrides.yaml).\n"
            f"{alias} = {target}"
        )
        exports[target].append(alias)
    for enum, (constant, line) in terminal.items():
        extras.setdefault(enum, []).append(
            f"# Statuses after which nothing changes any more (schema/overrides.yaml).\n{line}"
        )
        exports[enum].append(constant)
    modules = _modules(types)
    home = {t.name: m.name for m in modules for t in m.types}
    where: dict[str, str] = {}
    files: dict[str, str] = {}
    for module in modules:
        exported = sorted(n for t in module.types for n in exports[t.name])
        files[f"{module.name}.py"] = _render_module(module, imports, home, extras, exported)
        where.update((n, module.name) for n in exported)
    files["__init__.py"] = _render_init(where)
    return files, names


def _render_init(where: dict[str, str]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(INIT_TEMPLATE.parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    template = environment.get_template(INIT_TEMPLATE.name)
    return template.render(header=HEADER, package=PACKAGE, where=dict(sorted(where.items())))
