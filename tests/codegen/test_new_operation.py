"""A schema change is a regeneration: zero hand edits between the schema and both clients.

On a scratch copy of the package (never the real tree), the schema gains a new tag with a path
parameter, a cursor list and a request body (typed by a def nothing generated before), and the
task statuses change upstream (CANCELLED renamed CANCELED with the documented alias, a new
terminal EXPIRED). After ``python -m codegen generate`` a separate interpreter, importing the
scratch package, calls the new methods on both clients against a loopback server, and the
status helpers follow the new declaration.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.endpoints._loopback import Answer, Loopback, Seen, envelope

ROOT = Path(__file__).resolve().parents[2]

WIDGET = {
    "id": "w1",
    "short_id": "w1",
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-02T03:04:05Z",
    "app_id": "app-1",
    "license": "MIT",
    "user_id": "u1",
}


def page(body: dict[str, Any] | None) -> dict[str, Any]:
    start = int((body or {}).get("cursor") or 0)
    items = [{**WIDGET, "id": f"w{i}"} for i in range(start, min(start + 2, 5))]
    more = start + 2 < 5
    return {"items": items, "next_cursor": str(start + 2) if more else None, "has_next": more}


def widgets(seen: Seen) -> Answer:
    if seen.path == "/widgets/list":
        return envelope(page(seen.json()))
    if seen.path.endswith("/rename"):
        return envelope({**WIDGET, "license": seen.json()["name"]})
    return envelope({**WIDGET, "id": seen.path.rsplit("/", 1)[1]}, **{"x-request-id": "r-9"})


def _response(model: str, cursor: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"$ref": f"types.schema.json#/$defs/{model}"}
    if cursor:
        data = {
            "allOf": [
                {"$ref": "#/components/schemas/CursorListResponse"},
                {"properties": {"items": {"items": data}}},
            ]
        }
    envelope_ref = {"$ref": "#/components/schemas/Envelope"}
    schema = {"allOf": [envelope_ref, {"properties": {"data": data}}]}
    return {
        "200": {"description": "ok", "content": {"application/json": {"schema": schema}}},
        "default": {"$ref": "#/components/responses/Problem"},
    }


def _body(model: str) -> dict[str, Any]:
    schema = {"$ref": f"types.schema.json#/$defs/{model}"}
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def add_widgets(document: dict[str, Any]) -> None:
    """The new tag: what a contributor writes in schema/openapi.yaml, nothing else."""
    document["tags"].append({"name": "widgets", "description": "Widgets, for this test."})
    widget_id = {"name": "widget_id", "in": "path", "required": True, "schema": {"type": "string"}}
    document["paths"]["/widgets/list"] = {
        "post": {
            "operationId": "widgets.list",
            "tags": ["widgets"],
            "summary": "List widgets.",
            "requestBody": _body("CursorListRequest"),
            "responses": _response("LicenseRecordDTO", cursor=True),
        }
    }
    document["paths"]["/widgets/{widget_id}"] = {
        "parameters": [widget_id],
        "get": {
            "operationId": "widgets.get",
            "tags": ["widgets"],
            "summary": "Get a widget.",
            "responses": _response("LicenseRecordDTO"),
        },
    }
    document["paths"]["/widgets/{widget_id}/rename"] = {
        "parameters": [widget_id],
        "post": {
            "operationId": "widgets.rename",
            "tags": ["widgets"],
            "summary": "Rename a widget.",
            "requestBody": _body("ProjectUpdateRequest"),
            "responses": _response("LicenseRecordDTO"),
        },
    }


def change_statuses(schema_dir: Path) -> None:
    """Upstream renames CANCELLED (alias documented) and adds a terminal EXPIRED = 14."""
    types_path = schema_dir / "types.schema.json"
    types = json.loads(types_path.read_text())
    status = types["$defs"]["TaskStatus"]
    names = status["x-enum-varnames"]
    names[names.index("CANCELLED")] = "CANCELED"
    status["enum"].append(14)
    names.append("EXPIRED")
    status["x-enum-descriptions"].append("")
    types_path.write_text(json.dumps(types, indent=2, sort_keys=True) + "\n")
    overrides_path = schema_dir / "overrides.yaml"
    overrides = yaml.safe_load(overrides_path.read_text())
    overrides["enum_aliases"]["TaskStatus"]["CANCELLED"] = 12
    overrides["terminal"]["TaskStatus"].append("EXPIRED")
    overrides_path.write_text(yaml.safe_dump(overrides, sort_keys=False))


SCRIPT = """
import asyncio, json, sys
import inferencesh
from inferencesh import async_inference, inference

base = sys.argv[1]
out = {"package": inferencesh.__file__}
with inference(api_key="inf_test", base_url=base) as client:
    widget = client.widgets.get("w 7")
    out["get"] = [type(widget).__name__, widget.id, widget.app_id]
    out["list"] = [w.id for w in client.widgets.list(limit=2)]
    out["rename"] = client.widgets.rename("w1", name="Apache-2.0").license
    raw = client.widgets.with_raw_response.get("w1", extra_headers={"X-Case": "raw"})
    out["raw"] = [raw.status_code, raw.request_id]

async def main():
    async with async_inference(api_key="inf_test", base_url=base) as client:
        out["async_get"] = (await client.widgets.get("w8")).id
        out["async_list"] = [w.id async for w in client.widgets.list(limit=2)]
        out["async_rename"] = (await client.widgets.rename("w1", {"name": "BSD"})).license

asyncio.run(main())
print(json.dumps(out))
"""

STATUS_SCRIPT = """
import json
from inferencesh._status import is_terminal_status
from inferencesh.types import TaskStatus

out = {}
out["terminal"] = [is_terminal_status(s) for s in (12, "cancelled", "canceled", 14, "expired", 7)]
out["alias"] = TaskStatus.CANCELLED is TaskStatus.CANCELED
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("scratch")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("schema", "codegen", "docs", "src/inferencesh"):
        shutil.copytree(ROOT / folder, root / folder, ignore=ignore)
    openapi = root / "schema" / "openapi.yaml"
    document = yaml.load(openapi.read_text(), Loader=yaml.CSafeLoader)
    add_widgets(document)
    openapi.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper))
    change_statuses(root / "schema")
    done = subprocess.run(
        [sys.executable, "-m", "codegen", "generate"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield root


def test_the_new_operations_are_methods_of_both_clients(scratch: Path) -> None:
    script = scratch / "use_widgets.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(scratch / "src")}
    with Loopback(widgets) as server:
        done = subprocess.run(
            [sys.executable, str(script), server.base_url],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=scratch,
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        seen = [(s.method, s.path, s.json()) for s in server.seen]
    assert out["package"].startswith(str(scratch))
    assert out["get"] == ["LicenseRecordDTO", "w%207", "app-1"]
    assert out["list"] == out["async_list"] == ["w0", "w1", "w2", "w3", "w4"]
    assert (out["rename"], out["async_rename"]) == ("Apache-2.0", "BSD")
    assert out["raw"] == [200, "r-9"]
    assert seen[0] == ("GET", "/widgets/w%207", None)
    assert ("POST", "/widgets/list", {"limit": 2, "cursor": "2"}) in seen
    assert ("POST", "/widgets/w1/rename", {"name": "Apache-2.0"}) in seen


def test_a_renamed_member_with_its_alias_and_a_new_terminal_status_are_terminal(
    scratch: Path,
) -> None:
    script = scratch / "statuses.py"
    script.write_text(STATUS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(scratch / "src")}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["terminal"] == [True, True, True, True, True, False]
    assert out["alias"] is True
    models = (scratch / "src/inferencesh/_generated/models/task_status.py").read_text()
    assert "TaskStatus.CANCELLED" in models and "TaskStatus.EXPIRED" in models
