"""A shared local runtime for the runtime tests (workers are slow to spawn; reuse them)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferencesh.local import LocalRuntime

# The helper modules next to this file are imported by name, here and in worker processes.
sys.path.insert(0, str(Path(__file__).parent))

from local_apps import GreeterApp, NanApp, SecretApp  # noqa: E402

API_KEY_HEADER = {"Authorization": "Bearer inf_test_key"}


@pytest.fixture(scope="session")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(
        heartbeat_interval=0.2,
        apps=[("tests/greeter", GreeterApp), ("tests/nan", NanApp)],
        cancel_grace=1.0,
        max_workers=6,
    ) as rt:
        rt.register_app("tests/needs-secret", SecretApp, secrets=["INFSH_TEST_MISSING_SECRET"])
        yield rt


@pytest.fixture()
def client(runtime: LocalRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runtime.base_url, headers=API_KEY_HEADER, timeout=30) as http:
        yield http
