"""Upstream type files -> ``schema/types.schema.json``.

The published SDKs are the only machine-readable description of the wire types. This step
downloads the pinned versions named in ``schema/SOURCES.toml``, checks their sha256, reads them as
data (Python with ``ast``, TypeScript with regular expressions; nothing is imported or executed)
and writes one JSON Schema 2020-12 document with our overrides applied. It is the only step that
needs a registry; everything downstream reads the committed schema.

Rules, in the order they apply:
- objects, enums, embedding (class bases -> ``allOf``) and nullability (``Optional``) come from
  ``types.py``, the newest file;
- ``required`` comes from ``types.d.ts`` where the interface exists there (a field without ``?``);
- enum members are the union of both files (Python's names and order first); TypeScript-only
  types and fields are added with types mapped from TypeScript;
- ``schema/overrides.yaml`` then adds the wire facts neither file records.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml  # type: ignore[import-untyped]

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib

JsonSchema = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schema"


# ---------------------------------------------------------------------------------------------
# Fetching


def read_sources(sources_path: Path) -> dict[str, Any]:
    """schema/SOURCES.toml."""
    sources: dict[str, Any] = tomllib.loads(sources_path.read_text())
    return sources


def fetch_sources(sources_path: Path) -> dict[str, str]:
    """Download the pinned upstream files and return their text by role, sha256-checked.

    The wheel and the tarball are checked as a whole (``wheel_sha256``, ``tarball_sha256``)
    before any file is read from them, then each file read is checked too.
    """
    sources = read_sources(sources_path)
    texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        py = sources["pypi"]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                f"{py['package']}=={py['version']}",
                "-d",
                str(work / "py"),
            ],
            check=True,
        )
        wheel = next((work / "py").glob("*.whl"))
        verify_sha256(wheel.read_bytes(), py["wheel_sha256"], wheel.name)
        with zipfile.ZipFile(wheel) as zf:
            for role, member in py["files"].items():
                texts[role] = _checked(zf.read(member["path"]), member["sha256"], member["path"])
        npm = sources["npm"]
        (work / "npm").mkdir()
        subprocess.run(
            ["npm", "pack", "--silent", f"{npm['package']}@{npm['version']}"],
            check=True,
            cwd=work / "npm",
            stdout=subprocess.DEVNULL,
        )
        tgz = next((work / "npm").glob("*.tgz"))
        verify_sha256(tgz.read_bytes(), npm["tarball_sha256"], tgz.name)
        with tarfile.open(tgz) as tf:
            for role, member in npm["files"].items():
                extracted = tf.extractfile(member["path"])
                if extracted is None:
                    raise SystemExit(f"{member['path']} missing from {tgz.name}")
                texts[role] = _checked(extracted.read(), member["sha256"], member["path"])
    return texts


def verify_sha256(data: bytes, expected: object, name: str) -> None:
    """Refuse ``data`` unless its sha256 is the one SOURCES.toml pins."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise SystemExit(f"sha256 mismatch for {name}: got {digest}, SOURCES.toml pins {expected}")


def _checked(data: bytes, expected: object, name: str) -> str:
    verify_sha256(data, expected, name)
    return data.decode("utf-8")


# ---------------------------------------------------------------------------------------------
# Python types (gotypegen TypedDict output)


@dataclass
class PyObject:
    bases: list[str]
    fields: dict[str, JsonSchema]


@dataclass
class PyEnum:
    kind: str  # "integer" | "string"
    members: list[tuple[str, int | str]]


def _objects() -> dict[str, PyObject]:
    return {}


def _enums() -> dict[str, PyEnum]:
    return {}


def _aliases() -> dict[str, JsonSchema]:
    return {}


@dataclass
class PyTypes:
    objects: dict[str, PyObject] = field(default_factory=_objects)
    enums: dict[str, PyEnum] = field(default_factory=_enums)
    aliases: dict[str, JsonSchema] = field(default_factory=_aliases)


_PY_SCALARS: dict[str, JsonSchema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "Any": {},
    "object": {},
    "bytes": {"type": "string", "contentEncoding": "base64"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/$defs/{name}"}


def _nullable(schema: JsonSchema) -> JsonSchema:
    if not schema or schema.get("type") == "null":
        return schema
    if "anyOf" in schema and any(s.get("type") == "null" for s in schema["anyOf"]):
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def py_annotation(node: ast.expr) -> JsonSchema:
    """A Python type annotation (as written by gotypegen) -> JSON Schema."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return py_annotation(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    if isinstance(node, ast.Name):
        return dict(_PY_SCALARS[node.id]) if node.id in _PY_SCALARS else _ref(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        head = node.value.id
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return _nullable(py_annotation(args[0]))
        if head in ("List", "list"):
            return {"type": "array", "items": py_annotation(args[0])}
        if head in ("Dict", "dict"):
            return {"type": "object", "additionalProperties": py_annotation(args[1])}
        if head == "Union":
            parts = [py_annotation(a) for a in args]
            return {"anyOf": parts}
    raise ValueError(f"unsupported annotation: {ast.unparse(node)}")


def parse_python_types(text: str) -> PyTypes:
    """Read gotypegen's Python output as data."""
    out = PyTypes()
    for stmt in ast.parse(text).body:
        if isinstance(stmt, ast.ClassDef):
            bases = [b.id for b in stmt.bases if isinstance(b, ast.Name)]
            if "IntEnum" in bases or "Enum" in bases:
                kind = "integer" if "IntEnum" in bases else "string"
                members: list[tuple[str, int | str]] = []
                for item in stmt.body:
                    if (
                        isinstance(item, ast.Assign)
                        and isinstance(item.targets[0], ast.Name)
                        and isinstance(item.value, ast.Constant)
                    ):
                        constant = item.value.value
                        if isinstance(constant, bool) or not isinstance(constant, (int, str)):
                            raise ValueError(f"{stmt.name}.{item.targets[0].id}: {constant!r}")
                        members.append((item.targets[0].id, constant))
                out.enums[stmt.name] = PyEnum(kind, members)
                continue
            fields: dict[str, JsonSchema] = {}
            for item in stmt.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    fields[item.target.id] = py_annotation(item.annotation)
            parents = [b for b in bases if b not in ("TypedDict", "str")]
            out.objects[stmt.name] = PyObject(parents, fields)
        elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            value = stmt.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "TypedDict"
            ):
                spec = value.args[1]
                assert isinstance(spec, ast.Dict)
                fields = {}
                for key, ann in zip(spec.keys, spec.values, strict=True):
                    assert isinstance(key, ast.Constant) and isinstance(key.value, str)
                    fields[key.value] = py_annotation(ann)
                out.objects[name] = PyObject([], fields)
            elif not isinstance(value, ast.Attribute):  # `X = Enum.MEMBER` is a constant
                out.aliases[name] = py_annotation(value)
    return out


# ---------------------------------------------------------------------------------------------
# TypeScript types (gotypegen .d.ts + .js output)


@dataclass
class TsInterface:
    extends: list[str]
    generic: bool
    fields: dict[str, tuple[bool, str]]  # name -> (optional, TypeScript type text)


_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_INTERFACE = re.compile(r"^export interface (\w+)(<[^>]*>)?(?: extends ([\w, ]+))? \{", re.M)
_FIELD = re.compile(r"^(\w+|\"[^\"]+\"|'[^']+')(\?)?: (.*?);?$")
_ENUM_TYPE = re.compile(r"^export type (\w+) = (string|number);$", re.M)
_ENUM_CONST = re.compile(r"^export declare const (\w+): (\w+);$", re.M)
_JS_CONST = re.compile(r"^export const (\w+) = (\"[^\"]*\"|-?\d+);$", re.M)


def _body_lines(text: str, start: int) -> tuple[list[str], int]:
    """Lines of a ``{ ... }`` block opened just before ``start``, fields at depth one joined."""
    depth, i, current = 1, start, ""
    lines: list[str] = []
    while depth:
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 1 and ch == "\n":
            if current.strip():
                lines.append(" ".join(current.split()))
            current = ""
        elif depth:
            current += ch
        i += 1
    if current.strip():
        lines.append(" ".join(current.split()))
    return lines, i


def parse_ts_interfaces(dts: str) -> dict[str, TsInterface]:
    text = _COMMENT.sub("", dts)
    out: dict[str, TsInterface] = {}
    for m in _INTERFACE.finditer(text):
        lines, _ = _body_lines(text, m.end())
        fields: dict[str, tuple[bool, str]] = {}
        for line in lines:
            fm = _FIELD.match(line)
            if fm:
                fields[fm.group(1).strip("\"'")] = (bool(fm.group(2)), fm.group(3).rstrip(";"))
        extends = [e.strip() for e in (m.group(3) or "").split(",") if e.strip()]
        out[m.group(1)] = TsInterface(extends, bool(m.group(2)), fields)
    return out


def _upper_snake(name: str) -> str:
    """gotypegen's member naming: ``GoogleSA`` -> ``GOOGLE_SA``, ``OAuth`` -> ``O_AUTH``."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+|\d+", name)
    return "_".join(w.upper() for w in words)


def parse_ts_enums(dts: str, js: str) -> dict[str, PyEnum]:
    values = {m.group(1): json.loads(m.group(2)) for m in _JS_CONST.finditer(js)}
    kinds = {m.group(1): m.group(2) for m in _ENUM_TYPE.finditer(dts)}
    out: dict[str, PyEnum] = {}
    for m in _ENUM_CONST.finditer(dts):
        const, type_name = m.group(1), m.group(2)
        if type_name not in kinds or const not in values:
            continue
        enum = out.setdefault(
            type_name, PyEnum("integer" if kinds[type_name] == "number" else "string", [])
        )
        stem = const[len(type_name) :] if const.startswith(type_name) else const
        enum.members.append((_upper_snake(stem), values[const]))
    return out


def ts_type(text: str, known: set[str]) -> JsonSchema:
    """A TypeScript type expression -> JSON Schema (best effort; used for TS-only parts)."""
    text = text.strip()
    if text.startswith("(") and text.endswith(")[]"):
        return {"type": "array", "items": ts_type(text[1:-3], known)}
    if text.endswith("[]"):
        return {"type": "array", "items": ts_type(text[:-2], known)}
    parts = [p.strip() for p in text.split("|")] if "{" not in text else [text]
    if len(parts) > 1:
        rest = [p for p in parts if p not in ("undefined", "null")]
        schemas = [ts_type(p, known) for p in rest]
        schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
        return _nullable(schema) if len(rest) < len(parts) else schema
    map_match = re.fullmatch(r"\{\s*\[key: string\]: (.+?);?\s*\}", text)
    if map_match:
        return {"type": "object", "additionalProperties": ts_type(map_match.group(1), known)}
    scalars: dict[str, JsonSchema] = {
        "string": {"type": "string"},
        "number": {"type": "number"},
        "boolean": {"type": "boolean"},
        "any": {},
        "unknown": {},
    }
    if text in scalars:
        return dict(scalars[text])
    if text in known:
        return _ref(text)
    return {}


# ---------------------------------------------------------------------------------------------
# Building the schema


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _object_schema(properties: dict[str, JsonSchema], required: list[str]) -> JsonSchema:
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    return schema


def build_schema(texts: dict[str, str], overrides: dict[str, Any]) -> JsonSchema:
    py = parse_python_types(texts["types_py"])
    ts = parse_ts_interfaces(texts["types_d_ts"])
    ts_enums = parse_ts_enums(texts["types_d_ts"], texts["types_js"])
    generics = set(overrides["generics"])
    defs: dict[str, JsonSchema] = {}

    # enums: Python members first, then values only the TypeScript file knows
    for name in sorted(set(py.enums) | set(ts_enums)):
        enum = py.enums.get(name) or ts_enums[name]
        members = list(enum.members)
        seen = {value for _, value in members}
        for member_name, value in ts_enums[name].members if name in ts_enums else []:
            if value not in seen:
                members.append((member_name, value))
                seen.add(value)
        defs[name] = {
            "type": enum.kind,
            "enum": [value for _, value in members],
            "x-enum-varnames": [member for member, _ in members],
        }

    known = set(py.objects) | set(py.enums) | set(py.aliases) | set(ts) | set(ts_enums)
    for name, alias in sorted(py.aliases.items()):
        defs[name] = alias

    for name in sorted(set(py.objects) | set(ts)):
        if name in generics:
            continue
        pyo = py.objects.get(name)
        tsi = ts.get(name)
        properties = dict(pyo.fields) if pyo else {}
        bases = pyo.bases if pyo else (tsi.extends if tsi else [])
        inherited = _inherited_fields(name, py, ts)
        if tsi is not None:
            for field_name, (_optional, type_text) in tsi.fields.items():
                if field_name not in properties and field_name not in inherited:
                    properties[field_name] = ts_type(type_text, known)
        ts_fields = tsi.fields if tsi is not None else {}
        required = [f for f, (optional, _) in ts_fields.items() if not optional]
        # A field the newer Python file dropped may no longer be sent: only fields both files
        # know (or all fields of a TypeScript-only type) can be required.
        required = [f for f in required if f in properties and (pyo is None or f in pyo.fields)]
        own = _object_schema(properties, required)
        defs[name] = {"allOf": [*(_ref(b) for b in bases), own]} if bases else own

    _apply_overrides(defs, overrides)
    _verify(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated by `make schema` from the pinned upstream type files in "
        "schema/SOURCES.toml and schema/overrides.yaml. Do not edit by hand.",
        "$defs": defs,
    }


def _inherited_fields(name: str, py: PyTypes, ts: dict[str, TsInterface]) -> set[str]:
    out: set[str] = set()
    pyo = py.objects.get(name)
    bases = pyo.bases if pyo else (ts[name].extends if name in ts else [])
    for base in bases:
        base_obj = py.objects.get(base)
        if base_obj:
            out |= set(base_obj.fields)
        if base in ts:
            out |= set(ts[base].fields)
        out |= _inherited_fields(base, py, ts)
    return out


def _own_part(schema: JsonSchema) -> JsonSchema | None:
    if "allOf" in schema:
        return schema["allOf"][-1]  # type: ignore[no-any-return]
    return schema if schema.get("type") == "object" and "properties" in schema else None


def _walk(schema: Any) -> Iterable[JsonSchema]:
    if isinstance(schema, dict):
        node = cast(JsonSchema, schema)
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(schema, list):
        for value in cast("list[object]", schema):
            yield from _walk(value)


def _apply_overrides(defs: dict[str, JsonSchema], overrides: dict[str, Any]) -> None:
    request = overrides["request_defs"]
    date_patterns = overrides["formats"]["date-time"]
    for schema in defs.values():
        own = _own_part(schema)
        if own is None:
            continue
        # Go []byte is base64 in JSON and null when nil.
        for prop_name, prop in list(own["properties"].items()):
            if prop.get("contentEncoding") == "base64":
                own["properties"][prop_name] = _nullable(prop)
            elif prop == {"type": "string"} and _matches(prop_name, date_patterns):
                own["properties"][prop_name] = {"type": "string", "format": "date-time"}
            elif prop.get("anyOf") == [{"type": "string"}, {"type": "null"}] and _matches(
                prop_name, date_patterns
            ):
                own["properties"][prop_name] = _nullable({"type": "string", "format": "date-time"})
    for name, props in overrides.get("add_properties", {}).items():
        own = _own_part(defs[name])
        assert own is not None, name
        own["properties"].update(props)

    roots = sorted(n for n in defs if _matches(n, request["patterns"]) or n in request["also"])
    for name in closure(defs, roots):
        own = _own_part(defs[name])
        if own is not None:
            own.pop("required", None)
    for name in roots:
        defs[name]["x-request"] = True

    for name, members in overrides.get("enum_aliases", {}).items():
        defs[name]["x-enum-aliases"] = members

    for name, doc in overrides.get("descriptions", {}).items():
        if name not in defs:
            raise SystemExit(f"overrides.yaml describes unknown def {name}")
        if "description" in doc:
            defs[name]["description"] = doc["description"]
        own = _own_part(defs[name])
        for prop_name, text in doc.get("properties", {}).items():
            if own is None or prop_name not in own["properties"]:
                raise SystemExit(f"overrides.yaml describes unknown field {name}.{prop_name}")
            own["properties"][prop_name] = {**own["properties"][prop_name], "description": text}
        for member, text in doc.get("members", {}).items():
            names = defs[name].get("x-enum-varnames", [])
            if member not in names:
                raise SystemExit(f"overrides.yaml describes unknown member {name}.{member}")
            descriptions = defs[name].setdefault("x-enum-descriptions", [""] * len(names))
            descriptions[names.index(member)] = text

    for alias, target in overrides.get("aliases", {}).items():
        if target not in defs:
            raise SystemExit(f"alias {alias} points at unknown def {target}")
        defs[alias] = {**_ref(target), "x-alias-of": target}


def closure(defs: dict[str, JsonSchema], roots: Iterable[str]) -> set[str]:
    """Names of the defs reachable from ``roots`` through ``$ref`` (roots included)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(
            node["$ref"].removeprefix("#/$defs/") for node in _walk(defs[name]) if "$ref" in node
        )
    return seen


def _verify(defs: dict[str, JsonSchema]) -> None:
    dangling = sorted(
        {
            node["$ref"]
            for node in _walk(defs)
            if "$ref" in node and node["$ref"].removeprefix("#/$defs/") not in defs
        }
    )
    if dangling:
        raise SystemExit(f"dangling $refs: {', '.join(dangling)}")


def write_schema(schema: JsonSchema, path: Path) -> None:
    path.write_text(json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def type_of(schema: Any) -> str:
    """A short, comparable spelling of a schema's type: ``integer``, ``string?``, ``array[X]``."""
    if not isinstance(schema, dict):
        return "any"
    node = cast(JsonSchema, schema)
    if "$ref" in node:
        return str(node["$ref"]).removeprefix("#/$defs/")
    for key in ("anyOf", "oneOf"):
        if key in node:
            members = [type_of(m) for m in cast(list[Any], node[key])]
            plain = [m for m in members if m != "null"]
            text = " | ".join(sorted(plain))
            return f"{text}?" if len(plain) < len(members) else text
    kind = node.get("type")
    if isinstance(kind, list):
        return type_of({**node, "anyOf": [{**node, "type": k} for k in cast(list[str], kind)]})
    if kind == "array":
        return f"array[{type_of(node.get('items', {}))}]"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[{type_of(node['additionalProperties'])}]"
    return str(kind) if kind is not None else "any"


def summarize(old: JsonSchema, new: JsonSchema) -> list[str]:
    """What changed between two schemas: defs and fields added or removed, a field whose type
    changed (``CursorListRequest.page: integer -> number``), enum members added, removed or
    renumbered. Descriptions are not compared."""
    before: dict[str, JsonSchema] = old.get("$defs", {})
    after: dict[str, JsonSchema] = new.get("$defs", {})
    lines = [f"+ {name}" for name in sorted(set(after) - set(before))]
    lines += [f"- {name}" for name in sorted(set(before) - set(after))]
    for name in sorted(set(before) & set(after)):
        was, now = before[name], after[name]
        if "enum" in was or "enum" in now:
            old_members = dict(
                zip(was.get("x-enum-varnames", []), was.get("enum", []), strict=False)
            )
            new_members = dict(
                zip(now.get("x-enum-varnames", []), now.get("enum", []), strict=False)
            )
            for member in sorted(set(new_members) - set(old_members)):
                lines.append(f"+ {name}.{member} = {new_members[member]!r}")
            for member in sorted(set(old_members) - set(new_members)):
                lines.append(f"- {name}.{member} (was {old_members[member]!r})")
            for member in sorted(set(old_members) & set(new_members)):
                if old_members[member] != new_members[member]:
                    lines.append(
                        f"~ {name}.{member}: {old_members[member]!r} -> {new_members[member]!r}"
                    )
            continue
        old_props = (_own_part(was) or {}).get("properties", {})
        new_props = (_own_part(now) or {}).get("properties", {})
        for field_name in sorted(set(new_props) - set(old_props)):
            lines.append(f"+ {name}.{field_name}: {type_of(new_props[field_name])}")
        for field_name in sorted(set(old_props) - set(new_props)):
            lines.append(f"- {name}.{field_name}")
        for field_name in sorted(set(old_props) & set(new_props)):
            old_type, new_type = type_of(old_props[field_name]), type_of(new_props[field_name])
            if old_type != new_type:
                lines.append(f"~ {name}.{field_name}: {old_type} -> {new_type}")
    return lines


def main() -> None:
    overrides = yaml.safe_load((SCHEMA_DIR / "overrides.yaml").read_text())
    texts = fetch_sources(SCHEMA_DIR / "SOURCES.toml")
    schema = build_schema(texts, overrides)
    target = SCHEMA_DIR / "types.schema.json"
    previous: JsonSchema = json.loads(target.read_text()) if target.exists() else {"$defs": {}}
    write_schema(schema, target)
    print(f"schema/types.schema.json: {len(schema['$defs'])} defs")
    changes = summarize(previous, schema)
    print("changes from the committed schema (review them):" if changes else "no changes")
    for line in changes:
        print(f"  {line}")
