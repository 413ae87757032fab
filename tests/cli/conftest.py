"""Fixtures of the command tests: a ``serve`` process shared by the module, and command runners."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

API_KEY = "inf_cli_tests"
COMMAND = [sys.executable, "-m", "inferencesh"]
_STARTUP_LINES = 200
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
class Server:
    """A running ``inferencesh serve`` process."""

    process: subprocess.Popen[str]
    base_url: str
    banner: list[str]

    def env(self) -> dict[str, str]:
        return clean_env(INFERENCE_BASE_URL=self.base_url, INFERENCE_API_KEY=API_KEY)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``inferencesh ARGS`` against this server (key and URL from the environment)."""
        return subprocess.run(
            [*COMMAND, *args], capture_output=True, text=True, env=self.env(), timeout=timeout
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``inferencesh serve --port 0`` in a subprocess; the port is read from its banner."""
    data_dir = tmp_path_factory.mktemp("serve-data")
    agents_file = data_dir / "agents.yaml"
    agents_file.write_text(AGENTS_YAML)
    process = subprocess.Popen(
        [
            *COMMAND,
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--agents",
            str(agents_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    guard = threading.Timer(60, process.kill)  # readline blocks: a silent server must not hang
    guard.start()
    try:
        assert process.stdout is not None
        banner: list[str] = []
        base_url = ""
        for _ in range(_STARTUP_LINES):
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line.rstrip("\n"))
            if line.startswith("inference.sh local runtime on "):
                base_url = line.split(" on ", 1)[1].strip()
            if base_url and line.strip() == "app infsh/stream":
                break
        guard.cancel()
        assert base_url.startswith("http://127.0.0.1:"), banner
        # It answers: the API refuses a request without a key, as it should.
        assert httpx.get(f"{base_url}/sessions", timeout=10).status_code == 401
        yield Server(process, base_url, banner)
    finally:
        guard.cancel()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
