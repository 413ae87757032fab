"""``inferencesh chat``, driven as a user would: in-process runs with piped stdin, and subprocesses
for signals and a pseudo-terminal.

The agents answer with the runtime's scripted model: ``You said: TEXT``, and a line
``call NAME {json}`` calls that tool of the agent.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferencesh import app_tool, string, tool

from .conftest import API_KEY, COMMAND, INTERRUPTIBLE, Result, Server, invoke


def chat(server: Server, *args: str, stdin: str = "") -> Result:
    """``inferencesh chat ARGS`` against the module's server, with ``stdin`` piped in."""
    return server.run("chat", *args, stdin=stdin)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ad-hoc agent: an app tool that asks for approval, a slow app tool, a client tool."""
    tools: list[dict[str, Any]] = [
        app_tool("echo", "infsh/echo").describe("Echo").require_approval().to_dict(),
        app_tool("slow", "infsh/slow").describe("Sleep").to_dict(),
        tool("lookup").describe("Look up").param("q", string("Query")).to_dict(),
    ]
    path = tmp_path_factory.mktemp("chat") / "agent.yaml"
    # YAML is a superset of JSON: this also checks that a .yaml file is read.
    path.write_text(
        json.dumps({"name": "cli", "core_app": {"ref": "infsh/scripted-llm"}, "tools": tools})
    )
    return path


def assert_stopped(server: Server, chat_id: str) -> None:
    """The chat's reply was stopped on the server, not only left behind by the command."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for _ in range(100):  # bounded: the stop settles quickly
        got = httpx.get(f"{server.base_url}/chats/{chat_id}", headers=headers, timeout=10)
        if got.json()["data"]["status"] == "idle":
            break
        time.sleep(0.05)
    assert got.json()["data"]["active_run"]["state"] == "canceled", got.text


def test_one_message_prints_the_reply(server: Server) -> None:
    done = chat(server, "acme/helper", "-m", "hello there")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: hello there\n"


def test_json_prints_the_final_assistant_message(server: Server) -> None:
    done = chat(server, "acme/helper", "-m", "as json", "--json", "--context", "user=ada")
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)  # exactly one document
    assert message["role"] == "assistant" and message["status"] == "ready"
    assert message["content"][0]["text"] == "You said: as json"


def test_piped_session_with_reset_and_exit(server: Server) -> None:
    done = chat(server, "acme/helper", stdin="first\n\n/reset\nsecond\n/exit\nnever sent\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: first\nYou said: second\n"  # no prompt: not a terminal
    assert "[new chat]" in done.stderr


def test_help_and_unknown_commands_are_answered_locally(server: Server) -> None:
    done = chat(server, "acme/helper", stdin="/help\n/nope\nhi\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: hi\n"  # only "hi" reached the agent
    assert "/reset  start a new chat" in done.stderr and "/exit   end the session" in done.stderr
    assert "[unknown command /nope: /help lists them]" in done.stderr


def test_end_of_input_ends_the_session(server: Server) -> None:
    done = chat(server, "acme/helper", stdin="only line")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: only line\n"


def test_tool_calls_are_shown_and_approved_with_approve_all(server: Server, config: Path) -> None:
    message = 'call echo {"word": "hi"}\nthanks'
    done = chat(server, "--config", str(config), "--approve-all", "-m", message)
    assert done.returncode == 0, done.stderr
    assert '[tool echo {"word": "hi"}]' in done.stderr
    assert "[tool echo approved]" in done.stderr
    assert done.stdout == 'echo returned {"word":"hi"}. You said: thanks\n'


def test_approvals_are_refused_without_a_terminal(server: Server, config: Path) -> None:
    message = 'call echo {"word": "hi"}'
    refused = chat(server, "--config", str(config), "-m", message)
    assert refused.returncode == 0, refused.stderr
    assert "needs approval: no terminal, pass --approve-all" in refused.stderr
    assert refused.stdout == "echo was rejected: rejected by the user.\n"
    rejected = chat(server, "--config", str(config), "--reject-all", stdin=message + "\n")
    assert rejected.stdout == "echo was rejected: rejected by the user.\n"
    assert "[tool echo rejected]" in rejected.stderr


def test_client_tool_without_handler_gets_an_error_result(server: Server, config: Path) -> None:
    done = chat(server, "--config", str(config), "-m", 'call lookup {"q": "x"}')
    assert done.returncode == 0, done.stderr
    assert '[tool lookup {"q": "x"}]' in done.stderr
    assert "has no handler in the inferencesh command" in done.stdout


def test_quiet_shows_only_the_reply(server: Server, config: Path) -> None:
    done = chat(server, "--config", str(config), "--approve-all", "-q", "-m", "call echo")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == "echo returned {}.\n"


def test_usage_errors_exit_2(server: Server, config: Path) -> None:
    for args in (
        [],  # no agent, no --local
        ["acme/helper", "--config", str(config)],
        ["acme/helper"] + ["--json"],  # --json needs -m
        ["acme/helper", "-m", "x", "--context", "novalue"],
        ["--config", str(config.parent / "missing.json"), "-m", "x"],
        ["no-slash", "-m", "x"],
    ):
        done = chat(server, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("inferencesh: "), (args, done.stderr)


def test_unknown_agent_exits_1(server: Server) -> None:
    done = chat(server, "nobody/nothing", "-m", "hi")
    assert done.returncode == 1
    assert "404" in done.stderr


def test_missing_key_says_where_to_put_it() -> None:
    done = invoke("chat", "acme/helper", "-m", "hi")
    assert done.returncode == 2
    assert "--api-key" in done.stderr and "INFERENCE_API_KEY" in done.stderr
    assert done.stdout == ""


def test_a_spinner_shows_until_the_reply_starts(server: Server) -> None:
    code, screen = server.on_terminal("chat", "acme/helper", "-m", "hi")
    assert code == 0, screen
    assert "waiting for the reply" in screen.split("\x1b[2K")[1]
    # The spinner's line is cleared before the reply is written over it.
    assert screen.rsplit("\x1b[2K", 1)[1] == "You said: hi\n"


def test_local_chats_with_the_scripted_model_without_key_or_server() -> None:
    done = invoke("chat", "--local", "-m", "offline")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "You said: offline\n"


def test_ctrl_c_stops_the_reply_and_says_so(server: Server, config: Path) -> None:
    process = subprocess.Popen(
        [*INTERRUPTIBLE, "chat", "--config", str(config), "-m", 'call slow {"seconds": 120}'],
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
        for _ in range(100):  # bounded: the tool line comes once the call is made
            line = process.stderr.readline()
            seen.append(line)
            if "[tool slow" in line or not line:
                break
        assert any("[tool slow" in line for line in seen), seen
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        guard.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, rest
    last = rest.strip().splitlines()[-1]
    assert last.startswith("inferencesh: interrupted: stopped the reply in chat "), rest
    assert_stopped(server, last.rsplit(" ", 1)[1])


def test_a_timeout_stops_the_reply_and_exits_124(server: Server, config: Path) -> None:
    done = chat(
        server, "--config", str(config), "-m", 'call slow {"seconds": 120}', "--timeout", "1"
    )
    assert done.returncode == 124, done.stderr  # as run --timeout, and timeout(1)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("inferencesh: no reply within --timeout 1 s: stopped the reply in chat ")
    assert_stopped(server, last.rsplit(" ", 1)[1])


class Terminal:
    """The command on a pseudo-terminal: type lines, wait for text to show up."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        env = env | {"TERM": "dumb"}  # readline without terminal escapes
        self.leader, follower = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=follower, stdout=follower, stderr=follower, env=env
        )
        os.close(follower)
        self.screen = ""

    def type(self, line: str) -> None:
        os.write(self.leader, line.encode() + b"\n")

    def shows(self, text: str, start: int = 0) -> bool:
        """Whether ``text`` shows up after ``start`` within a few polls."""
        try:
            self.wait_for(text, start, polls=10)
        except AssertionError:
            return False
        return True

    def wait_for(self, text: str, start: int = 0, polls: int = 1200) -> int:
        """Read until ``text`` shows up after ``start``; return where it ends (bounded)."""
        for _ in range(polls):  # at most ~60 s of 50 ms polls
            found = self.screen.find(text, start)
            if found >= 0:
                return found + len(text)
            ready, _, _ = select.select([self.leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.leader, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                self.screen += chunk.decode(errors="replace")
        raise AssertionError(f"{text!r} did not show up:\n{self.screen}")

    def close(self) -> int:
        try:
            # Generous: on a loaded machine the command's exit alone has taken over 30 s.
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the command did not exit:\n{self.screen}") from None
        finally:
            os.close(self.leader)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def test_terminal_session_prompts_streams_and_asks_for_approval(
    server: Server, config: Path
) -> None:
    term = Terminal([*COMMAND, "chat", "--config", str(config)], server.env())
    try:
        at = term.wait_for("[/help lists the commands]")
        at = term.wait_for("> ", at)
        term.type("hello terminal")
        at = term.wait_for("You said: hello terminal", at)
        at = term.wait_for("> ", at)
        term.type('call echo {"n": 1}')
        at = term.wait_for('[tool echo {"n": 1}]', at)
        at = term.wait_for('approve echo {"n": 1}? [y/N] ', at)
        term.type("y")
        at = term.wait_for('echo returned {"n":1}.', at)
        at = term.wait_for("> ", at)
        # readline: Ctrl-P twice recalls the message before the last (the "y" of the approval
        # is not in the history), Ctrl-A and typing edit it.
        term.type("\x10\x10\x01again: ")
        at = term.wait_for("You said: again: hello terminal", at)
        at = term.wait_for("> ", at)
        term.type("/exit")
    finally:
        code = term.close()
    assert code == 0, term.screen


def test_terminal_ctrl_c_stops_the_reply_and_returns_to_the_prompt(
    server: Server, config: Path
) -> None:
    term = Terminal([*INTERRUPTIBLE, "chat", "--config", str(config)], server.env())
    try:
        at = term.wait_for("> ")
        term.type('call slow {"seconds": 120}')
        at = term.wait_for("[tool slow", at)
        term.process.send_signal(signal.SIGINT)
        at = term.wait_for("[interrupted: stopped the reply in chat ", at)
        at = term.wait_for("> ", at)
        term.type("still here")
        at = term.wait_for("You said: still here", at)
        at = term.wait_for("> ", at)
        # At the prompt: a fresh prompt, not an exit. A SIGINT that lands between the prompt
        # and readline's wait for a key is only seen at the next key, so send until one shows.
        for _ in range(50):
            term.process.send_signal(signal.SIGINT)
            if term.shows("\r\n> ", at):
                break
        at = term.wait_for("\r\n> ", at)
        term.type("/exit")
    finally:
        code = term.close()
    assert code == 0, term.screen
