"""Fixtures of the command tests: a local runtime shared by the module, and command runners.

Most tests call the command's ``main()`` in this process, with its own stdin, stdout, stderr and
environment: a subprocess would add only interpreter start-up. Tests of what only a real
process shows (signals, a terminal, a closed pipe, ``serve`` itself) start one.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from inferencesh._cli import main
from inferencesh.local import LocalRuntime

API_KEY = "inf_cli_tests"
COMMAND = [sys.executable, "-m", "inferencesh"]
# The command with SIGINT ignored when it starts, as in any background job; a command test
# that sends SIGINT restores Python's handler in the child first, as a terminal's shell would.
_RESTORE_SIGINT = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from inferencesh._cli import main; sys.exit(main(sys.argv[1:]))"
)
INTERRUPTIBLE = [
    "sh",
    "-c",
    "trap '' INT; exec \"$@\"",
    "sh",
    sys.executable,
    "-c",
    _RESTORE_SIGINT,
]
AGENTS_YAML = """\
acme/helper:
  system_prompt: You help.
  core_app: {ref: infsh/scripted-llm}
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any INFERENCE_* setting, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INFERENCE_")}
    env.update(extra)
    return env


@dataclass
class Result:
    """What a command run left: its exit code and its output."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    """``inferencesh ARGS`` in this process: ``env`` replaces INFERENCE_* settings, ``stdin``
    is piped in; stdout and stderr are captured (neither is a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("INFERENCE_")]:
            patch.delenv(key)
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())


class Terminal(io.StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def invoke_on_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """``inferencesh ARGS`` in this process with stdout and stderr on one (captured) terminal,
    drawn by the plain display (as without rich); returns the exit code and the raw screen."""
    screen = Terminal()
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("INFERENCE_")]:
            patch.delenv(key)
        for key, value in {**env, "TERM": "xterm"}.items():
            patch.setenv(key, value)
        patch.setitem(sys.modules, "rich", None)
        patch.setattr(sys, "stdin", io.StringIO(""))
        with contextlib.redirect_stdout(screen), contextlib.redirect_stderr(screen):
            code = main(list(args))
    return code, screen.getvalue()


@dataclass
class Server:
    """A local runtime in this process, with the template agent ``acme/helper``."""

    runtime: LocalRuntime

    @property
    def base_url(self) -> str:
        return self.runtime.base_url

    def env(self) -> dict[str, str]:
        """The environment of a command process pointed at this server."""
        return clean_env(INFERENCE_BASE_URL=self.base_url, INFERENCE_API_KEY=API_KEY)

    def on_terminal(self, *args: str) -> tuple[int, str]:
        """``inferencesh ARGS`` against this server on a terminal (see ``invoke_on_terminal``)."""
        env = {"INFERENCE_BASE_URL": self.base_url, "INFERENCE_API_KEY": API_KEY}
        return invoke_on_terminal(*args, env=env)

    def run(self, *args: str, stdin: str = "") -> Result:
        """``inferencesh ARGS`` against this server (key and URL from the environment)."""
        env = {"INFERENCE_BASE_URL": self.base_url, "INFERENCE_API_KEY": API_KEY}
        return invoke(*args, env=env, stdin=stdin)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A local runtime on a free loopback port, shared by the module's tests."""
    data_dir = tmp_path_factory.mktemp("serve-data")
    agents_file = data_dir / "agents.yaml"
    agents_file.write_text(AGENTS_YAML)
    with LocalRuntime(port=0, data_dir=data_dir, agents=str(agents_file)) as runtime:
        assert runtime.base_url.startswith("http://127.0.0.1:")
        yield Server(runtime)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The URL of a server on loopback that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():  # bounded: ends with the fixture
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()
