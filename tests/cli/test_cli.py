"""The ``inferencesh`` command, driven as a user would: in-process runs with captured output, and
subprocesses where only a process shows the behaviour (signals, a terminal, a closed pipe)."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferencesh._cli import _common, _main, _resources

from .conftest import API_KEY, COMMAND, INTERRUPTIBLE, Server, clean_env, invoke

TASK_ID = re.compile(r"task ([0-9a-f]{24})")


def plain(screen: str) -> str:
    """Terminal output without its control sequences (colours, cursor moves)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)


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


def test_json_gives_status_names_next_to_the_numbers(server: Server) -> None:
    done = server.run("run", "infsh/echo", "-i", "a=b", "--json", "-q")
    task = json.loads(done.stdout)
    keys = list(task)
    assert task["status_name"] == "completed"
    assert keys.index("status_name") == keys.index("status") + 1
    assert {(event["status"], event["status_name"]) for event in task["events"]} >= {
        (7, "running"),
        (10, "completed"),
    }
    created = json.loads(server.run("run", "infsh/echo", "--no-wait", "--json").stdout)
    assert created["status_name"] in ("received", "queued", "dispatched", "running", "completed")


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
    # The app's own log line shows; the worker's traceback does not, unless -v.
    assert "about to fail" in done.stderr
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr
    assert "the app's traceback is hidden; -v shows it" in done.stderr
    verbose = server.run("run", "infsh/fail", "-i", "message=kaboom", "-v")
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "RuntimeError: kaboom" in verbose.stderr
    assert re.fullmatch(r"inferencesh: task [0-9a-f]{24} failed: kaboom", last_line(done.stderr))


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
    done = invoke("run", "infsh/echo", "-i", "a=b")
    assert done.returncode == 2
    reason = last_line(done.stderr)
    assert "--api-key" in reason and "INFERENCE_API_KEY" in reason and "--local" in reason
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""


def test_bad_input_is_a_usage_error(server: Server) -> None:
    assert server.run("run", "infsh/echo", "--input", "[1]").returncode == 2
    assert server.run("run", "infsh/echo", "--input", "{oops").returncode == 2
    done = server.run("run", "infsh/echo", "-i", "novalue")
    assert done.returncode == 2 and "key=value" in done.stderr
    done = server.run("run", "infsh/echo", "-i", "name:=Ada")  # := takes JSON, = a string
    assert done.returncode == 2
    assert done.stderr.startswith("inferencesh: --input 'name:=Ada': the value after := is not")
    assert done.stderr.endswith("; for a string, write name=Ada\n")


def test_the_key_is_never_printed(server: Server) -> None:
    secret = "inf_SECRET_do_not_print_42"
    args = ["run", "nobody/nothing", "--base-url", server.base_url, "--api-key", secret]
    for extra in ([], ["-v"], ["--json"]):
        done = invoke(*args, *extra)
        assert done.returncode == 1
        assert secret not in done.stdout + done.stderr


# Ctrl-C


def test_ctrl_c_cancels_the_task_and_says_so(server: Server) -> None:
    process = subprocess.Popen(
        [*INTERRUPTIBLE, "run", "infsh/slow", "-i", "seconds:=120"],
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


def test_timeout_cancels_the_task(server: Server) -> None:
    done = server.run("run", "infsh/slow", "-i", "seconds:=120", "--timeout", "0.5")
    assert done.returncode == 124
    match = re.fullmatch(
        r"inferencesh: timed out after 0.5 s: task ([0-9a-f]{24}) cancelled", last_line(done.stderr)
    )
    assert match is not None, done.stderr
    got = server.run("tasks", "get", match.group(1), "--json")
    assert json.loads(got.stdout)["status_name"] == "cancelled"
    assert server.run("run", "infsh/echo", "--timeout", "0").returncode == 2


def test_refused_input_reads_as_field_message_and_value(server: Server) -> None:
    done = server.run("run", "infsh/slow", "-i", "seconds=abc", "-q")
    assert done.returncode == 1
    match = re.fullmatch(r"inferencesh: task ([0-9a-f]{24}) failed: (.*)", last_line(done.stderr))
    assert match is not None, done.stderr
    assert match.group(2) == (
        "1 validation error for SlowInput: seconds: Input should be a valid number, "
        "unable to parse string as a number (got 'abc')"
    )
    # Any other reason is kept as it is, on one line.
    assert _common.failure_reason("boom\nat line 2") == "boom; at line 2"
    assert _common.failure_reason("1 validation error for X\nodd layout") == (
        "1 validation error for X; odd layout"
    )


def test_a_timeout_a_thread_cannot_wait_is_a_usage_error() -> None:
    # "inf", "nan" and "1e300" parse as floats; none of them may reach a wait (an OverflowError,
    # or a wait that never ends). Each is refused before anything is sent.
    commands = (["run", "infsh/echo"], ["tasks", "wait", "t1"], ["chat", "acme/helper", "-m", "hi"])
    for command in commands:
        for value in ("inf", "nan", "1e300", "-1"):
            done = invoke(*command, f"--timeout={value}")
            assert done.returncode == 2, (command, value, done.stderr)
            assert done.stderr.startswith("inferencesh: --timeout must be a number of seconds > 0")
            assert len(done.stderr.splitlines()) == 1


def test_tasks_wait_timeout_leaves_the_task_running(server: Server) -> None:
    task_id = server.run("run", "infsh/slow", "-i", "seconds:=120", "--no-wait").stdout.strip()
    waited = server.run("tasks", "wait", task_id, "--timeout", "0.5")
    assert waited.returncode == 124
    expected = f"inferencesh: timed out after 0.5 s: stopped waiting; task {task_id} keeps running"
    assert last_line(waited.stderr) == expected
    assert server.run("tasks", "cancel", task_id).returncode == 0


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
    # rich (the cli extra) draws the status line: a spinner, the task, its status, the time.
    assert "\x1b[?25l" in screen  # the cursor is hidden while the line is live
    screen = plain(screen)
    assert re.search(r"task [0-9a-f]{24} running \d+\.\ds", screen), screen
    assert "sleeping 0.6 s" in screen  # the app's own output
    assert '"slept"' in screen
    code, screen = run_in_pty(
        [*COMMAND, "run", "infsh/stream", "-i", "text=a b c d", "-i", "delay:=0.2"]
        + ["-i", "progress:=true"],
        env | {"TERM": "xterm"},
    )
    assert code == 0, screen
    screen = plain(screen)
    assert "100%" in screen and re.search(r" (25|50|75)%", screen)


def test_a_spinner_shows_while_the_api_has_not_answered(silent_server: str) -> None:
    env = clean_env(INFERENCE_BASE_URL=silent_server, INFERENCE_API_KEY=API_KEY, TERM="xterm")
    code, screen = run_in_pty([*COMMAND, "run", "infsh/echo", "--timeout", "1"], env)
    assert code == 124, screen
    screen = plain(screen)
    assert "starting infsh/echo waiting" in screen
    expected = "inferencesh: timed out after 1 s before the API confirmed the task"
    assert last_line(screen.replace("\r", "\n")) == expected


# sessions, apps, upload


def test_sessions_list_get_end(server: Server) -> None:
    started = server.run("run", "infsh/counter", "-i", "by:=3", "--session", "new", "--json")
    assert started.returncode == 0, started.stderr
    session_id = json.loads(started.stdout)["session_id"]
    again = server.run("run", "infsh/counter", "-i", "by:=3", "--session", session_id, "-q")
    assert json.loads(again.stdout)["count"] == 6
    listed = server.run("sessions", "list")
    assert "status" in listed.stdout.splitlines()[0]
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(session_id)]
    assert row.split()[1:3] == ["active", "infsh/counter"]  # the app by name, not its id
    shown = server.run("sessions", "get", session_id)
    assert "active" in shown.stdout and "calls" in shown.stdout
    assert re.search(r"^app +infsh/counter$", shown.stdout, re.MULTILINE)
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


def test_apps_get_shows_file_fields_as_files(server: Server) -> None:
    done = server.run("apps", "get", "infsh/file")
    assert re.search(r"^file +file +yes", done.stdout, re.MULTILINE), done.stdout
    assert "file: a local path (uploaded first) or an http(s) URL" in done.stdout
    # The output too: what a finished task holds, File fields as files again.
    output = done.stdout.split("\noutput of run:\n", 1)[1]
    assert output.splitlines()[0].split() == ["field", "type", "description"], done.stdout
    assert re.search(r"^file +file$", output, re.MULTILINE), done.stdout
    assert re.search(r"^size +integer$", output, re.MULTILINE), done.stdout
    as_json = json.loads(server.run("apps", "get", "infsh/file", "--json").stdout)
    assert as_json["version"]["input_schema"]["properties"]["file"]["format"] == "file"


def test_tasks_get_shows_the_app_by_name(server: Server) -> None:
    task_id = server.run("run", "infsh/echo", "--no-wait").stdout.strip()
    shown = server.run("tasks", "get", task_id)
    assert re.search(r"^app +infsh/echo$", shown.stdout, re.MULTILINE), shown.stdout


def test_upload_prints_the_uri(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01payload")
    done = server.run("upload", str(path))
    assert done.returncode == 0, done.stderr
    assert "uploading" in done.stderr
    assert httpx.get(done.stdout.strip(), timeout=10).content == b"\x00\x01payload"


def test_upload_shows_a_spinner_before_the_upload_starts(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The upload URL is asked for first: against a slow API, that wait must show too.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.bin").write_bytes(b"payload")
    code, screen = server.on_terminal("upload", "data.bin")
    assert code == 0, screen
    first = screen.split("\x1b[2K")[1]  # the first thing the status line drew
    assert re.match(r"[|/\\-]  uploading data\.bin  waiting  ", first), screen


def test_a_base_url_that_is_not_a_url_is_one_line_naming_where_it_came_from() -> None:
    key = {"INFERENCE_API_KEY": API_KEY}
    for url in ("htp://127.0.0.1:8765", "127.0.0.1:8765", "http://127.0.0.1:99999", "http://"):
        done = invoke("tasks", "get", "t1", "--base-url", url, env=key)
        assert done.returncode == 2, done.stderr
        assert done.stderr == (
            "inferencesh: --base-url must be an http(s) URL such as https://api.inference.sh "
            f"or http://127.0.0.1:8765, got {url!r}\n"
        )
    done = invoke("tasks", "get", "t1", env=key | {"INFERENCE_BASE_URL": "localhost:8765"})
    assert done.returncode == 2 and done.stderr.startswith("inferencesh: INFERENCE_BASE_URL must")


def test_a_refused_key_says_where_the_key_comes_from(server: Server) -> None:
    done = invoke("tasks", "get", "t1", "--base-url", server.base_url, "--api-key", "not-a-key")
    assert done.returncode == 1
    assert done.stderr.startswith("inferencesh: HTTP 401 ")
    assert done.stderr.endswith(" (check --api-key or INFERENCE_API_KEY)\n")


def test_every_argument_of_every_command_has_help() -> None:
    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:  # argparse keeps its sub-parsers only here
            if isinstance(action, argparse._SubParsersAction):
                for child in set(action.choices.values()):
                    yield from parsers(child)

    missing = [
        f"{parser.prog} {action.dest}"
        for parser in parsers(_main.build_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []


def test_flags_override_the_environment(server: Server) -> None:
    env = {"INFERENCE_BASE_URL": "http://127.0.0.1:9", "INFERENCE_API_KEY": "inf_wrong_place"}
    args = ["run", "infsh/echo", "-i", "a=b", "--base-url", server.base_url, "--api-key", API_KEY]
    done = invoke(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": "b"}


# --local: an in-process runtime, no key, no server


def test_local_runs_without_key_or_server() -> None:
    done = invoke("run", "infsh/echo", "-i", "message=hi", "--local")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"message": "hi"}


# errors: one line, tracebacks only with -v


def test_version() -> None:
    done = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"inferencesh \d+\.\d+\.\d+\S* \(Python 3\.\d+\.\d+\S*\)\n", done.stdout)


def test_an_unexpected_error_is_one_line_and_v_shows_its_traceback(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(_resources, "session_list", broken)
    done = server.run("sessions", "list")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "inferencesh: unexpected error: RuntimeError: something inside broke "
        "(run again with -v for the traceback, and please report it)\n"
    )
    verbose = server.run("-v", "sessions", "list")
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.endswith("(run again with -v for the traceback, and please report it)\n")
    assert server.run("sessions", "list", "-v").stderr == verbose.stderr  # -v after the command


def test_a_reader_that_goes_away_ends_the_command_quietly(server: Server, tmp_path: Path) -> None:
    # `inferencesh ... --json | head -1`: more output than a pipe holds, and a reader that stops.
    document = tmp_path / "input.json"
    document.write_text(json.dumps({"text": "x" * 300_000}))
    process = subprocess.Popen(
        [*COMMAND, "run", "infsh/echo", "--input", f"@{document}", "--json", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server.env(),
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline() == b"{\n"
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 141  # 128 + SIGPIPE, as a shell reports it
    assert errors == b""


def test_a_missing_server_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "inferencesh.local._runtime", raising=False)
    for args in (["run", "infsh/echo", "--local"], ["serve", "--port", "0"]):
        done = invoke(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(
            "inferencesh: the local runtime needs the server extra: "
            "pip install 'inferencesh[server]' ("
        )
        assert len(done.stderr.splitlines()) == 1
        assert done.stderr.count("pip install") == 1, done.stderr  # the hint once, not nested


def test_an_unreachable_api_is_one_line_with_what_to_check() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    done = invoke(
        "tasks", "get", "abc", env={"INFERENCE_BASE_URL": closed, "INFERENCE_API_KEY": API_KEY}
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("inferencesh: cannot reach the API: GET /tasks/abc failed")
    assert done.stderr.endswith(
        "(is the server up, and --base-url (or INFERENCE_BASE_URL) right?)\n"
    )
    assert len(done.stderr.splitlines()) == 1
    # An upload wraps the same failure in its own error: the same hint.
    env = {"INFERENCE_BASE_URL": closed, "INFERENCE_API_KEY": API_KEY}
    done = invoke("upload", str(Path(__file__)), env=env)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "(is the server up, and --base-url (or INFERENCE_BASE_URL) right?)\n"
    )
