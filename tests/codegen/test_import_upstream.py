"""The upstream-to-schema step, on small inputs written here (no registry needed)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import codegen.import_upstream as import_upstream
from codegen.import_upstream import (
    _upper_snake,
    build_schema,
    fetch_sources,
    parse_python_types,
    parse_ts_interfaces,
    summarize,
    write_schema,
)

ROOT = Path(__file__).resolve().parents[2]

TYPES_PY = """
from __future__ import annotations
from enum import Enum, IntEnum
from typing import Any, Dict, List, Optional, TypedDict

class Color(str, Enum):
    RED = "red"
    GIT_HUB = "github"

class Level(IntEnum):
    LOW = 0
    HIGH = 1

class Base(TypedDict, total=False):
    id: str
    created_at: str

class ThingDTO(Base, TypedDict, total=False):
    # upstream comment that must not reach the schema
    name: str
    color: Optional[Color]
    tags: List[str]
    extra: Dict[str, Any]
    key: bytes

class ThingCreateRequest(TypedDict, total=False):
    name: str
    level: Level

Names = List[str]
Funky = TypedDict('Funky', {'io.example/key': 'Optional[int]'}, total=False)
"""

TYPES_D_TS = """
export interface Base {
    id: string;
    created_at: string;
}
/**
 * a comment { with braces }
 */
export interface ThingDTO extends Base {
    name: string;
    color?: Color;
    tags: string[];
    old_field: number;
    meta?: {
        [key: string]: any;
    };
}
export interface ThingCreateRequest {
    name: string;
}
export interface OnlyInTs {
    label: string;
    count?: number;
}
export type Color = string;
export declare const ColorRed: Color;
export declare const ColorGitHub: Color;
export declare const ColorMCP: Color;
export type Level = number;
export declare const LevelLow: Level;
"""

TYPES_JS = """export const ColorRed = "red";
export const ColorGitHub = "github";
export const ColorMCP = "mcp";
export const LevelLow = 0;
"""

OVERRIDES: dict[str, Any] = {
    "request_defs": {"patterns": ["*Request"], "also": []},
    "generics": [],
    "formats": {"date-time": ["*_at"]},
    "aliases": {"Colour": "Color"},
    "enum_aliases": {"Level": {"MINIMAL": 0}},
    "descriptions": {"ThingDTO": {"description": "Ours.", "properties": {"name": "The name."}}},
}


def build() -> dict[str, Any]:
    texts = {"types_py": TYPES_PY, "types_d_ts": TYPES_D_TS, "types_js": TYPES_JS}
    return build_schema(texts, OVERRIDES)["$defs"]


def test_member_names_follow_gotypegen() -> None:
    assert _upper_snake("GoogleSA") == "GOOGLE_SA"
    assert _upper_snake("OAuth") == "O_AUTH"
    assert _upper_snake("GitHub") == "GIT_HUB"
    assert _upper_snake("MCP") == "MCP"
    assert _upper_snake("SettingUp") == "SETTING_UP"


def test_python_types_are_read_as_data() -> None:
    py = parse_python_types(TYPES_PY)
    assert py.enums["Level"].kind == "integer"
    assert py.enums["Color"].members == [("RED", "red"), ("GIT_HUB", "github")]
    assert py.objects["ThingDTO"].bases == ["Base"]
    assert py.objects["Funky"].fields["io.example/key"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}]
    }


def test_ts_interfaces_give_required_fields() -> None:
    ts = parse_ts_interfaces(TYPES_D_TS)
    assert ts["ThingDTO"].extends == ["Base"]
    assert ts["ThingDTO"].fields["color"] == (True, "Color")
    assert ts["ThingDTO"].fields["meta"][0] is True
    assert ts["OnlyInTs"].fields["label"] == (False, "string")


def test_schema_rules() -> None:
    defs = build()
    thing = defs["ThingDTO"]
    assert thing["allOf"][0] == {"$ref": "#/$defs/Base"}
    own = thing["allOf"][1]
    # required from TS, but only for fields Python still has
    assert own["required"] == ["name", "tags"]
    assert own["properties"]["old_field"] == {"type": "number"}
    assert own["properties"]["color"] == {"anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}]}
    assert own["properties"]["key"]["anyOf"][1] == {"type": "null"}
    assert own["properties"]["name"]["description"] == "The name."
    assert thing["description"] == "Ours."
    assert "upstream comment" not in json.dumps(defs)
    assert defs["Base"]["properties"]["created_at"]["format"] == "date-time"
    # enums: union of both files, Python first
    assert defs["Color"]["enum"] == ["red", "github", "mcp"]
    assert defs["Color"]["x-enum-varnames"] == ["RED", "GIT_HUB", "MCP"]
    assert defs["Level"]["x-enum-aliases"] == {"MINIMAL": 0}
    # requests require nothing, nor do the types they reach
    assert defs["ThingCreateRequest"]["x-request"] is True
    assert "required" not in defs["ThingCreateRequest"]
    assert defs["OnlyInTs"]["required"] == ["label"]
    assert defs["Colour"] == {"$ref": "#/$defs/Color", "x-alias-of": "Color"}
    assert defs["Names"] == {"type": "array", "items": {"type": "string"}}


def test_types_reached_from_a_request_lose_required() -> None:
    extra = "\nclass ThingUpdateRequest(TypedDict, total=False):\n    thing: ThingDTO\n"
    texts = {"types_py": TYPES_PY + extra, "types_d_ts": TYPES_D_TS, "types_js": TYPES_JS}
    defs = build_schema(texts, OVERRIDES)["$defs"]
    assert "required" not in defs["ThingDTO"]["allOf"][1]
    assert "required" not in defs["Base"]
    assert defs["OnlyInTs"]["required"] == ["label"]


def test_dangling_refs_are_refused() -> None:
    texts = {
        "types_py": TYPES_PY + "\nclass Broken(TypedDict, total=False):\n    x: Missing\n",
        "types_d_ts": TYPES_D_TS,
        "types_js": TYPES_JS,
    }
    with pytest.raises(SystemExit, match="dangling"):
        build_schema(texts, OVERRIDES)


def test_committed_schema_is_complete_sorted_and_stable(tmp_path: Path) -> None:
    path = ROOT / "schema" / "types.schema.json"
    schema = json.loads(path.read_text())
    defs = schema["$defs"]
    assert len(defs) >= 555
    assert defs["TaskStatus"]["x-enum-varnames"][10] == "COMPLETED"
    assert defs["TaskDTO"]["allOf"][0] == {"$ref": "#/$defs/BaseModelDTO"}
    copy = tmp_path / "schema.json"
    write_schema(schema, copy)
    assert copy.read_text() == path.read_text()
    overrides = yaml.safe_load((ROOT / "schema" / "overrides.yaml").read_text())
    for alias, target in overrides["aliases"].items():
        assert defs[alias]["$ref"] == f"#/$defs/{target}"


# ---------------------------------------------------------------- the import's summary


def test_a_field_whose_type_changes_shows_in_the_summary() -> None:
    old = {
        "$defs": {
            "CursorListRequest": {"type": "object", "properties": {"page": {"type": "integer"}}}
        }
    }
    new = {
        "$defs": {
            "CursorListRequest": {"type": "object", "properties": {"page": {"type": "number"}}}
        }
    }
    assert summarize(old, new) == ["~ CursorListRequest.page: integer -> number"]


def test_the_summary_lists_added_removed_and_renumbered_names() -> None:
    old = build()
    texts = {
        "types_py": TYPES_PY.replace("    HIGH = 1", "    HIGH = 2").replace("    key: bytes", ""),
        "types_d_ts": TYPES_D_TS,
        "types_js": TYPES_JS,
    }
    new = build_schema(texts, OVERRIDES)["$defs"]
    new["Extra"] = {"type": "string"}
    changes = summarize({"$defs": old}, {"$defs": new})
    assert changes == ["+ Extra", "~ Level.HIGH: 1 -> 2", "- ThingDTO.key"]
    assert summarize({"$defs": old}, {"$defs": old}) == []


def test_nullability_is_a_type_change() -> None:
    old = {"$defs": {"T": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    new = {
        "$defs": {
            "T": {
                "type": "object",
                "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
            }
        }
    }
    assert summarize(old, new) == ["~ T.x: string -> string?"]


# ---------------------------------------------------------------- pinned downloads


def _archives() -> tuple[bytes, bytes]:
    """A wheel and an npm tarball holding the three files SOURCES.toml names."""
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("inferencesh/types.py", TYPES_PY)
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tf:
        for name, text in (
            ("package/dist/types.d.ts", TYPES_D_TS),
            ("package/dist/types.js", TYPES_JS),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return wheel.getvalue(), tarball.getvalue()


def _sources(tmp_path: Path, archives: tuple[bytes, bytes], **pins: str) -> Path:
    wheel, tarball = archives
    digest = {
        name: hashlib.sha256(text.encode()).hexdigest()
        for name, text in (("py", TYPES_PY), ("dts", TYPES_D_TS), ("js", TYPES_JS))
    }
    path = tmp_path / "SOURCES.toml"
    path.write_text(
        f"""[pypi]
package = "inferencesh"
version = "0.36.0"
wheel_sha256 = "{pins.get("wheel", hashlib.sha256(wheel).hexdigest())}"
[pypi.files.types_py]
path = "inferencesh/types.py"
sha256 = "{digest["py"]}"
[npm]
package = "@inferencesh/sdk"
version = "0.6.54"
tarball_sha256 = "{pins.get("tarball", hashlib.sha256(tarball).hexdigest())}"
[npm.files.types_d_ts]
path = "package/dist/types.d.ts"
sha256 = "{digest["dts"]}"
[npm.files.types_js]
path = "package/dist/types.js"
sha256 = "{digest["js"]}"
"""
    )
    return path


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    """`pip download` and `npm pack` write local archives instead of reaching a registry."""
    wheel, tarball = _archives()

    def run(args: list[str], **kwargs: Any) -> None:
        if "pip" in args:
            target = Path(args[args.index("-d") + 1])
            target.mkdir(parents=True, exist_ok=True)
            (target / "inferencesh-0.36.0-py3-none-any.whl").write_bytes(wheel)
        else:
            (Path(kwargs["cwd"]) / "inferencesh-sdk-0.6.54.tgz").write_bytes(tarball)

    monkeypatch.setattr(import_upstream.subprocess, "run", run)
    return wheel, tarball


def test_pinned_archives_are_read(tmp_path: Path, downloads: tuple[bytes, bytes]) -> None:
    texts = fetch_sources(_sources(tmp_path, downloads))
    assert texts == {"types_py": TYPES_PY, "types_d_ts": TYPES_D_TS, "types_js": TYPES_JS}


@pytest.mark.parametrize(("pin", "archive"), [("wheel", ".whl"), ("tarball", ".tgz")])
def test_an_archive_that_is_not_the_pinned_one_is_refused(
    tmp_path: Path, downloads: tuple[bytes, bytes], pin: str, archive: str
) -> None:
    sources = _sources(tmp_path, downloads, **{pin: "0" * 64})
    with pytest.raises(SystemExit, match=rf"sha256 mismatch for \S+{archive}"):
        fetch_sources(sources)
