"""Our local runtime, served by this repository's virtual environment, for the official SDK.

``INTEROP_RUNTIME_PYTHON`` names the interpreter that has this repository's package (the
Makefile passes ``.venv/bin/python``); the tests themselves import the official SDK.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

KEY = "inf_interop"


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = os.environ.get("INTEROP_RUNTIME_PYTHON")
    if not python:
        pytest.exit("INTEROP_RUNTIME_PYTHON is not set: run the suite with `make interop`", 2)
    data = tmp_path_factory.mktemp("data")
    command = [python, "-m", "inferencesh", "serve", "--port", "0", "--data-dir", str(data)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("inference.sh local runtime on http://127.0.0.1:"), first
        yield first.rsplit(" ", 1)[1].strip()
    finally:
        server.terminate()
        server.wait(timeout=60)
