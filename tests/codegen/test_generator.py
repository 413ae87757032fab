"""The generator end to end, on a scratch copy of the repository (never on the real tree)."""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = Path("src/inferencesh/_generated")
MODELS = GENERATED / "models"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The files `python -m codegen generate` reads and writes, copied into a temp folder."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for folder in (
        "schema",
        "codegen",
        "src/inferencesh/_generated",
        "src/inferencesh/_async",
        "docs",
    ):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def codegen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen", "generate", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_committed_code_is_current_and_regeneration_is_byte_identical(scratch: Path) -> None:
    before = {p: p.read_bytes() for p in (scratch / GENERATED).rglob("*.py")}
    check = codegen(scratch, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    write = codegen(scratch)
    assert write.returncode == 0, write.stderr
    after = {p: p.read_bytes() for p in (scratch / GENERATED).rglob("*.py")}
    assert after == before


def test_a_hand_edit_in_generated_code_fails_the_check(scratch: Path) -> None:
    target = scratch / MODELS / "task_status.py"
    target.write_text(target.read_text().replace("REJECTED = 13", "REJECTED = 31", 1))
    check = codegen(scratch, "--check")
    assert check.returncode == 1
    assert "-    REJECTED = 31" in check.stdout and "+    REJECTED = 13" in check.stdout
    assert "make generate" in check.stderr


def test_an_async_source_edited_without_regenerating_fails_the_check(scratch: Path) -> None:
    source = scratch / "src/inferencesh/_async/tasks.py"
    source.write_text(source.read_text().replace("Stop reading", "Stop reading now", 1))
    check = codegen(scratch, "--check")
    assert check.returncode == 1
    assert (
        "_generated/sync/tasks.py" in check.stdout
        and '+        """Stop reading now' in check.stdout
    )


@pytest.mark.parametrize("folder", [GENERATED, MODELS])
def test_a_stray_file_in_generated_fails_the_check(scratch: Path, folder: Path) -> None:
    (scratch / folder / "handwritten.py").write_text("x = 1\n")
    check = codegen(scratch, "--check")
    assert check.returncode == 1
    assert f"{folder / 'handwritten.py'}: not produced by the generator" in check.stdout


def test_a_schema_change_shows_up_as_exactly_that_change(scratch: Path) -> None:
    schema_path = scratch / "schema" / "types.schema.json"
    schema = json.loads(schema_path.read_text())
    defs = schema["$defs"]
    defs["TaskDTO"]["allOf"][-1]["properties"]["priority"] = {"type": "integer"}
    defs["TaskStatus"]["enum"].append(14)
    defs["TaskStatus"]["x-enum-varnames"].append("PAUSED")
    defs["TaskStatus"]["x-enum-descriptions"].append("")
    schema_path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    before = model_files(scratch)
    assert codegen(scratch).returncode == 0
    after = model_files(scratch)
    assert before.keys() == after.keys()
    diff = {
        name: [
            line
            for line in difflib.unified_diff(before[name], after[name], lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        for name in before
        if before[name] != after[name]
    }
    assert diff == {
        "task_status.py": ["+    PAUSED = 14"],
        "task_dto.py": ["+    priority: int | None = None"],
    }


def model_files(root: Path) -> dict[str, list[str]]:
    return {path.name: path.read_text().splitlines() for path in (root / MODELS).glob("*.py")}
