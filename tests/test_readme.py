"""Every Python block of the README runs as written, against the local runtime.

The blocks are written for a user: ``inference(api_key="inf_...")`` with no base URL. Each test
points ``INFERENCE_BASE_URL`` at a runtime of this module, runs in a temporary folder (blocks
write files), checks what the block prints, and closes the clients it left open. The last test
checks that no Python block of the README is left out, here or in the other README tests.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import hmac
import queue
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests import readme
from tests.proxy.servers import ASGIServer

from inferencesh import AsyncInference, Inference
from inferencesh.local import LocalRuntime

WEBHOOK_SECRET = "readme-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(webhook_secret=WEBHOOK_SECRET, agent_token_delay=0.0) as rt:
        yield rt


@pytest.fixture
def user(runtime: LocalRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's shell: the runtime's URL exported, a folder of their own as the working one."""
    monkeypatch.setenv("INFERENCE_BASE_URL", runtime.base_url)
    monkeypatch.delenv("INFERENCE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def run(code: str, name: str) -> dict[str, Any]:
    """Run a block as a module would, then close every client it left in its namespace."""
    scope: dict[str, Any] = {"__name__": name}
    try:
        exec(compile(code, f"README.md ({name})", "exec"), scope)
    finally:
        for value in list(scope.values()):
            if isinstance(value, Inference):
                value.close()
            elif isinstance(value, AsyncInference):
                asyncio.run(value.close())
    return scope


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_quick_start(capsys: pytest.CaptureFixture[str]) -> None:
    # The quick start starts a runtime of its own: it needs no environment.
    run(readme.block("Quick start"), "quick_start")
    assert lines(capsys) == ["{'message': 'hello'}", "COMPLETED"]


def test_sync_and_async_print_the_same(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(readme.block("Sync and async", 0), "sync")
    blocking = lines(capsys)
    run(readme.block("Sync and async", 1), "async_")
    assert blocking == lines(capsys) == ["{'message': 'hi'}", "3"]


def test_results(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    scope = run(readme.block("Results"), "results")
    assert lines(capsys) == ["True None", "COMPLETED True", "{'message': 'hello'}"]
    with pytest.raises(TypeError):
        json.dumps(scope["result"])  # what the README says, and why the block converts first
    assert json.loads(scope["every"])["status"] == 10
    assert json.loads(scope["sent"])["id"] == scope["result"].id


def test_streaming(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scope = run(readme.block("Streaming, callbacks and polling", 0), "streaming")
    out = lines(capsys)
    assert "RUNNING {'response': 'a b'}" in out
    assert out[-2:] == ["COMPLETED {'response': 'a b c', 'progress': None}", "COMPLETED"]
    assert scope["stream"].result.id == scope["task"].id


def test_callbacks(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(readme.block("Streaming, callbacks and polling", 1), "callbacks")
    out = lines(capsys)
    # However early the words went out, the deltas' texts join up to the reply.
    deltas = [ast.literal_eval(line[len("delta ") :]) for line in out if line.startswith("delta")]
    assert "".join(deltas) == "one two three" and deltas[-1].endswith("three")
    assert "update COMPLETED" in out and out[-1] == "one two three"
    assert any(line.startswith("changed [") for line in out)


def test_polling(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(readme.block("Streaming, callbacks and polling", 2), "polling")
    assert lines(capsys) == ["{'text': 'hi'}", "{'text': 'hi'} You said: Hello!"]


def test_files(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(readme.block("Files"), "files")
    assert lines(capsys) == ["text/plain True", "dot.png hi.txt 5", "5 notes-upper.txt"]
    assert (user / "notes.txt").read_text() == "hello"


def test_sessions(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(readme.block("Sessions"), "sessions")
    assert lines(capsys) == ["1", "3", "ended"]


def test_agents_and_tools(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scope = run(readme.block("Agents and tools"), "agents")
    out = capsys.readouterr().out
    answer = 'get_weather returned {"city": "Paris", "temp": 21}.'
    assert "[get_weather {'city': 'Paris'}]" in out
    assert out.endswith(f"{answer}\nreply: {answer}\n")  # the streamed tokens, then the reply
    assert scope["reply"].content[0].text == answer


def test_errors_retries_and_timeouts(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(readme.block("Errors, retries and timeouts"), "errors")
    assert lines(capsys) == ["failed: out of memory", "404", "200 True"]


def test_pagination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A runtime of its own, so that the block's three tasks are the only ones listed.
    with LocalRuntime() as fresh:
        monkeypatch.setenv("INFERENCE_BASE_URL", fresh.base_url)
        scope = run(readme.block("Pagination"), "pagination")
        assert scope["page"].next_page().items  # the page after the first, on its own
    out = lines(capsys)
    assert out[0] == "2 True"
    assert len(out) == 4 and all(line.endswith(" COMPLETED") for line in out[1:])


class Deliveries:
    """An ASGI wrapper that hands the status of each answered request to the test."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.statuses: queue.Queue[int] = queue.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.statuses.put(message["status"])
            await send(message)

        await self.app(scope, receive, record)


def test_webhooks(
    user: Path,
    runtime: LocalRuntime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert runtime.webhook_secret == WEBHOOK_SECRET
    monkeypatch.setenv("INFERENCE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    scope = run(readme.block("Webhooks"), "webhooks")
    receiver = Deliveries(scope["app"])
    server = ASGIServer(receiver)
    try:
        hook = f"{server.url}/hooks/inference"
        forged = b'{"id": "forged", "output": {}}'
        wrong = "sha256=" + hmac.new(b"not-the-secret", forged, hashlib.sha256).hexdigest()
        refused = httpx.post(hook, content=forged, headers={"X-Inference-Signature": wrong})
        assert refused.status_code == 401 and receiver.statuses.get() == 401
        with Inference(api_key="inf_readme", base_url=runtime.base_url) as client:
            task = client.tasks.run(
                {"app": "infsh/echo", "input": {"n": 1}, "webhook": hook}, wait=False
            )
            assert receiver.statuses.get() == 200  # the runtime's signed delivery, accepted
    finally:
        server.stop()
    assert lines(capsys) == [f"task.completed {task.id} {{'n': 1}}"]


def test_the_local_runtime(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = readme.block("The local runtime", 0)
    assert app.startswith("# shout.py\n")
    (user / "shout.py").write_text(app)
    try:
        run(readme.block("The local runtime", 1), "local_runtime")
    finally:
        sys.modules.pop("shout", None)
    assert lines(capsys) == ["{'text': 'HI!'}"]


def test_testing_with_the_pytest_plugin(tmp_path: Path) -> None:
    # A user's project: the README's pyproject table, its app and its test, run by pytest.
    table = readme.block("Testing with the pytest plugin", 0, "toml")
    (tmp_path / "pyproject.toml").write_text(table)
    (tmp_path / "shout.py").write_text(readme.block("The local runtime", 0))
    (tmp_path / "test_shout.py").write_text(readme.block("Testing with the pytest plugin"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def asked_for() -> set[tuple[str, int, str]]:
    """Every ``readme.block(...)`` call with literal arguments in the test suite."""
    found: set[tuple[str, int, str]] = set()
    for path in Path(__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "block"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "readme"
            ):
                continue
            args = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
            literal = len(args) == len(node.args) and not node.keywords
            assert literal, f"{path}:{node.lineno}: readme.block takes literal positional arguments"
            heading, index, language = (*args, *(0, "python")[len(args) - 1 :])
            found.add((heading, index, language))
    return found


def test_every_python_block_of_the_readme_is_run_by_a_test() -> None:
    every = {(b.heading, b.index, b.language) for b in readme.blocks()}
    python = {found for found in every if found[2] == "python"}
    assert python
    asked = asked_for()
    missing = python - asked
    assert not missing, f"README Python blocks no test runs: {sorted(missing)}"
    assert asked <= every, f"blocks the README no longer has: {sorted(asked - every)}"


def test_every_command_line_of_the_readme_parses() -> None:
    from inferencesh._cli._main import build_parser

    for line in readme.block("The command", 0, "sh").splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "inferencesh", line
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exc:  # argparse's way of refusing a line
            raise AssertionError(f"the command refuses a README line: {line}") from exc


async def test_the_async_column_of_the_sync_and_async_table(runtime: LocalRuntime) -> None:
    # Each spelling of the table's async column, as written there, on the shared runtime.
    from inferencesh import AsyncPage, AsyncSession, async_inference

    params = {"app": "infsh/stream", "input": {"text": "a b"}}
    async with async_inference(api_key="inf_readme", base_url=runtime.base_url) as client:
        assert (await client.tasks.run(params)).output["response"] == "a b"
        updates = [update async for update in await client.tasks.run(params, stream=True)]
        assert updates[-1].output["response"] == "a b"
        async with client.tasks.stream(updates[-1].id) as stream:
            async for _ in stream:
                pass
        assert stream.result.output["response"] == "a b"
        async with client.session("infsh/counter") as session:
            assert isinstance(session, AsyncSession)
        session = await client.session("infsh/counter")
        await session.end()
        assert [task async for task in client.tasks.list(limit=1)]
        assert isinstance(await client.tasks.list(limit=1), AsyncPage)
        reply = await client.agent({"core_app": {"ref": "infsh/scripted-llm"}}).send_message("hi")
        assert reply.content[0].text == "You said: hi"


def test_the_quick_start_names_the_extra_it_needs() -> None:
    # It runs the local runtime: after a plain `pip install inferencesh` it cannot import.
    assert "from inferencesh.local import LocalRuntime" in readme.block("Quick start")
    assert "pip install 'inferencesh[server]'" in readme.section("Quick start")


def test_where_the_readme_says_records_are_kept() -> None:
    import inspect

    from inferencesh._cli._main import build_parser

    default = build_parser().parse_args(["serve"]).data_dir
    text = " ".join(readme.section("The local runtime").split())
    assert f"`--data-dir` (default `{default}` in the current folder)" in text
    assert inspect.signature(LocalRuntime).parameters["data_dir"].default is None
    assert "`LocalRuntime` keeps them in memory unless given `data_dir=`" in text


def test_the_whole_api_block_says_it_needs_the_platform(user: Path) -> None:
    from inferencesh import APIError

    # The local runtime does not serve secrets: the block fails there, and the README says so.
    with pytest.raises(APIError) as refused:
        run(readme.block("The whole API"), "whole_api")
    assert refused.value.status_code == 501
    text = " ".join(readme.section("The whole API").split("```python")[0].split())
    assert "The example below needs the platform" in text and "a 501" in text
