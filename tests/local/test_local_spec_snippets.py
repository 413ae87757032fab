"""The Python SDK README's snippets that name an app (``your-app``, ``my-stateful-app``,
``my-stateful-app@abc123``, ``my-app``, ``my-app@abc123``), run unchanged against
``inferencesh serve --app <folder>`` with app folders named as in the snippets. Only the key,
the base URL and the README's placeholder input ``{...}`` (written ``{}`` here) differ; the
apps are small stateful ones written here, since the README does not show them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from inferencesh import RequirementsNotMetError, async_inference, inference

STATEFUL_APP = """
from inferencesh import BaseApp, BaseAppInput, BaseAppOutput

class RunInput(BaseAppInput):
    prompt: str = ""

class StepInput(BaseAppInput):
    step: int = 0

class Memory(BaseAppOutput):
    prompts: list[str]
    steps: list[int]

class App(BaseApp):
    async def setup(self):
        self.prompts, self.steps = [], []

    async def run(self, input_data: RunInput) -> Memory:
        self.prompts.append(input_data.prompt)
        return Memory(prompts=self.prompts, steps=self.steps)

    async def process(self, input_data: StepInput) -> Memory:
        self.steps.append(input_data.step)
        return Memory(prompts=self.prompts, steps=self.steps)
"""

PLAIN_APP = """
from inferencesh import BaseApp

class App(BaseApp):
    async def setup(self, config: dict):
        self.model = config.get("model", "default")
        self.calls = 0

    async def run(self, input_data: dict) -> dict:
        self.calls += 1
        return {"input": input_data, "model": self.model, "calls": self.calls}

    async def step(self, input_data: dict) -> dict:
        self.calls += 1
        return {"step": input_data, "calls": self.calls}
"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("snippets")
    folders = {"my-stateful-app@abc123": STATEFUL_APP, "your-app": PLAIN_APP}
    folders["my-app@abc123"] = PLAIN_APP
    command = [sys.executable, "-m", "inferencesh", "serve", "--port", "0"]
    command += ["--data-dir", str(root / "data")]
    for name, source in folders.items():
        (root / name).mkdir()
        (root / name / "inference.py").write_text(textwrap.dedent(source))
        command += ["--app", str(root / name)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "runtime on http://127.0.0.1:" in banner, banner
        yield banner.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_simple_usage(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = inference(api_key="inf_your_key", base_url=base_url)
    result = client.tasks.run(
        {"app": "your-app", "input": {"key": "value"}, "infra": "cloud", "variant": "default"}
    )
    print(f"Task ID: {result.get('id')}")
    print(f"Output: {result.get('output')}")
    assert result["output"]["input"] == {"key": "value"}
    assert f"Task ID: {result.id}" in capsys.readouterr().out


def test_with_setup_parameters(base_url: str) -> None:
    client = inference(api_key="inf_your_key", base_url=base_url)
    result = client.tasks.run(
        {
            "app": "your-app",
            "setup": {"model": "schnell"},  # Setup parameters
            "input": {"prompt": "hello"},
        }
    )
    assert result["output"]["model"] == "schnell"


def test_sessions(base_url: str) -> None:
    client = inference(api_key="inf_your_key", base_url=base_url)
    result = client.tasks.run(
        {"app": "my-stateful-app", "input": {"prompt": "hello"}, "session": "new"}
    )
    session_id = result.get("session_id")
    result2 = client.tasks.run(
        {
            "app": "my-stateful-app",
            "input": {"prompt": "remember what I said?"},
            "session": session_id,
        }
    )
    assert result2["output"]["prompts"] == ["hello", "remember what I said?"]
    client.sessions.end(session_id)


def test_session_context_manager(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = inference(api_key="inf_your_key", base_url=base_url)
    with client.session("my-stateful-app@abc123", input={"prompt": "hello"}) as session:
        session.call("process", {"step": 1})
        session.call("process", {"step": 2}, wait=False)  # same options as client.run()
        for update in session.call("run", {"prompt": "..."}, stream=True):
            print(update.get("status"))
        print(session.session_id)
        last = session.call("process", {"step": 3})
    assert last["output"] == {"prompts": ["hello", "..."], "steps": [1, 2, 3]}
    assert session.session_id in capsys.readouterr().out


def test_custom_session_timeout(base_url: str) -> None:
    client = inference(api_key="inf_your_key", base_url=base_url)
    result = client.tasks.run(
        {
            "app": "my-stateful-app",
            "input": {"prompt": "hello"},
            "session": "new",
            "session_timeout": 300,  # 5 minutes
        }
    )
    assert client.sessions.get(result["session_id"])["idle_timeout"] == 300
    client.sessions.end(result["session_id"])


def test_requirements_errors(base_url: str) -> None:
    client = inference(api_key="inf_your_key", base_url=base_url)
    try:
        result = client.tasks.run({"app": "my-app", "input": {}})
    except RequirementsNotMetError as e:
        for err in e.errors:
            print(f"{err.type}: {err.key} — {err.message}")
        raise
    assert result["status"] == 10


async def test_async_client(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = async_inference(api_key="inf_your_key", base_url=base_url)
    result = await client.tasks.run(
        {"app": "your-app", "input": {"key": "value"}, "infra": "cloud", "variant": "default"}
    )
    print(f"Output: {result.get('output')}")
    async with await client.session("my-app@abc123", input={"start": True}) as session:
        stepped = await session.call("step", {"x": 1})
        async for update in await session.call("run", {"prompt": "..."}, stream=True):
            print(update.get("status"))
    await client.close()
    assert stepped["output"]["step"] == {"x": 1}
    assert "Output: {'input': {'key': 'value'}" in capsys.readouterr().out
