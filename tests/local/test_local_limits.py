"""Limits: request bodies (declared or chunked), JSON depth, task outputs, worker memory, and
the ``serve`` command's checks of its apps."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from local_apps import BigOutputApp, MemoryHogApp
from local_helpers import assert_problem, run_and_wait

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_test_key"}
LIMIT = 64 * 1024 * 1024


def test_a_chunked_body_over_the_limit_is_refused_while_reading(client: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"app": "infsh/echo", "input": {"text": "'
        for _ in range(65):
            yield b"a" * (1024 * 1024)
        yield b'"}}'

    response = client.post(
        "/apps/run", content=body(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize("depth", [300, 5000])
def test_deep_json_is_refused_and_the_connection_stays_usable(
    client: httpx.Client, depth: int
) -> None:
    deep = "[" * depth + "]" * depth
    for body in (deep, '{"app": "infsh/echo", "input": {"a": ' + deep + "}}"):
        response = client.post("/apps/run", content=body)
        detail = assert_problem(response, 400, "invalid_request")["detail"]
        assert "nested deeper than" in detail
        assert client.get("/sessions").status_code == 200


def test_an_output_over_the_limit_fails_its_task_and_frees_the_worker() -> None:
    with (
        LocalRuntime(
            apps=[("tests/big", BigOutputApp)], max_output_bytes=LIMIT // 64, max_workers=1
        ) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        for function in ("run", "stream"):
            body = {"app": "tests/big", "function": function, "input": {"megabytes": 2}}
            task = run_and_wait(http, body)
            assert task["status"] == 11, task["output"]
            assert "over the runtime's output limit of 1048576 bytes" in task["error"]
        small = run_and_wait(http, {"app": "tests/big", "input": {"megabytes": 0.5}})
        assert small["status"] == 10 and len(small["output"]["text"]) == 512 * 1024
        assert run_and_wait(http, {"app": "infsh/echo", "input": {"ok": 1}})["status"] == 10


def test_a_task_over_the_worker_memory_limit_fails_saying_so() -> None:
    with (
        LocalRuntime(apps=[("tests/hog", MemoryHogApp)], worker_memory_mb=256) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        task = run_and_wait(http, {"app": "tests/hog", "input": {"megabytes": 1024}})
        assert task["status"] == 11
        assert "worker memory limit of 256 MB" in task["error"]
        fits = run_and_wait(http, {"app": "tests/hog", "input": {"megabytes": 16}})
        assert fits["status"] == 10, fits["error"]


@pytest.mark.parametrize(
    "option", [{"max_workers": 0}, {"task_timeout": -1}, {"worker_memory_mb": 0}]
)
def test_limits_must_be_positive(option: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(option))):
        LocalRuntime(**option)  # type: ignore[arg-type]


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "inferencesh", "serve", "--port", "0"]
    command += ["--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_serve_fails_fast_when_an_app_cannot_be_imported(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--app", "no_such_module_here:App")
    assert done.returncode == 2
    assert "no_such_module_here" in done.stderr and "cannot be loaded" in done.stderr


def test_serve_refuses_two_apps_with_the_same_ref(tmp_path: Path) -> None:
    for name in ("one", "two"):
        folder = tmp_path / name / "same-app"
        folder.mkdir(parents=True)
        (folder / "inference.py").write_text(
            "from inferencesh import BaseApp\nclass App(BaseApp): pass\n"
        )
    done = _serve(
        tmp_path,
        "--app",
        str(tmp_path / "one" / "same-app"),
        "--app",
        str(tmp_path / "two" / "same-app"),
    )
    assert done.returncode == 2 and "two apps are registered as local/same-app" in done.stderr
