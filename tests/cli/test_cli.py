"""The ``inferencesh`` command, driven as a user would: subprocesses and a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import threading
from pathlib import Path

import httpx

from .conftest import API_KEY, COMMAND, Server, clean_env

TASK_ID = re.compile(r"task ([0-9a-f]{24})")


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# run: input forms, output, progress


def test_run_takes_key_value_pairs(server: Server) -> None:
    done = server.run("run", "infsh/echo", "-i", "message=hi", "-i", "n:=2", "-i", "on:=true")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"message": "hi", "n": 2, "on": True}
    # stdout is not a terminal here: progress went to stderr, one line per status.
    assert "running" in done.stderr and "completed" in done.stderr


def test_run_merges_input_json_file_and_pairs(server: Server, tmp_path: Path) -> None:
    document = tmp_path / "input.json"
    document.write_text(json.dumps({"from_file": [1, 2], "over": "file"}))
    done = server.run(
        "run",
        "infsh/echo",
        "--input",
        '{"inline": 1}',
        "--input",
        f"@{document}",
        "-i",
        "over=pair",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"inline": 1, "from_file": [1, 2], "over": "pair"}


def test_run_passes_setup_and_function(server: Server) -> None:
    done = server.run("run", "infsh/counter", "--setup", "start:=100", "-i", "by:=1", "-q")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == 101
    assert done.stderr == ""  # -q: no progress
    step = server.run("run", "infsh/counter", "--function", "process", "-i", "step:=4", "-q")
    assert json.loads(step.stdout)["history"] == [4]


def test_run_json_prints_exactly_one_document(server: Server) -> None:
    done = server.run("run", "infsh/echo", "-i", "a=b", "--json")
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)  # fails on anything but one JSON document
    assert task["status"] == 10 and task["output"] == {"a": "b"}
    assert "completed" in done.stderr


def test_run_uploads_local_files_and_downloads_output_files(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "note.txt"
    source.write_text("make me loud\n")
    folder = tmp_path / "out"
    done = server.run("run", "infsh/file", "-i", f"file={source}", "--download", str(folder))
    assert done.returncode == 0, done.stderr
    assert "uploading note.txt" in done.stderr
    assert [path.name for path in folder.iterdir()] == ["note-upper.txt"]
    assert (folder / "note-upper.txt").read_text() == "MAKE ME LOUD\n"
    assert f"saved {folder / 'note-upper.txt'}" in done.stderr


def test_run_no_wait_prints_the_task_id_and_tasks_wait_follows_it(server: Server) -> None:
    created = server.run("run", "infsh/echo", "-i", "x=1", "--no-wait")
    assert created.returncode == 0, created.stderr
    task_id = created.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{24}", task_id)
    waited = server.run("tasks", "wait", task_id)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout) == {"x": "1"}
    shown = server.run("tasks", "get", task_id)
    assert "status    completed" in shown.stdout and '"x": "1"' in shown.stdout


# failures: exit codes and one-line reasons


def test_failing_app_exits_1_with_the_reason_on_one_line(server: Server) -> None:
    done = server.run("run", "infsh/fail", "-i", "message=kaboom")
    assert done.returncode == 1
    assert re.fullmatch(r"inferencesh: task [0-9a-f]{24} failed: kaboom", last_line(done.stderr))
    assert done.stdout == ""


def test_failing_app_with_json_still_prints_one_document(server: Server) -> None:
    done = server.run("run", "infsh/fail", "-i", "message=kaboom", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"] == "kaboom"


def test_unknown_app_exits_1(server: Server) -> None:
    done = server.run("run", "nobody/nothing", "-i", "a=b")
    assert done.returncode == 1
    assert (
        last_line(done.stderr) == "inferencesh: HTTP 404 not_found: App not found: nobody/nothing"
    )
    as_json = server.run("run", "nobody/nothing", "--json")
    assert json.loads(as_json.stdout)["error"]["type"] == "NotFoundError"


def test_missing_key_says_where_to_put_it() -> None:
    done = subprocess.run(
        [*COMMAND, "run", "infsh/echo", "-i", "a=b"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 2
    reason = last_line(done.stderr)
    assert "--api-key" in reason and "INFERENCE_API_KEY" in reason and "--local" in reason
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""


def test_bad_input_is_a_usage_error(server: Server) -> None:
    assert server.run("run", "infsh/echo", "--input", "[1]").returncode == 2
    assert server.run("run", "infsh/echo", "--input", "{oops").returncode == 2
    done = server.run("run", "infsh/echo", "-i", "novalue")
    assert done.returncode == 2 and "key=value" in done.stderr


def test_the_key_is_never_printed(server: Server) -> None:
    secret = "inf_SECRET_do_not_print_42"
    done = subprocess.run(
        [*COMMAND, "run", "nobody/nothing", "--base-url", server.base_url, "--api-key", secret],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 1
    assert secret not in done.stdout + done.stderr


# Ctrl-C


def test_ctrl_c_cancels_the_task_and_says_so(server: Server) -> None:
    process = subprocess.Popen(
        [*COMMAND, "run", "infsh/slow", "-i", "seconds:=120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env(),
    )
    assert process.stderr is not None
    seen: list[str] = []
    guard = threading.Timer(90, process.kill)  # readline blocks: never let a hang block the run
    guard.start()
    try:
        for _ in range(400):  # bounded: the app prints "sleeping" once it runs
            line = process.stderr.readline()
            seen.append(line)
            if "sleeping" in line or not line:
                break
        assert any("sleeping" in line for line in seen), seen
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        guard.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    match = TASK_ID.search("".join(seen))
    assert match is not None
    assert process.returncode == 130
    assert last_line(rest) == f"inferencesh: interrupted: task {match.group(1)} cancelled"
    got = server.run("tasks", "get", match.group(1), "--json")
    assert json.loads(got.stdout)["status"] == 12  # CANCELLED


def test_tasks_cancel_then_wait_reports_cancelled(server: Server) -> None:
    task_id = server.run("run", "infsh/slow", "-i", "seconds:=120", "--no-wait").stdout.strip()
    cancelled = server.run("tasks", "cancel", task_id)
    assert cancelled.returncode == 0 and task_id in cancelled.stdout
    waited = server.run("tasks", "wait", task_id)
    assert waited.returncode == 1
    assert last_line(waited.stderr) == f"inferencesh: task {task_id} cancelled"


# the live display on a terminal


def run_in_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as stdin/stdout/stderr; return (code, output)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    data = b""
    try:
        for _ in range(1200):  # bounded: at most ~60 s of 50 ms polls
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                data += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=30)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, data.decode(errors="replace")


def test_terminal_shows_a_live_status_line_with_logs_and_progress(server: Server) -> None:
    env = server.env()
    env.pop("TERM", None)
    code, screen = run_in_pty(
        [*COMMAND, "run", "infsh/slow", "-i", "seconds:=0.6"], env | {"TERM": "xterm"}
    )
    assert code == 0, screen
    assert "\r\x1b[2K" in screen  # the status line is redrawn in place
    assert re.search(r"task [0-9a-f]{24}  running  \d+\.\ds", screen)
    assert "sleeping 0.6 s" in screen  # the app's own output
    assert '"slept"' in screen
    code, screen = run_in_pty(
        [*COMMAND, "run", "infsh/stream", "-i", "text=a b c d", "-i", "delay:=0.2"]
        + ["-i", "progress:=true"],
        env | {"TERM": "xterm"},
    )
    assert code == 0, screen
    assert "] 100%" in screen and re.search(r"\] +(25|50|75)%", screen)


# sessions, apps, upload


def test_sessions_list_get_end(server: Server) -> None:
    started = server.run("run", "infsh/counter", "-i", "by:=3", "--session", "new", "--json")
    assert started.returncode == 0, started.stderr
    session_id = json.loads(started.stdout)["session_id"]
    again = server.run("run", "infsh/counter", "-i", "by:=3", "--session", session_id, "-q")
    assert json.loads(again.stdout)["count"] == 6
    listed = server.run("sessions", "list")
    assert session_id in listed.stdout and "status" in listed.stdout.splitlines()[0]
    shown = server.run("sessions", "get", session_id)
    assert "active" in shown.stdout and "calls" in shown.stdout
    ended = server.run("sessions", "end", session_id)
    assert ended.returncode == 0 and f"ended session {session_id}" in ended.stdout
    late = server.run("run", "infsh/counter", "--session", session_id)
    assert late.returncode == 1 and "session" in last_line(late.stderr).lower()


def test_apps_get_shows_the_input_schema_as_a_table(server: Server) -> None:
    done = server.run("apps", "get", "infsh/stream")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("field"))
    assert header.split() == ["field", "type", "required", "default", "description"]
    text_row = next(line for line in lines if line.startswith("text "))
    assert "string" in text_row and "words to stream" in text_row
    assert any(line.startswith("delay ") and "number" in line for line in lines)
    process = server.run("apps", "get", "infsh/counter", "--function", "process")
    assert re.search(r"^step +integer +yes", process.stdout, re.MULTILINE)
    assert server.run("apps", "get", "no-slash").returncode == 2


def test_upload_prints_the_uri(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01payload")
    done = server.run("upload", str(path))
    assert done.returncode == 0, done.stderr
    assert "uploading" in done.stderr
    assert httpx.get(done.stdout.strip(), timeout=10).content == b"\x00\x01payload"


def test_serve_lists_its_apps(server: Server) -> None:
    assert server.banner[0] == f"inference.sh local runtime on {server.base_url}"
    assert "  app infsh/echo" in server.banner


def test_flags_override_the_environment(server: Server) -> None:
    env = clean_env(INFERENCE_BASE_URL="http://127.0.0.1:9", INFERENCE_API_KEY="inf_wrong_place")
    done = subprocess.run(
        [*COMMAND, "run", "infsh/echo", "-i", "a=b", "--base-url", server.base_url]
        + ["--api-key", API_KEY],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": "b"}


# --local: an in-process runtime, no key, no server


def test_local_runs_without_key_or_server() -> None:
    done = subprocess.run(
        [*COMMAND, "run", "infsh/echo", "-i", "message=hi", "--local"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"message": "hi"}


def test_serve_registers_template_agents_from_a_file(server: Server) -> None:
    response = httpx.get(
        f"{server.base_url}/agents/acme/helper",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "helper"
