"""The API key never shows: not in logs, reprs, exceptions or upload requests."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferencesh import APIConnectionError, Inference, InferenceError

from .conftest import CANARY_KEY
from .drive import MODES, call
from .fault_server import FaultServer, Reply, Request
from .wire import created, file_record, task, v3


def echo_auth(request: Request) -> Reply:
    """A hostile server that echoes the Authorization header back in every error."""
    auth = request.headers.get("authorization", "")
    if request.path == "/tasks/t1":
        return Reply.problem(401, "unauthorized", f"bad key {auth}", {"x-echo": auth})
    if request.path == "/tasks/t2":
        return Reply(
            status=500, headers={"content-type": "text/plain"}, body=f"oops {auth}".encode()
        )
    if request.path == "/tasks/t3":
        return Reply.json({"success": False, "error": {"code": "x", "message": auth}})
    return Reply(status=200, headers={"content-type": "text/html"}, body=auth.encode())


@pytest.mark.parametrize("mode", MODES)
def test_canary_never_appears(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="inferencesh")
    leaks: list[str] = []
    with FaultServer(echo_auth) as server:
        for path in ("t1", "t2", "t3", "t4"):
            with pytest.raises(InferenceError) as info:
                call(
                    mode,
                    server.base_url,
                    lambda c, p=path: c.tasks.get(p),
                    api_key=CANARY_KEY,
                    max_retries=1,
                )
            error: Any = info.value
            leaks += [str(error), repr(error), str(getattr(error, "body", "")), str(error.args)]
            leaks += [json.dumps(getattr(error, "headers", {}))]
        client = Inference(api_key=CANARY_KEY, base_url=server.base_url)
        leaks += [
            repr(client),
            str(client),
            repr(client._transport),
            repr(client._config),
            repr(vars(client)),
        ]
        client.close()
    with pytest.raises(APIConnectionError) as refused:
        call(
            mode,
            "http://127.0.0.1:9",
            lambda c: c.tasks.get("t1"),
            api_key=CANARY_KEY,
            max_retries=0,
        )
    leaks += [str(refused.value), repr(refused.value)]
    leaks.append(caplog.text)
    assert "GET /tasks/t1 -> 401" in caplog.text
    assert all(CANARY_KEY not in text for text in leaks), [t for t in leaks if CANARY_KEY in t][:1]


def test_debug_log_from_environment_shows_requests_not_the_key() -> None:
    script = (
        "from inferencesh import inference\n"
        "import sys\n"
        f"c = inference(api_key={CANARY_KEY!r}, base_url=sys.argv[1], max_retries=1)\n"
        "try:\n    c.tasks.get('t1')\nexcept Exception as e:\n    print(repr(e), e)\n"
    )

    def handler(r: Request) -> Reply:
        auth = r.headers.get("authorization")
        return Reply.problem(
            503, "down", f"echo {auth}", {"retry-after": "0", "x-request-id": "rid-1"}
        )

    with FaultServer(handler) as server:
        env = {**os.environ, "INFERENCE_LOG": "debug"}
        done = subprocess.run(
            [sys.executable, "-c", script, server.base_url],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert "GET /tasks/t1 -> 503 (attempt 1, request id rid-1)" in done.stderr
    assert "GET /tasks/t1 -> 503 (attempt 2" in done.stderr
    assert CANARY_KEY not in done.stderr + done.stdout
    assert "InternalServerError" in done.stdout


@pytest.mark.parametrize("mode", MODES)
def test_upload_put_carries_no_authorization(mode: str, tmp_path: Path) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Reply:
        seen.append(request)
        if request.path == "/files":
            return Reply.json(v3([file_record(upload_url=f"{base}/bucket/f1?sig=abc")]))
        if request.path == "/bucket/f1":
            return Reply(status=200)
        return Reply.json(v3(created()))

    path = tmp_path / "a.json"
    path.write_text("{}")
    with FaultServer(handler) as server:
        base = server.base_url
        record = call(mode, base, lambda c: c.files.upload(path), api_key=CANARY_KEY)
    put = [r for r in seen if r.method == "PUT"][0]
    assert record["uri"] == "https://files.example/f1"
    assert "authorization" not in put.headers
    assert put.headers["content-type"] == "application/json"
    assert put.headers["content-length"] == "2" and put.body == b"{}"
    assert all(CANARY_KEY not in json.dumps(r.headers) for r in seen if r.method == "PUT")
    assert seen[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_injected_http_client_and_extra_headers(tmp_path: Path) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Reply:
        seen.append(request)
        return Reply.json(v3(task(status=10)))

    with FaultServer(handler) as server:
        http = httpx.Client(headers={"x-outer": "1"})
        with Inference(
            api_key="k", base_url=server.base_url, http_client=http, headers={"x-extra": "2"}
        ) as c:
            c.tasks.get("t1")
        assert not http.is_closed  # an injected client belongs to the caller
        http.close()
    assert seen[0].headers["x-outer"] == "1" and seen[0].headers["x-extra"] == "2"
    assert seen[0].headers["user-agent"].startswith("inferencesh-python/")


async def test_clients_close_their_own_pools() -> None:
    from inferencesh import AsyncInference

    with Inference(api_key="k") as client:
        pool = client._transport.client
    assert pool.is_closed
    async with AsyncInference(api_key="k") as aclient:
        apool = aclient._transport.client
    assert apool.is_closed
