"""``inferencesh serve``: its banner, its request log, and one line for each error."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import queue
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from inferencesh._cli import _serve, main

from .conftest import AGENTS_YAML, API_KEY, COMMAND, clean_env, invoke

_STARTUP_LINES = 200


@dataclass
class Serving:
    """A running ``inferencesh serve`` process: its URL, its banner, and its output lines."""

    process: subprocess.Popen[str]
    base_url: str
    banner: list[str]
    lines: queue.Queue[str]
    pumps: list[threading.Thread]

    def next_line(self, containing: str) -> str:
        """The next output line (stdout or stderr) holding ``containing`` (bounded wait)."""
        for _ in range(_STARTUP_LINES):
            line = self.lines.get(timeout=60)
            if containing in line:
                return line
        raise AssertionError(f"no line with {containing!r}")

    def rest(self) -> list[str]:
        """Every line not read yet, once the process has ended and its output is all read."""
        for pump in self.pumps:
            pump.join(timeout=60)
        return self.drain()

    def drain(self) -> list[str]:
        """The lines printed so far and not read yet."""
        found: list[str] = []
        while not self.lines.empty():
            found.append(self.lines.get_nowait())
        return found


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def start_serving(*args: str, data_dir: Path) -> Serving:
    """``inferencesh serve --port 0 ARGS``; returns once the banner has been printed."""
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", "0", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    pumps = [
        threading.Thread(target=_pump, args=(stream, lines), daemon=True)
        for stream in (process.stdout, process.stderr)
    ]
    for pump in pumps:
        pump.start()
    banner: list[str] = []
    base_url = ""
    for _ in range(_STARTUP_LINES):
        line = lines.get(timeout=60)  # a silent server must not hang the run
        banner.append(line)
        if line.startswith("inference.sh local runtime on "):
            base_url = line.split(" on ", 1)[1].strip()
        if line.startswith("  export "):
            break
    assert base_url.startswith("http://127.0.0.1:"), banner
    return Serving(process, base_url, banner, lines, pumps)


def stop_serving(serving: Serving) -> int:
    serving.process.terminate()
    try:
        return serving.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        serving.process.kill()
        return serving.process.wait(timeout=10)


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    data_dir = tmp_path_factory.mktemp("serve-data")
    agents_file = data_dir / "agents.yaml"
    agents_file.write_text(AGENTS_YAML)
    running = start_serving("--agents", str(agents_file), data_dir=data_dir)
    try:
        yield running
    finally:
        stop_serving(running)


def test_serve_lists_its_apps_and_the_line_to_export(serving: Serving) -> None:
    assert serving.banner[0] == f"inference.sh local runtime on {serving.base_url}"
    assert "  app infsh/echo" in serving.banner
    assert serving.banner[-1] == (
        f"  export INFERENCE_BASE_URL={serving.base_url} INFERENCE_API_KEY=inf_local"
    )


def test_serve_logs_one_line_per_request(serving: Serving) -> None:
    serving.drain()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.get(f"{serving.base_url}/sessions", headers=headers, timeout=10).is_success
    line = serving.next_line("/sessions")
    assert line.endswith("  GET /sessions  200"), line
    assert httpx.get(f"{serving.base_url}/tasks/nope", headers=headers, timeout=10).status_code
    assert serving.next_line("/tasks/nope").endswith("  GET /tasks/nope  404")


def test_serve_registers_template_agents_from_a_file(serving: Serving) -> None:
    response = httpx.get(
        f"{serving.base_url}/agents/acme/helper",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "helper"


def test_a_client_leaving_mid_upload_is_one_line_in_the_log(serving: Serving) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    files = [{"filename": "big.bin", "content_type": "application/octet-stream", "size": 10**6}]
    created = httpx.post(f"{serving.base_url}/files", json={"files": files}, headers=headers)
    upload = urllib.parse.urlsplit(created.json()["data"][0]["upload_url"])
    assert upload.hostname == "127.0.0.1" and upload.port is not None
    serving.drain()
    with socket.create_connection((upload.hostname, upload.port), timeout=10) as raw:
        host = f"{upload.hostname}:{upload.port}"  # the runtime answers loopback names only
        target = f"{upload.path}?{upload.query}"
        head = f"PUT {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000"
        raw.sendall(head.encode() + b"\r\n\r\n" + b"x" * 1000)  # then goes away
    line = serving.next_line("disconnected")
    assert line.endswith(
        "stopped after 1000 bytes: the client disconnected (the upload URL can be used again)"
    )
    # Nothing else: no traceback (the request log's line for it may follow).
    assert httpx.get(f"{serving.base_url}/sessions", headers=headers, timeout=10).is_success
    serving.next_line("GET /sessions")
    assert not [line for line in serving.drain() if "Traceback" in line or "File " in line]


def test_requests_cut_at_shutdown_are_one_line_not_errors() -> None:
    # What uvicorn logs when it stops with a request still open (a client following a task):
    # an error saying it cancels them, then each cancelled request as an exception.
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    errors = logging.getLogger("uvicorn.error")
    keep = Keep()
    errors.addHandler(keep)
    try:
        with _serve.one_line_errors(verbose=False):
            errors.error("Cancel %s running task(s), timeout graceful shutdown exceeded", 2)
            try:
                raise asyncio.CancelledError("Task cancelled, timeout graceful shutdown exceeded")
            except asyncio.CancelledError as exc:
                errors.error("Exception in ASGI application\n", exc_info=exc)
    finally:
        errors.removeHandler(keep)
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("INFO", "stopping: 2 request(s) still open were closed (clients following tasks)")
    ]


def test_stopping_with_a_client_following_a_task_logs_no_error(tmp_path: Path) -> None:
    running = start_serving(data_dir=tmp_path)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"app": "infsh/slow", "input": {"seconds": 120}}
    try:
        with httpx.Client(base_url=running.base_url, headers=headers, timeout=30) as client:
            task = client.post("/apps/run", json=body).json()["data"]
            with client.stream("GET", f"/tasks/{task['id']}/stream") as stream:
                assert stream.status_code == 200
                next(stream.iter_lines())  # the stream is open on the server
                assert stop_serving(running) == 0  # SIGTERM, the way Ctrl-C stops it too
    finally:
        if running.process.poll() is None:
            stop_serving(running)
    # Python 3.12+ keeps the stream open until uvicorn cuts it; earlier ones close it first.
    said = [line for line in running.rest() if "/apps/run" not in line and "/stream" not in line]
    assert all(line.startswith("INFO:") and "stopping: 1 request(s)" in line for line in said)


def test_quiet_serve_logs_no_requests(tmp_path: Path) -> None:
    running = start_serving("--quiet", "--api-key", "inf_only_this", data_dir=tmp_path)
    try:
        # With --api-key the key is not printed: the user has it.
        assert running.banner[-1] == f"  export INFERENCE_BASE_URL={running.base_url}"
        assert "inf_only_this" not in "\n".join(running.banner)
        headers = {"Authorization": "Bearer inf_only_this"}
        assert httpx.get(f"{running.base_url}/sessions", headers=headers, timeout=10).is_success
    finally:
        assert stop_serving(running) == 0
    assert not [line for line in running.drain() if "/sessions" in line]


def test_a_port_out_of_range_and_a_data_dir_that_cannot_be_made_are_one_line(
    tmp_path: Path,
) -> None:
    for args, error in (
        (["--port", "-1"], "argument --port: a port is 0 to 65535 (0 picks a free one), got -1"),
        (["--port", "70000"], "argument --port: a port is 0 to 65535 (0 picks a free one), got "),
        (["--max-workers", "0"], "argument --max-workers: must be > 0, got 0"),
        (["--keep-days", "nan"], "argument --keep-days: must be a number > 0, got nan"),
    ):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main(["serve", *args, "--data-dir", str(tmp_path)])
        assert exited.value.code == 2
        assert error in err.getvalue().splitlines()[-1]
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    done = invoke("serve", "--port", "0", "--data-dir", str(a_file / "data"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"inferencesh: cannot serve: {a_file / 'data'}: "), done.stderr
    assert done.stderr.endswith("(see --data-dir)\n") and len(done.stderr.splitlines()) == 1


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        done = invoke("serve", "--port", port, "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr == (
        f"inferencesh: port {port} on 127.0.0.1 is already in use: stop the other server, "
        "or pick another port with --port (--port 0 picks a free one)\n"
    )


def test_app_folders_that_are_not_there_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = invoke("serve", "--apps", str(missing), "--data-dir", str(tmp_path))
    assert (done.returncode, done.stderr) == (2, f"inferencesh: --apps {missing}: does not exist\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    done = invoke("serve", "--apps", str(empty), "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == (
        f"inferencesh: --apps {empty}: no inference.py in it or in any folder directly under it\n"
    )
    done = invoke("serve", "--app", "bad ref=mod:App", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and done.stderr.startswith("inferencesh: cannot serve: ")
    assert len(done.stderr.splitlines()) == 1
