"""`make demo`: start the local runtime, then run apps on it through the client and the command.

Each step below uses the Python client first, then the same feature through the `inferencesh`
command (run as a subprocess, as a user would). Steps are plain functions listed in `STEPS`; add
one to extend the demo. Nothing leaves the machine: the runtime listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from inferencesh import Inference, app_tool, inference, string, tool
from inferencesh.local import LocalRuntime

API_KEY = "inf_local_demo"  # a runtime started without a key accepts any inf_ key


class DemoError(Exception):
    """A step saw something other than what it expected."""


def check(condition: bool, what: str) -> None:
    """Stop the demo when ``condition`` is false."""
    if not condition:
        raise DemoError(what)


@dataclass
class Demo:
    """What every step gets: the runtime, a client on it, and a way to run the command."""

    runtime: LocalRuntime
    client: Inference
    workdir: Path

    def command(self, *args: str, show_stdout: bool = True) -> str:
        """Run ``inferencesh ARGS`` against the runtime; show its output; return its stdout."""
        print(f"  $ inferencesh {shlex.join(args)}")
        env = dict(os.environ, INFERENCE_BASE_URL=self.runtime.base_url, INFERENCE_API_KEY=API_KEY)
        done = subprocess.run(
            [sys.executable, "-m", "inferencesh", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        for line in done.stderr.splitlines():
            print(f"    | {line}")
        lines = done.stdout.splitlines() if show_stdout else ["(one JSON document: the task)"]
        for line in lines:
            print(f"    > {line}")
        check(done.returncode == 0, f"inferencesh {args[0]} exited {done.returncode}")
        return done.stdout


def echo(demo: Demo) -> None:
    """The echo app: the input comes back as the output."""
    result = demo.client.tasks.run({"app": "infsh/echo", "input": {"text": "hi", "n": 1}})
    print(f"  client: task {result.id} {result.status.name.lower()}, output {result['output']}")
    check(result["output"] == {"text": "hi", "n": 1}, "echo returned its input")
    out = demo.command("run", "infsh/echo", "-i", "message=hello", "-i", "count:=2")
    check(json.loads(out) == {"message": "hello", "count": 2}, "the command printed the output")


def files(demo: Demo) -> None:
    """A file in, a file out: local files in the input are uploaded, output files downloaded."""
    source = demo.workdir / "hello.txt"
    source.write_text("hello from the local runtime\n")
    result = demo.client.tasks.run({"app": "infsh/file", "input": {"file": source}})
    output = result["output"]
    content = httpx.get(output["file"]["uri"]).text
    print(f"  client: uploaded {source.name}, got {output['file']['filename']}: {content!r}")
    check(content == "HELLO FROM THE LOCAL RUNTIME\n", "the app upper-cased the file")
    folder = demo.workdir / "downloads"
    demo.command("run", "infsh/file", "-i", f"file={source}", "--download", str(folder))
    saved = sorted(path.name for path in folder.iterdir())
    print(f"  downloaded: {saved}")
    check(saved == ["hello-upper.txt"], "the command downloaded the output file")


def session(demo: Demo) -> None:
    """A session: one warm worker keeps the app's state across calls."""
    with demo.client.session("infsh/counter", input={"by": 1}) as counter:
        second = counter.call("run", {"by": 10})
        third = counter.call("process", {"step": 7})
        print(f"  client: session {counter.session_id}, count 1 -> {second['output']['count']}")
        print(f"  client: history {third['output']['history']}, same worker pid")
        check(second["output"]["count"] == 11, "the count survived between calls")
        check(second["output"]["pid"] == third["output"]["pid"], "one worker served the session")
    args = ("run", "infsh/counter", "-i", "by:=5", "--session", "new", "--json")
    started = json.loads(demo.command(*args, show_stdout=False))
    session_id = started["session_id"]
    print(f"  the JSON says: session {session_id}, count {started['output']['count']}")
    out = demo.command("run", "infsh/counter", "-i", "by:=5", "--session", session_id)
    check(json.loads(out)["count"] == 10, "the command continued the session")
    demo.command("sessions", "end", session_id)


def stream(demo: Demo) -> None:
    """A streamed run: partial outputs and progress as the app produces them."""
    params = {
        "app": "infsh/stream",
        "input": {"text": "tokens arrive one by one", "delay": 0.05, "progress": True},
    }
    last = ""
    for update in demo.client.tasks.run(params, stream=True):
        output: dict[str, Any] = update.get("output") or {}
        if output.get("response") and output["response"] != last:
            last = output["response"]
            print(f"  client: {output['progress']:4.0%} {last!r}")
    check(last == "tokens arrive one by one", "the stream delivered the whole text")
    demo.command(
        "run", "infsh/stream", "-i", "text=a b c d", "-i", "delay:=0.1", "-i", "progress:=true"
    )


def agent(demo: Demo) -> None:
    """An agent: the scripted model calls a client tool whose handler runs in this process."""
    calls: list[str] = []

    def get_weather(args: dict[str, Any]) -> str:
        calls.append(str(args.get("city")))
        return f"sunny in {args.get('city')}"

    weather = tool("get_weather").describe("Weather").param("city", string("City"))
    config: dict[str, Any] = {
        "name": "demo-helper",
        "core_app": {"ref": "infsh/scripted-llm"},  # the local runtime's deterministic model
        "tools": [weather.handler(get_weather)],
    }
    chat = demo.client.agent(config)
    streamed: list[str] = []
    reply = chat.send_message(
        'call get_weather {"city": "Paris"}\nAnd tomorrow?',
        on_tool_call=lambda info: print(f"  client: [tool {info.name} {json.dumps(info.args)}]"),
        on_delta=lambda delta: streamed.append(delta.text),
    )
    text = "".join(part.text or "" for part in reply.content)
    print(f"  client: streamed {len(streamed)} deltas: {''.join(streamed)!r}")
    print(f"  client: the handler ran here for {calls}")
    check(calls == ["Paris"], "the client tool's handler ran once")
    check(text == "get_weather returned sunny in Paris. You said: And tomorrow?", "the reply")
    check("".join(streamed) == text, "the deltas add up to the reply")
    # The command cannot run this process's handler: its agent gets an app tool (run on the
    # runtime) that asks for approval, which --approve-all gives.
    cli_config = {
        "name": "demo-cli",
        "core_app": {"ref": "infsh/scripted-llm"},
        "tools": [app_tool("echo", "infsh/echo").require_approval().to_dict()],
    }
    path = demo.workdir / "agent.json"
    path.write_text(json.dumps(cli_config))
    message = 'call echo {"word": "hi"}\nbye'
    out = demo.command("chat", "--config", str(path), "--approve-all", "-m", message)
    check(out.strip() == 'echo returned {"word":"hi"}. You said: bye', "the command's reply")


STEPS: list[Callable[[Demo], None]] = [echo, files, session, stream, agent]


def main() -> int:
    with (
        LocalRuntime() as runtime,
        inference(api_key=API_KEY, base_url=runtime.base_url) as client,
        tempfile.TemporaryDirectory(prefix="infsh-demo-") as workdir,
    ):
        print(f"local runtime on {runtime.base_url}")
        demo = Demo(runtime, client, Path(workdir))
        for step in STEPS:
            doc: Any = step.__doc__
            print(f"\n== {step.__name__}: {doc}")
            try:
                step(demo)
            except DemoError as exc:
                print(f"\ndemo FAILED in {step.__name__}: {exc}")
                return 1
    print("\ndemo ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
