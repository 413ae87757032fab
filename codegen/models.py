"""``schema/types.schema.json`` -> ``src/inferencesh/_generated/models.py``.

Only the ``$ref`` closure of the roots in ``codegen/scope.yaml`` is generated. The scoped schema is
handed to the pinned datamodel-code-generator (options in ``[tool.datamodel-codegen]`` of
pyproject.toml, open enums from ``codegen/templates/dcg/Enum.jinja2``); then the fields the
client cannot go without (``required_fields.client_needs``), the aliases from
``schema/overrides.yaml`` and ``__all__`` are appended. Every generated model derives from
``inferencesh._runtime.WireModel``, which reads a response the way the Go server writes it.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

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
) -> list[str]:
    """Module-level ``<ENUM>_TERMINAL`` frozensets from ``overrides.yaml``'s ``terminal``.

    Members are named as the schema names them or by a documented alias (``enum_aliases``), so a
    renamed member with an alias stays terminal; a name that is neither is an error.
    """
    lines: list[str] = []
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
        lines.append(f"{constant}: frozenset[{enum}] = frozenset({{{values}}})")
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


def render_models(extra_roots: set[str]) -> tuple[str, set[str]]:
    """The source of ``_generated/models.py`` (before ruff) and the class names it defines.

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
    source = _run_datamodel_codegen(scoped, enum_aliases)
    terminal = terminal_sets(
        scoped["$defs"], overrides.get("enum_aliases", {}), overrides.get("terminal", {})
    )
    names = {node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
    aliases = {
        alias: target
        for alias, target in sorted(overrides.get("aliases", {}).items())
        if target in names
    }
    lines = [HEADER, '"""Wire models of the inference.sh API."""\n', source.rstrip(), ""]
    needs = client_needs(overrides, names)
    if needs:
        lines.append("# Fields a tolerant read still refuses (schema/overrides.yaml).")
        lines.extend(
            f"{model}.__client_needs__ = ({''.join(json.dumps(f) + ', ' for f in fields)})"
            for model, fields in needs.items()
        )
        lines.append("")
    if aliases:
        lines.append("# Documented names of renamed wire types (schema/overrides.yaml).")
        lines.extend(f"{alias} = {target}" for alias, target in aliases.items())
    if terminal:
        lines.append("")
        lines.append("# Statuses after which nothing changes any more (schema/overrides.yaml).")
        lines.extend(terminal)
    constants = [line.split(":", 1)[0] for line in terminal]
    exported = sorted(names | set(aliases) | set(constants))
    lines.append("")
    lines.append("__all__ = [" + ", ".join(json.dumps(n) for n in exported) + "]")
    return "\n".join(lines) + "\n", names
