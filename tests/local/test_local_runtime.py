"""The runtime as a whole: crash isolation, restarts, worker reaping, user apps, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from local_helpers import run, run_and_wait, wait, wait_status

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_test_key"}


@pytest.mark.parametrize(("how", "expected"), [("exit", "app exited (3)"), ("crash", "code 70")])
def test_a_crashing_app_fails_only_its_task(client: httpx.Client, how: str, expected: str) -> None:
    slow = run(client, {"app": "infsh/slow", "input": {"seconds": 1.5}})
    task = run_and_wait(client, {"app": "infsh/fail", "input": {"how": how}})
    assert task["status"] == 11 and expected in task["error"]
    assert wait(client, slow["id"])["status"] == 10
    assert run_and_wait(client, {"app": "infsh/echo", "input": {"ok": True}})["output"] == {
        "ok": True
    }
    again = run_and_wait(client, {"app": "infsh/fail", "input": {"how": how}})
    assert again["status"] == 11


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_dead(pids: list[int]) -> None:
    for _ in range(200):
        if not any(_alive(pid) for pid in pids):
            return
        time.sleep(0.05)
    raise AssertionError(f"workers still alive: {[p for p in pids if _alive(p)]}")


def test_finished_tasks_survive_a_restart_and_workers_are_reaped(tmp_path: Path) -> None:
    with (
        LocalRuntime(data_dir=tmp_path) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        done = run_and_wait(http, {"app": "infsh/echo", "input": {"keep": "me"}})
        session = run_and_wait(http, {"app": "infsh/counter", "input": {}, "session": "new"})
        running = run(http, {"app": "infsh/slow", "input": {"seconds": 60}})
        wait_status(http, running["id"], 7)
        assert rt.engine is not None
        pids = rt.engine.pool.live_pids()
        assert len(pids) >= 3
    _wait_dead(pids)
    with (
        LocalRuntime(data_dir=tmp_path) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        again = http.get(f"/tasks/{done['id']}").json()["data"]
        assert again["status"] == 10 and again["output"] == {"keep": "me"}
        assert again["events"] == done["events"]
        interrupted = http.get(f"/tasks/{running['id']}").json()["data"]
        assert interrupted["status"] == 11 and "stopped" in interrupted["error"]
        info = http.get(f"/sessions/{session['session_id']}").json()["data"]
        assert info["status"] == "ended"
        call = {"app": "infsh/counter", "input": {}, "session": session["session_id"]}
        assert http.post("/apps/run", json=call).status_code == 410


def test_user_apps_from_a_folder_and_a_module(tmp_path: Path) -> None:
    folder = tmp_path / "shouter"
    folder.mkdir()
    (folder / "inference.py").write_text(
        textwrap.dedent(
            """
            from inferencesh import BaseApp, BaseAppInput, BaseAppOutput
            from helper import shout

            class AppInput(BaseAppInput):
                text: str

            class AppOutput(BaseAppOutput):
                text: str

            class App(BaseApp):
                async def setup(self, metadata):
                    print("setting up", metadata.app_id is not None)

                async def run(self, input_data: AppInput) -> AppOutput:
                    return AppOutput(text=shout(input_data.text))
            """
        )
    )
    (folder / "helper.py").write_text("def shout(text):\n    return text.upper() + '!'\n")
    (folder / "inf.yml").write_text("name: shouter\nnamespace: me\n")
    apps = [str(folder), "greeter=local_apps:GreeterApp"]
    with LocalRuntime(apps=apps) as rt, httpx.Client(base_url=rt.base_url, headers=HEADERS) as http:
        task = run_and_wait(http, {"app": "me/shouter", "input": {"text": "hi"}})
        assert task["status"] == 10 and task["output"] == {"text": "HI!"}
        app = http.get("/apps/me/shouter").json()["data"]
        assert app["version"]["input_schema"]["required"] == ["text"]
        greet = run_and_wait(http, {"app": "local/greeter", "input": {"name": "x"}})
        assert greet["output"]["greeting"] == "Hello, x!"


def test_an_app_that_cannot_load_fails_its_task(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "inference.py").write_text("raise ImportError('missing torch')\n")
    with (
        LocalRuntime(apps=[str(folder)]) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        task = run_and_wait(http, {"app": "local/broken", "input": {}})
        assert task["status"] == 11 and "missing torch" in task["error"]
        assert http.get("/apps/local/broken").status_code == 422


@pytest.mark.parametrize("module", ["inferencesh.local", "inferencesh serve"])
def test_serve_command_runs_the_runtime(tmp_path: Path, module: str) -> None:
    apps = tmp_path / "apps"
    (apps / "hello").mkdir(parents=True)
    (apps / "hello" / "inference.py").write_text(
        "from inferencesh import BaseApp\n\n"
        "class App(BaseApp):\n"
        "    async def run(self, input_data: dict) -> dict:\n"
        "        return {'hello': input_data.get('name')}\n"
    )
    data = tmp_path / "data"
    command = [sys.executable, "-m", *module.split(), "--port", "0", "--data-dir", str(data)]
    command += ["--api-key", "inf_cli_key", "--apps", str(apps)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "http://127.0.0.1:" in banner
        base_url = banner.rsplit(" ", 1)[1].strip()
        http = httpx.Client(base_url=base_url, headers={"Authorization": "Bearer inf_cli_key"})
        task = run_and_wait(http, {"app": "infsh/echo", "input": {"via": "cli"}})
        assert task["output"] == {"via": "cli"}
        task = run_and_wait(http, {"app": "local/hello", "input": {"name": "cli"}})
        assert task["output"] == {"hello": "cli"}
        assert httpx.get(f"{base_url}/sessions").status_code == 401
        http.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert (data / "runtime.sqlite3").is_file()


def test_worker_limit_evicts_idle_workers_and_queues_tasks() -> None:
    with (
        LocalRuntime(max_workers=1) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        assert run_and_wait(http, {"app": "infsh/echo", "input": {}})["status"] == 10
        # The idle echo worker makes room for the counter.
        body = {"app": "infsh/counter", "input": {}, "session": "new"}
        session_id = run_and_wait(http, body)["session_id"]
        assert rt.engine is not None and len(rt.engine.pool.live_pids()) == 1
        # The session holds the only worker: a new task waits in the queue until it ends.
        queued = run(http, {"app": "infsh/echo", "input": {"after": "session"}})
        wait_status(http, queued["id"], 2)
        time.sleep(0.3)
        assert http.get(f"/tasks/{queued['id']}/status").json()["data"]["status"] == 2
        http.delete(f"/sessions/{session_id}")
        assert wait(http, queued["id"])["output"] == {"after": "session"}
