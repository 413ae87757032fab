"""The worker process: loads one app and runs its functions, one task at a time.

The child side of a worker (the pool in ``_worker_pool`` starts it as ``python -m
inferencesh.local._worker_process <target>``). It speaks JSON lines: commands on stdin, events on
a private copy of stdout. The app's own ``print`` and logging go to the runtime as log events,
and anything written to file descriptor 1 or 2 lands on stderr, so an app can never corrupt the
protocol.
"""

from __future__ import annotations

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


class _Channel:
    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        # NaN and Infinity are not JSON: refuse them here rather than hand the runtime an
        # output it cannot send.
        text = json.dumps(message, separators=(",", ":"), default=str, allow_nan=False)
        line = text.encode() + b"\n"
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
            self._channel.send({"ev": "log", "phase": self._worker.phase, "text": head + "\n"})
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            text, self._buffer = self._buffer, ""
            self._channel.send({"ev": "log", "phase": self._worker.phase, "text": text})


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _Worker:
    def __init__(self, channel: _Channel, handle: AppHandle) -> None:
        self.channel = channel
        self.handle = handle
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
            self.channel.send({"ev": "setup_failed", "error": _message(exc)})
            if not isinstance(exc, Exception):
                os._exit(1)
            return
        self.channel.send({"ev": "setup_done"})

    async def _call(self, message: dict[str, Any]) -> None:
        task_id = message.get("id")
        self.phase = "run"

        async def progress(item: Any) -> None:
            data, _ = serialize_output(item)
            self.channel.send({"ev": "progress", "id": task_id, "output": data})

        try:
            metadata = Metadata.model_validate(message.get("metadata") or {})
            info, value = await self.handle.prepare(str(message.get("function")), message["input"])
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
            self.channel.send({"ev": "done", "id": task_id, "output": output, "files": files})
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


async def _main(channel: _Channel, target: str) -> None:
    try:
        handle = AppHandle(load_app_class(target))
        describe = handle.describe()
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.flush()
        channel.send({"ev": "load_failed", "error": f"cannot load {target}: {_message(exc)}"})
        return
    worker = _Worker(channel, handle)
    sys.stdout = _LogWriter(channel, worker)
    sys.stderr = _LogWriter(channel, worker)
    channel.send({"ev": "loaded", "pid": os.getpid(), "describe": describe})
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_commands, args=(loop, inbox), daemon=True).start()
    await worker.serve(inbox)


def main() -> None:
    """Entry point of a worker process."""
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    asyncio.run(_main(channel, sys.argv[1]))


if __name__ == "__main__":
    main()
