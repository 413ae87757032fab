"""The worker process: loads one app and runs its functions, one task at a time.

The child side of a worker (the pool in ``_worker_pool`` starts it as ``python -m
inferencesh.local._worker_process <target>``). It speaks JSON lines: commands on stdin, events on
a private copy of stdout. The app's own ``print`` and logging go to the runtime as log events,
and anything written to file descriptor 1 or 2 lands on stderr, so an app can never corrupt the
protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import threading
import traceback
from typing import IO, Any

from inferencesh.app import Metadata
from inferencesh.app._dispatch import AppHandle, load_app_class, serialize_output

# How long a worker whose runtime went away may take to unload before it exits anyway.
_ORPHAN_GRACE_SECONDS = 5.0
_LOG_PIECE = 16 * 1024


class _TooLarge(ValueError):
    """An output (or a progress update) is over the runtime's limit."""


class _Channel:
    def __init__(self, out: IO[bytes], max_bytes: int) -> None:
        self._out = out
        self._lock = threading.Lock()
        self.max_bytes = max_bytes

    def send(self, message: dict[str, Any], *, output: bool = False) -> None:
        """Send one event; ``output``: it carries the app's output, which has a size limit."""
        # NaN and Infinity are not JSON: refuse them here rather than hand the runtime an
        # output it cannot send.
        text = json.dumps(message, separators=(",", ":"), default=str, allow_nan=False)
        line = text.encode() + b"\n"
        if output and len(line) > self.max_bytes:
            raise _TooLarge(
                f"the output is {len(line)} bytes as JSON, over the runtime's output limit of"
                f" {self.max_bytes} bytes (max_output_bytes; inferencesh serve --max-output-mb)"
            )
        with self._lock:
            self._out.write(line)
            self._out.flush()


class _LogWriter(io.TextIOBase):
    """A text stream that turns the app's output into log events, line by line."""

    def __init__(self, channel: _Channel, worker: _Worker) -> None:
        self._channel = channel
        self._worker = worker
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        if "\n" in self._buffer:
            head, _, self._buffer = self._buffer.rpartition("\n")
            self._send(head + "\n")
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            text, self._buffer = self._buffer, ""
            self._send(text)

    def _send(self, text: str) -> None:
        # In pieces, so that a huge line of output never meets the output limit.
        for start in range(0, len(text), _LOG_PIECE):
            piece = text[start : start + _LOG_PIECE]
            self._channel.send({"ev": "log", "phase": self._worker.phase, "text": piece})


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _out_of_memory(memory_mb: int | None) -> str:
    limit = f"the worker memory limit of {memory_mb} MB" if memory_mb else "the memory available"
    return f"the task ran out of memory: it needed more than {limit} (worker_memory_mb)"


class _Worker:
    def __init__(self, channel: _Channel, handle: AppHandle, memory_mb: int | None) -> None:
        self.channel = channel
        self.handle = handle
        self.memory_mb = memory_mb
        self.phase = "setup"
        self.current: asyncio.Task[None] | None = None
        self.current_id: str | None = None

    async def serve(self, inbox: asyncio.Queue[dict[str, Any] | None]) -> None:
        while True:
            message = await inbox.get()
            if message is None or message.get("op") == "shutdown":
                break
            op = message.get("op")
            if op == "setup":
                await self._setup(message)
            elif op == "call":
                self.current_id = str(message.get("id"))
                self.current = asyncio.create_task(self._call(message))
            elif op == "cancel" and self.current is not None:
                if message.get("id") == self.current_id:
                    self.current.cancel()
        if self.current is not None:
            self.current.cancel()
        try:
            await asyncio.wait_for(self.handle.unload(), _ORPHAN_GRACE_SECONDS)
        except BaseException:  # an unload failure must not keep the worker alive
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()

    async def _setup(self, message: dict[str, Any]) -> None:
        self.phase = "setup"
        try:
            metadata = Metadata.model_validate(message.get("metadata") or {})
            await self.handle.setup(message.get("setup"), metadata)
        except BaseException as exc:
            traceback.print_exc()
            sys.stderr.flush()
            error = _out_of_memory(self.memory_mb) if isinstance(exc, MemoryError) else None
            self.channel.send({"ev": "setup_failed", "error": error or _message(exc)})
            if not isinstance(exc, Exception):
                os._exit(1)
            return
        self.channel.send({"ev": "setup_done"})

    async def _call(self, message: dict[str, Any]) -> None:
        task_id = message.get("id")
        self.phase = "run"

        async def progress(item: Any) -> None:
            data, _ = serialize_output(item)
            self.channel.send({"ev": "progress", "id": task_id, "output": data}, output=True)

        try:
            metadata = Metadata.model_validate(message.get("metadata") or {})
            uploads: dict[str, dict[str, Any]] = dict(message.get("files") or {})
            function = str(message.get("function"))
            info, value = await self.handle.prepare(function, message["input"], uploads)
            self.channel.send({"ev": "running", "id": task_id})
            result = await self.handle.call(info, value, metadata, progress)
            output, files = serialize_output(result)
        except asyncio.CancelledError:
            try:
                await self.handle.on_cancel()
            finally:
                self.channel.send({"ev": "cancelled", "id": task_id})
            return
        except SystemExit as exc:
            # The app asked the process to exit: fail the task, then let the worker go.
            self.channel.send(
                {"ev": "failed", "id": task_id, "error": f"app exited ({exc.code})", "fatal": True}
            )
            os._exit(0)
        except MemoryError:
            sys.stderr.flush()
            error = _out_of_memory(self.memory_mb)
            self.channel.send({"ev": "failed", "id": task_id, "error": error, "fatal": True})
            return
        except BaseException as exc:
            traceback.print_exc()
            sys.stderr.flush()
            self.channel.send({"ev": "failed", "id": task_id, "error": _message(exc)})
            return
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            self.current = None
        try:
            done = {"ev": "done", "id": task_id, "output": output, "files": files}
            self.channel.send(done, output=True)
        except _TooLarge as exc:
            self.channel.send({"ev": "failed", "id": task_id, "error": str(exc)})
        except ValueError as exc:
            self.channel.send({"ev": "failed", "id": task_id, "error": f"invalid output: {exc}"})


def _read_commands(loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[Any]) -> None:
    for line in sys.stdin.buffer:
        if line.strip():
            loop.call_soon_threadsafe(inbox.put_nowait, json.loads(line))
    loop.call_soon_threadsafe(inbox.put_nowait, None)
    # The runtime is gone; a hung app must not keep this process alive.
    watchdog = threading.Timer(_ORPHAN_GRACE_SECONDS, os._exit, args=(0,))
    watchdog.daemon = True  # a clean exit must not wait for it
    watchdog.start()


async def _main(channel: _Channel, target: str, memory_mb: int | None) -> None:
    try:
        handle = AppHandle(load_app_class(target))
        describe = handle.describe()
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.flush()
        channel.send({"ev": "load_failed", "error": f"cannot load {target}: {_message(exc)}"})
        return
    worker = _Worker(channel, handle, memory_mb)
    sys.stdout = _LogWriter(channel, worker)
    sys.stderr = _LogWriter(channel, worker)
    channel.send({"ev": "loaded", "pid": os.getpid(), "describe": describe})
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_commands, args=(loop, inbox), daemon=True).start()
    await worker.serve(inbox)


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    """Entry point of a worker process."""
    parser = argparse.ArgumentParser(prog="inferencesh.local._worker_process")
    parser.add_argument("target")
    parser.add_argument("--max-output-bytes", type=int, required=True)
    parser.add_argument("--memory-mb", type=int, default=None)
    args = parser.parse_args()
    channel = _Channel(os.fdopen(os.dup(1), "wb"), args.max_output_bytes)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if args.memory_mb:
        _limit_memory(args.memory_mb)
    asyncio.run(_main(channel, args.target, args.memory_mb))


if __name__ == "__main__":
    main()
