"""The apps every local runtime has: ``infsh/echo``, ``infsh/stream``, ``infsh/file``,
``infsh/slow``, ``infsh/fail``, ``infsh/counter`` and ``infsh/scripted-llm``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import ConfigDict, Field

from inferencesh.app import BaseApp, BaseAppInput, BaseAppOutput, BaseAppSetup, File, Metadata
from inferencesh.local import _scripted

__all__ = ["BUILTIN_APPS"]


class EchoInput(BaseAppInput):
    """Any fields; they come back unchanged."""

    model_config = ConfigDict(extra="allow")


class EchoApp(BaseApp):
    """Returns its input."""

    async def run(self, input_data: EchoInput) -> dict[str, object]:
        return input_data.model_dump(mode="json")


class StreamInput(BaseAppInput):
    text: str = Field("the quick brown fox jumps over the lazy dog", description="words to stream")
    delay: float = Field(0.0, ge=0, le=5, description="seconds between words")
    progress: bool = Field(False, description="also report a progress fraction with each word")


class StreamOutput(BaseAppOutput):
    response: str = ""
    progress: float | None = None


class StreamApp(BaseApp):
    """Streams its text word by word, as a language model streams tokens."""

    async def run(self, input_data: StreamInput) -> AsyncIterator[StreamOutput]:
        words = input_data.text.split()
        response = ""
        for index, word in enumerate(words):
            response += word if index == 0 else f" {word}"
            fraction = (index + 1) / len(words) if input_data.progress else None
            yield StreamOutput(response=response, progress=fraction)
            await asyncio.sleep(input_data.delay)


class FileInput(BaseAppInput):
    file: File = Field(description="a text file")
    suffix: str = Field("-upper", description="added to the output file name")


class FileOutput(BaseAppOutput):
    file: File
    size: int
    sha256: str


class FileApp(BaseApp):
    """Takes a file and returns a new one with its text upper-cased."""

    folder: str = ""

    async def setup(self) -> None:
        # The runtime copies returned files into its store when the task ends, so the worker's
        # own copies only need to live as long as the worker.
        self.folder = tempfile.mkdtemp(prefix="infsh-file-")

    async def run(self, input_data: FileInput) -> FileOutput:
        source = input_data.file
        assert source.path is not None
        with open(source.path, "rb") as handle:
            data = handle.read().upper()
        stem, extension = os.path.splitext(source.filename or "file.txt")
        target = os.path.join(
            tempfile.mkdtemp(dir=self.folder), f"{stem}{input_data.suffix}{extension}"
        )
        with open(target, "wb") as handle:
            handle.write(data)
        return FileOutput(
            file=File(path=target), size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    async def unload(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class SlowInput(BaseAppInput):
    seconds: float = Field(5.0, ge=0, le=3600, description="how long to work")
    blocking: bool = Field(False, description="sleep without yielding to the event loop")


class SlowOutput(BaseAppOutput):
    slept: float


class SlowApp(BaseApp):
    """Sleeps; cancellable unless ``blocking`` (then the runtime has to kill the worker)."""

    cancelled: bool = False

    async def run(self, input_data: SlowInput) -> SlowOutput:
        start = time.monotonic()
        print(f"sleeping {input_data.seconds} s")
        if input_data.blocking:
            time.sleep(input_data.seconds)
        else:
            await asyncio.sleep(input_data.seconds)
        return SlowOutput(slept=round(time.monotonic() - start, 3))

    async def on_cancel(self) -> bool:
        self.cancelled = True
        print("cancelled")
        return True


class FailInput(BaseAppInput):
    message: str = Field("this app always fails", description="the error message")
    how: Literal["raise", "exit", "crash"] = Field("raise", description="how to fail")


class FailApp(BaseApp):
    """Fails: raises with ``message``, calls ``sys.exit`` or kills its own process."""

    async def run(self, input_data: FailInput) -> BaseAppOutput:
        print(f"about to fail: {input_data.how}")
        if input_data.how == "exit":
            sys.exit(3)
        if input_data.how == "crash":
            os._exit(70)
        raise RuntimeError(input_data.message)


class CounterSetup(BaseAppSetup):
    start: int = Field(0, description="initial value of the counter")


class CounterInput(BaseAppInput):
    by: int = Field(1, description="how much to add")


class StepInput(BaseAppInput):
    step: int = Field(description="a step number to remember")


class CounterOutput(BaseAppOutput):
    count: int
    history: list[int]
    setup_calls: int
    pid: int
    task_id: str | None = None


_setup_calls = 0


class CounterApp(BaseApp):
    """Keeps a counter in memory, so sessions (and warm workers) can be observed."""

    count: int = 0
    history: list[int] = []

    async def setup(self, config: CounterSetup) -> None:
        global _setup_calls
        _setup_calls += 1
        self.count = config.start
        self.history = []

    def _output(self, metadata: Metadata) -> CounterOutput:
        return CounterOutput(
            count=self.count,
            history=list(self.history),
            setup_calls=_setup_calls,
            pid=os.getpid(),
            task_id=metadata.task_id,
        )

    async def run(self, input_data: CounterInput, metadata: Metadata) -> CounterOutput:
        self.count += input_data.by
        return self._output(metadata)

    async def process(self, input_data: StepInput, metadata: Metadata) -> CounterOutput:
        self.history.append(input_data.step)
        return self._output(metadata)


class ScriptedInput(BaseAppInput):
    text: str = Field(description="the user's message")
    tools: list[str] = Field(default_factory=list, description="names of the tools it may call")
    output_schema: dict[str, object] | None = Field(None, description="the finish tool's schema")


class ScriptedToolCall(BaseAppOutput):
    name: str
    arguments: dict[str, object]


class ScriptedOutput(BaseAppOutput):
    response: str = ""
    tool_calls: list[ScriptedToolCall] = []
    output: object = None


class ScriptedLLMApp(BaseApp):
    """The scripted model of the local agents (see ``_scripted``), as an app: one turn's plan.

    Streams the reply for the message's remaining text word by word, and lists the tool calls
    the message asks for; agents on this runtime follow the same rules with real tool results.
    """

    async def run(self, input_data: ScriptedInput) -> AsyncIterator[ScriptedOutput]:
        calls, rest = _scripted.plan(input_data.text, input_data.tools)
        tool_calls = [ScriptedToolCall(name=name, arguments=args) for name, args in calls]
        response = ""
        for chunk in _scripted.words(_scripted.reply(rest, [])):
            response += chunk
            yield ScriptedOutput(response=response, tool_calls=tool_calls)
        output = None
        if input_data.output_schema is not None:
            output = _scripted.finish_output(input_data.text, input_data.output_schema)
        yield ScriptedOutput(response=response, tool_calls=tool_calls, output=output)


BUILTIN_APPS: dict[str, str] = {
    "infsh/echo": f"{__name__}:EchoApp",
    "infsh/stream": f"{__name__}:StreamApp",
    "infsh/file": f"{__name__}:FileApp",
    "infsh/slow": f"{__name__}:SlowApp",
    "infsh/fail": f"{__name__}:FailApp",
    "infsh/counter": f"{__name__}:CounterApp",
    "infsh/scripted-llm": f"{__name__}:ScriptedLLMApp",
}
