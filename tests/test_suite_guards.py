"""The suite guards itself: a hang fails its test, and a run that collected nothing fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_runs_under_a_timeout(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert float(pytestconfig.getini("timeout")) > 0
    # No test opts out (a timeout of 0 is none).
    opt_out = re.compile(r"mark\.timeout\(\s*(0|None)\b|--timeout[= ]0\b")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != Path(__file__).name and opt_out.search(path.read_text())
    ]
    assert not offenders


@pytest.mark.parametrize(("pytest_exit", "make_fails"), [(5, True), (0, False), (1, True)])
def test_make_pytest_fails_when_pytest_collected_nothing(
    tmp_path: Path, pytest_exit: int, make_fails: bool
) -> None:
    make = shutil.which("make")
    assert make, "the Makefile's targets need make"
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").touch()
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    stamp = tmp_path / ".venv" / ".installed-stamp"
    stamp.touch()
    newer = (tmp_path / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (newer, newer))  # installed: make must not rebuild the venv
    fake = bin_dir / "pytest"  # stands in for a run that ends with this exit status
    fake.write_text(f"#!/bin/sh\nexit {pytest_exit}\n")
    fake.chmod(0o755)
    done = subprocess.run(
        [make, "-s", "pytest"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert (done.returncode != 0) is make_fails, done.stderr
    said = "pytest collected no tests: failing" in done.stderr
    assert said is (pytest_exit == 5)
