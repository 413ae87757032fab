"""Worker processes and the pool that keeps them warm per (app, setup).

Each worker is a child process that runs one app (see ``_worker_process``); a crash, a hang or a
``sys.exit`` there costs that worker and its task, never the runtime. The pool hands out one
worker per task (or per session), reuses idle ones whose setup matches, and bounds how many
processes exist at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inferencesh.local._registry import AppSpec

__all__ = ["Worker", "WorkerError", "WorkerLimits", "WorkerPool"]

# Room for the event around an output of max_output_bytes, and for events without an output.
_LINE_MARGIN = 1024 * 1024
_STOP_GRACE_SECONDS = 3.0

LogSink = Callable[[str, str], None]
ProgressSink = Callable[[Any], None]


@dataclass(frozen=True)
class WorkerLimits:
    """What one worker process may use: the size of an output, its memory (None: no limit)."""

    max_output_bytes: int = 64 * 1024 * 1024
    memory_mb: int | None = None


class WorkerError(RuntimeError):
    """The worker failed (``fatal``: it is gone or must not be reused)."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # Apps get the runtime's environment and their secrets, never the caller's API key.
    env = {key: value for key, value in os.environ.items() if key != "INFERENCE_API_KEY"}
    # The child must import what the parent can: apps registered as classes from test modules
    # or scripts live on the parent's sys.path, not necessarily on PYTHONPATH.
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *paths])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Worker:
    """One worker process and the operation it is running."""

    def __init__(self, spec: AppSpec, setup_key: str, limits: WorkerLimits) -> None:
        self.spec = spec
        self.setup_key = setup_key
        self.limits = limits
        self.id = f"wrk_{uuid.uuid4().hex[:20]}"
        self.proc: asyncio.subprocess.Process | None = None
        self.describe: dict[str, Any] = {}
        self.ready = False
        self.dead = False
        self.idle_since = time.monotonic()
        self.on_log: LogSink | None = None
        self.on_progress: ProgressSink | None = None
        self.on_running: Callable[[], None] | None = None
        self._waiter: asyncio.Future[dict[str, Any]] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._readers: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    async def start(self, env: dict[str, str]) -> None:
        """Spawn the process and wait until it has imported the app."""
        options = ["--max-output-bytes", str(self.limits.max_output_bytes)]
        if self.limits.memory_mb:
            options += ["--memory-mb", str(self.limits.memory_mb)]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inferencesh.local._worker_process",
            self.spec.target,
            *options,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_child_env(env),
            limit=self.limits.max_output_bytes + _LINE_MARGIN,
            start_new_session=True,
        )
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._readers = [
            asyncio.create_task(self._read_events()),
            asyncio.create_task(self._read_stderr()),
        ]
        loaded = await self._waiter
        if loaded.get("ev") != "loaded":
            raise WorkerError(str(loaded.get("error") or "worker failed to load"), fatal=True)
        self.describe = dict(loaded.get("describe") or {})

    async def setup(self, setup: Any, metadata: dict[str, Any]) -> None:
        """Run the app's setup; raises WorkerError when it fails."""
        reply = await self._request({"op": "setup", "setup": setup, "metadata": metadata})
        if reply.get("ev") != "setup_done":
            raise WorkerError(str(reply.get("error") or "setup failed"), fatal=True)
        self.ready = True

    async def call(
        self,
        task_id: str,
        function: str,
        data: Any,
        metadata: dict[str, Any],
        files: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        """Run one function; returns the final ``done``/``failed``/``cancelled`` event.

        ``files`` maps the runtime's own file URIs in ``data`` to where their bytes are.
        """
        message = {
            "op": "call",
            "id": task_id,
            "function": function,
            "input": data,
            "metadata": metadata,
            "files": files,
        }
        return await self._request(message)

    def cancel(self, task_id: str) -> None:
        """Ask the app to stop the running call (CancelledError inside the app)."""
        self._send({"op": "cancel", "id": task_id})

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.dead:
            raise WorkerError("worker is gone", fatal=True)
        self._waiter = asyncio.get_running_loop().create_future()
        self._send(message)
        return await self._waiter

    def _send(self, message: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None or self.dead:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def _resolve(self, event: dict[str, Any]) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(event)

    async def _read_events(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        overrun = False
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                # The worker checks its outputs against the limit; a line this long means it
                # could not, and the rest of its stream cannot be trusted.
                overrun = True
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                break
            if not line:
                break
            try:
                event: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            kind = event.get("ev")
            if kind == "log":
                if self.on_log is not None:
                    self.on_log(str(event.get("phase")), str(event.get("text")))
            elif kind == "progress":
                if self.on_progress is not None:
                    self.on_progress(event.get("output"))
            elif kind == "running":
                if self.on_running is not None:
                    self.on_running()
            else:
                self._resolve(event)
        code = await self.proc.wait()
        await asyncio.gather(*self._readers[1:], return_exceptions=True)
        self.dead = True
        if self._waiter is not None and not self._waiter.done():
            tail = "".join(self._stderr_tail).strip().splitlines()[-1:] or [""]
            reason = f"worker process exited with code {code}"
            if overrun:
                reason = (
                    "the worker sent a message over the output limit of"
                    f" {self.limits.max_output_bytes} bytes and was stopped"
                )
            elif tail[0]:
                reason += f": {tail[0]}"
            if code and code < 0 and self.limits.memory_mb and not overrun:
                reason += f" (the worker memory limit is {self.limits.memory_mb} MB)"
            self._waiter.set_exception(WorkerError(reason, fatal=True))

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        stream = self.proc.stderr
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            text = line.decode(errors="replace")
            self._stderr_tail.append(text)
            if self.on_log is not None:
                self.on_log("stderr", text)

    async def stop(self) -> None:
        """Ask the worker to unload and exit; kill it if it does not."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            self._send({"op": "shutdown"})
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE_SECONDS)
            except asyncio.TimeoutError:
                await self.kill()
        for reader in self._readers:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(reader, _STOP_GRACE_SECONDS)
        self.dead = True

    async def kill(self) -> None:
        """Kill the process now (a hung app) and reap it."""
        proc = self.proc
        self.dead = True
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), _STOP_GRACE_SECONDS)


class WorkerPool:
    """Warm workers per (app, setup), at most ``max_workers`` processes."""

    def __init__(
        self,
        *,
        max_workers: int,
        idle_ttl: float = 600.0,
        env: dict[str, str] | None = None,
        limits: WorkerLimits | None = None,
    ) -> None:
        self.max_workers = max_workers
        self.limits = limits or WorkerLimits()
        self.idle_ttl = idle_ttl
        self.env = env or {}
        self._idle: dict[tuple[str, str], list[Worker]] = {}
        self._live: set[Worker] = set()
        self._waiting: collections.Counter[tuple[str, str]] = collections.Counter()
        self._stopping: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._closed = False

    def _key(self, spec: AppSpec, setup_key: str) -> tuple[str, str]:
        return (spec.key, setup_key)

    async def acquire(self, spec: AppSpec, setup_key: str, *, fresh: bool = False) -> Worker:
        """A warm worker for this app and setup, or a new one (not started, not set up).

        ``fresh``: always a new process (a session must not inherit what earlier tasks left in
        a warm worker's memory); idle workers of the same app are then evicted like any other.
        """
        key = self._key(spec, setup_key)
        async with self._changed:
            self._waiting[key] += 1
            try:
                while True:
                    if self._closed:
                        raise WorkerError("the runtime is shutting down", fatal=True)
                    idle = None if fresh else self._idle.get(key)
                    while idle:
                        worker = idle.pop()
                        if not worker.dead:
                            return worker
                        self._live.discard(worker)
                    if len(self._live) < self.max_workers:
                        break
                    victim = self._evictable(key if fresh else None)
                    if victim is not None:
                        self._take_idle(victim)
                        self._stop_later(victim)
                        break
                    await self._changed.wait()
            finally:
                self._waiting[key] -= 1
            worker = Worker(spec, setup_key, self.limits)
            self._live.add(worker)
            return worker

    def _evictable(self, fresh_key: tuple[str, str] | None = None) -> Worker | None:
        """The least recently used idle worker that no waiting task could use instead."""
        idle = [
            worker
            for key, workers in self._idle.items()
            if self._waiting[key] == 0 or key == fresh_key
            for worker in workers
        ]
        return min(idle, key=lambda w: w.idle_since, default=None)

    def _stop_later(self, worker: Worker) -> None:
        task = asyncio.create_task(worker.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def start(self, worker: Worker) -> None:
        """Spawn a worker acquired fresh from the pool."""
        await worker.start(self.env)

    def _take_idle(self, worker: Worker) -> None:
        key = self._key(worker.spec, worker.setup_key)
        if worker in self._idle.get(key, []):
            self._idle[key].remove(worker)
        self._live.discard(worker)

    async def release(self, worker: Worker, *, reuse: bool = True) -> None:
        """Return a worker after a task: kept warm when ``reuse`` and healthy, else stopped."""
        key = self._key(worker.spec, worker.setup_key)
        # Idle workers stay warm (at most max_workers processes exist); acquire() evicts the
        # least recently used one when another app needs the room, reap_idle() the stale ones.
        keep = reuse and not self._closed and worker.ready and not worker.dead
        worker.on_log = worker.on_progress = None
        worker.on_running = None
        async with self._changed:
            if keep:
                worker.idle_since = time.monotonic()
                self._idle.setdefault(key, []).append(worker)
            else:
                self._live.discard(worker)
            self._changed.notify_all()
        if not keep:
            await worker.stop()

    async def discard(self, worker: Worker) -> None:
        """Kill a worker that must not be reused (crashed, hung, cancelled mid-call)."""
        async with self._changed:
            self._live.discard(worker)
            self._changed.notify_all()
        await worker.kill()

    async def reap_idle(self) -> None:
        """Stop workers idle for longer than ``idle_ttl`` and forget dead ones."""
        now = time.monotonic()
        stale: list[Worker] = []
        async with self._changed:
            for workers in self._idle.values():
                for worker in list(workers):
                    if worker.dead or now - worker.idle_since > self.idle_ttl:
                        workers.remove(worker)
                        self._live.discard(worker)
                        stale.append(worker)
            if stale:
                self._changed.notify_all()
        for worker in stale:
            await worker.stop()

    def live_pids(self) -> list[int]:
        """Process ids of the workers alive now (for tests and diagnostics)."""
        return [w.pid for w in self._live if w.pid is not None and not w.dead]

    async def close(self) -> None:
        """Stop every worker."""
        async with self._changed:
            self._closed = True
            workers = list(self._live)
            self._live.clear()
            self._idle.clear()
            self._changed.notify_all()
        await asyncio.gather(*(w.stop() for w in workers), *self._stopping, return_exceptions=True)
