"""The pytest plugin, used from a separate project the way a user would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

USER_TEST = """

def test_echo_through_the_fixture(inference_client):
    result = inference_client.tasks.run({"app": "infsh/echo", "input": {"message": "hi"}})
    assert result["output"] == {"message": "hi"}


def test_own_app_is_served(inference_client):
    result = inference_client.tasks.run({"app": "acme/shout", "input": {"text": "hey"}})
    assert result["output"] == {"text": "HEY"}


def test_runtime_fixture_is_shared(inference_runtime, inference_client):
    assert inference_runtime.base_url.startswith("http://127.0.0.1:")
"""

USER_APP = """
from inferencesh import BaseApp, BaseAppInput, BaseAppOutput


class ShoutInput(BaseAppInput):
    text: str


class ShoutOutput(BaseAppOutput):
    text: str


class App(BaseApp):
    async def run(self, input_data: ShoutInput) -> ShoutOutput:
        return ShoutOutput(text=input_data.text.upper())
"""


def test_plugin_gives_a_runtime_and_a_client_to_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "shout_app.py").write_text(textwrap.dedent(USER_APP))
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'inferencesh_apps = ["acme/shout=shout_app:App"]\n'
        'pythonpath = ["."]\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_without_the_server_extra_the_fixtures_say_what_to_install(tmp_path: Path) -> None:
    # As if starlette and uvicorn were not installed.
    (tmp_path / "conftest.py").write_text("import sys\nsys.modules['uvicorn'] = None\n")
    (tmp_path / "test_user.py").write_text(
        "def test_echo(inference_client):\n    inference_client.tasks.run({'app': 'infsh/echo'})\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    expected = (
        "the inference_runtime fixture needs the server extra: pip install 'inferencesh[server]'"
    )
    assert expected in run.stdout
    assert "(no module named 'uvicorn')" in run.stdout
    assert "Traceback" not in run.stdout and "1 error" in run.stdout
    assert "During handling" not in run.stdout  # one reason, not an exception chain
