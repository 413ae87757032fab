"""Tasks: validate a run, play its lifecycle on a worker, and keep its record and live updates."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast

from inferencesh._generated.models import (
    ApiAppRunRequest,
    DeleteTaskFilesResponse,
    ResourceStatusDTO,
    TaskDTO,
    TaskEvent,
    TaskFileDTO,
    TaskFileRole,
    TaskLog,
    TaskLogsDTO,
    TaskLogType,
    TaskResultDTO,
    TaskStatus,
)
from inferencesh._runtime import CursorListResponse
from inferencesh.local._apps import Apps, app_id, version_id
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._errors import ApiError
from inferencesh.local._fanout import END, Subscribers, broadcast, new_queue
from inferencesh.local._files import Files
from inferencesh.local._listing import list_query, page
from inferencesh.local._records import LOCAL_USER, TERMINAL, header, new_id, now, parse
from inferencesh.local._registry import AppSpec
from inferencesh.local._sessions import LiveSession, Sessions
from inferencesh.local._store import Store
from inferencesh.local._webhooks import Webhooks
from inferencesh.local._worker_pool import Worker, WorkerError, WorkerPool

__all__ = ["Tasks"]

_TEXT_FIELDS = ("response", "reasoning")
_SEARCHABLE = ("id", "app_id", "function", "error")
_LOG_LIMIT = 1 << 20


@dataclass
class _LiveTask:
    dto: TaskDTO
    spec: AppSpec
    session: LiveSession | None
    origin: str
    subscribers: Subscribers = field(default_factory=lambda: set())
    worker: Worker | None = None
    runner: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    delta_seq: int = 0
    logs: dict[int, bytearray] = field(default_factory=lambda: {})
    logs_dirty: bool = False
    deleted: bool = False


def _text_delta(previous: dict[str, Any], output: Any) -> dict[str, str] | None:
    """The appended text when ``output`` only extends text fields of ``previous``, else None."""
    if not isinstance(output, dict):
        return None
    current = cast(dict[str, Any], output)
    delta: dict[str, str] = {}
    for key in set(previous) | set(current):
        old, new = previous.get(key), current.get(key)
        if old == new:
            continue
        if key in _TEXT_FIELDS and isinstance(new, str) and isinstance(old, (str, type(None))):
            prefix = old or ""
            if new.startswith(prefix):
                delta[key] = new[len(prefix) :]
                continue
        return None
    return delta or None


def _role(role: str | None) -> TaskFileRole | None:
    if role is None or role == "":
        return None
    if role not in ("input", "output"):
        raise ApiError(400, "validation_error", f"role: {role!r} is not 'input' or 'output'")
    return TaskFileRole(role)


def _event(task_id: str, status: TaskStatus, when: datetime) -> TaskEvent:
    return TaskEvent(id=new_id(), created_at=when, event_time=when, task_id=task_id, status=status)


class Tasks:
    """The tasks of one runtime: running ones in memory, every record in the store."""

    def __init__(
        self,
        store: Store,
        pool: WorkerPool,
        apps: Apps,
        sessions: Sessions,
        files: Files,
        webhooks: Webhooks,
        config: RuntimeConfig,
    ) -> None:
        self.store = store
        self.webhooks = webhooks
        self.pool = pool
        self.apps = apps
        self.sessions = sessions
        self.files = files
        self.config = config
        self.live: dict[str, _LiveTask] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._watchdogs: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    def recover(self) -> None:
        """Tasks a previous run left unfinished can never finish now."""
        for data in self.store.open_records("tasks"):
            task = TaskDTO.model_validate(data)
            if task.status not in TERMINAL:
                task.status = TaskStatus.FAILED
                task.error = "the local runtime stopped before the task finished"
                task.updated_at = now()
                self.store.put("tasks", task.id, task.model_dump(mode="json", exclude_unset=True))

    async def close(self) -> None:
        """Stop every running task and wait until each has released its worker."""
        for task in [*self._watchdogs, *(live.runner for live in self.live.values())]:
            if task is not None:
                task.cancel()
        # Also the runners of tasks that already ended but are still releasing their worker.
        await asyncio.gather(*self._background, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for the last background work (after sessions and workers are stopped)."""
        await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------------ requests

    def create(self, body: Any, origin: str | None = None) -> TaskResultDTO:
        """Validate a run request, record the task and start it.

        ``origin``: where the caller reaches this runtime, for the URLs of the output files.
        """
        request = parse(ApiAppRunRequest, body)
        if not request.app:
            raise ApiError(400, "validation_error", "app: required (namespace/name)")
        spec, named_function = self.apps.resolve(request.app)
        session_value = request.session or None
        if request.session_timeout is not None:
            if session_value != "new":
                raise ApiError(
                    400, "validation_error", 'session_timeout is only valid with session "new"'
                )
        self.apps.check_secrets(spec)
        if request.webhook:
            self.webhooks.policy.check(request.webhook)
        run_at = request.run_at
        if run_at is not None and run_at.tzinfo is None:
            run_at = run_at.replace(tzinfo=timezone.utc)  # ISO 8601 without an offset: UTC
        function = request.function or named_function
        if function is None:
            function = self.apps.default_function(spec)
        setup = request.setup
        session = None
        if session_value == "new":
            session = self.sessions.new(spec, setup, request.session_timeout)
        elif session_value is not None:
            session = self.sessions.use(session_value, spec)
            setup = session.setup
        stamp = now()
        task_id = new_id()
        dto = TaskDTO.model_validate(
            {
                **header(task_id, stamp),
                "app_id": app_id(spec),
                "app_version_id": version_id(spec),
                "engine_public_key": None,
                "user_public_key": None,
                "events": [],
                "function": function,
                "infra": request.infra or "cloud",
                "input": request.input if request.input is not None else {},
                "is_featured": False,
                "logs": [],
                "output": None,
                "rating": "unrated",
                "status": TaskStatus.RECEIVED,
                "usage_events": [],
                "workers": request.workers or [],
                "setup": setup,
                "session_id": session.dto.id if session else None,
                "session_timeout": request.session_timeout,
                "webhook": request.webhook,
                "run_at": run_at,
            }
        )
        if request.variant is not None:
            dto.app_variant = request.variant
        dto.events = [_event(task_id, TaskStatus.RECEIVED, stamp)]
        if session is not None and session.dto.task_id is None:
            session.dto.task_id = task_id
            self.sessions.save(session)
        origin = origin or self.config.public_url or self.config.base_url
        self.files.note_origin(origin)
        live = _LiveTask(dto=dto, spec=spec, session=session, origin=origin)
        self.live[task_id] = live
        self._save(live)
        live.runner = self._spawn(self._execute(live))
        return TaskResultDTO.model_validate(
            {
                "id": task_id,
                "short_id": dto.short_id,
                "status": dto.status,
                "status_text": dto.status.name.lower(),
                "output": None,
                "error": None,
                "session_id": dto.session_id,
                "created_at": stamp,
                "updated_at": stamp,
                "run_at": dto.run_at,
            }
        )

    def get(self, task_id: str) -> TaskDTO:
        """A task from memory (running) or the store (finished)."""
        live = self.live.get(task_id)
        if live is not None and not live.deleted:
            return live.dto
        data = self.store.get("tasks", task_id)
        if data is None:
            raise ApiError(404, "not_found", f"task {task_id} not found")
        return self._stored(data)

    def _stored(self, data: dict[str, Any]) -> TaskDTO:
        task = TaskDTO.model_validate(data)
        if task.output is not None:
            task.output = self.files.refresh_uris(task.output)
        return task

    def list_page(self, body: Any) -> CursorListResponse[TaskDTO]:
        """``POST /tasks/list``: one page of tasks, newest first (running ones as they are now)."""
        query = list_query(body)

        def current(rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, Any]]:
            for position, data in rows:
                live = self.live.get(str(data.get("id")))
                if live is not None and not live.deleted:
                    data = live.dto.model_dump(mode="json", exclude_unset=True)
                yield position, data

        batch = 64 if query.selective else query.limit + 1
        rows = self.store.rows("tasks", after=query.after, ascending=query.ascending, batch=batch)
        return page(current(rows), query, self._stored, _SEARCHABLE)

    def files_of(self, task_id: str, role: str | None) -> list[TaskFileDTO]:
        """``GET /tasks/{id}/files``: the files of this runtime a task read and wrote."""
        task = self.get(task_id)
        return self.files.task_files(task.input, task.output, _role(role))

    def delete_files(self, task_id: str, role: str | None) -> DeleteTaskFilesResponse:
        """``DELETE /tasks/{id}/files``: delete them (not while the task runs)."""
        task = self.get(task_id)
        files = self.files.task_files(task.input, task.output, _role(role))
        if task.status not in TERMINAL:
            skipped = [{"id": f.id, "reason": "the task is still running"} for f in files]
            return DeleteTaskFilesResponse.model_validate({"deleted": [], "skipped": skipped})
        return self.files.delete_all(files)

    def logs(self, task_id: str) -> TaskLogsDTO:
        """``GET /tasks/{id}/logs``: the task's logs (base64 content) and status events."""
        live = self.live.get(task_id)
        if live is not None:
            self._flush_logs(live)
        task = self.get(task_id)
        return TaskLogsDTO(task_id=task.id, status=task.status, events=task.events, logs=task.logs)

    def status(self, task_id: str) -> ResourceStatusDTO:
        """Only id, status and update time."""
        task = self.get(task_id)
        return ResourceStatusDTO(id=task.id, status=int(task.status), updated_at=task.updated_at)

    def delete(self, task_id: str, *, files: bool = False) -> None:
        """Forget a task (a running one is cancelled first); ``files``: also its files."""
        task = self.get(task_id)
        live = self.live.get(task_id)
        if live is not None:
            live.deleted = True
            self.cancel(task_id)
        if files:
            self.files.delete_all(self.files.task_files(task.input, task.output, None))
        self.store.delete("tasks", task_id)

    def subscribe(
        self, task_id: str
    ) -> tuple[dict[str, Any], asyncio.Queue[dict[str, Any]] | None]:
        """The task's snapshot now, and a queue of its later updates (None if it has ended)."""
        live = self.live.get(task_id)
        if live is None or live.dto.status in TERMINAL:
            return self.get(task_id).model_dump(mode="json", exclude_unset=True), None
        queue = new_queue()
        live.subscribers.add(queue)
        self._flush_logs(live)
        return live.dto.model_dump(mode="json", exclude_unset=True), queue

    def unsubscribe(self, task_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering updates to ``queue``."""
        live = self.live.get(task_id)
        if live is not None:
            live.subscribers.discard(queue)

    def cancel(self, task_id: str) -> None:
        """Cancel a task: a queued one at once, a running one through its app."""
        task = self.get(task_id)
        live = self.live.get(task_id)
        if live is None or task.status in TERMINAL or live.cancel_requested:
            return
        live.cancel_requested = True
        worker = live.worker
        if worker is None or not worker.ready or task.status < TaskStatus.RUNNING:
            if live.runner is not None:
                live.runner.cancel()
            return
        self._update(live, status=TaskStatus.CANCELLING)
        worker.cancel(task_id)
        watchdog = self._spawn(self._kill_if_stuck(live, worker))
        self._watchdogs.add(watchdog)
        watchdog.add_done_callback(self._watchdogs.discard)

    async def _kill_if_stuck(self, live: _LiveTask, worker: Worker) -> None:
        await asyncio.sleep(self.config.cancel_grace)
        if live.dto.status not in TERMINAL and live.worker is worker:
            # The app ignored the cancellation (blocking code); only killing it stops it.
            await worker.kill()

    # ------------------------------------------------------------------ records and updates

    def _save(self, live: _LiveTask) -> None:
        if live.deleted:
            return
        data = live.dto.model_dump(mode="json", exclude_unset=True)
        self.store.put("tasks", live.dto.id, data, open=live.dto.status not in TERMINAL)

    def _update(self, live: _LiveTask, **changes: Any) -> None:
        """Apply changes, record a status event, and send a partial update."""
        dto = live.dto
        stamp = now()
        self._flush_logs(live, send=False)
        fields = list(changes)
        for key, value in changes.items():
            setattr(dto, key, value)
        if "status" in changes:
            dto.events = [*dto.events, _event(dto.id, changes["status"], stamp)]
            fields += ["events", "logs"]
        dto.updated_at = stamp
        fields.append("updated_at")
        if dto.status in TERMINAL:
            # A running task is read from memory; the store needs it when it starts and ends
            # (a restart turns anything unfinished into a failure anyway).
            self._save(live)
        if dto.status in TERMINAL:
            # The last update carries the whole task: clients that read an update's data as the
            # task without merging it (the official Python SDK) get session_id, input and the rest.
            data = dto.model_dump(mode="json", exclude_unset=True)
        else:
            data = dto.model_dump(mode="json", include=set(fields))
            data["id"] = dto.id
        broadcast(live.subscribers, {"data": data, "fields": fields})

    def _progress(self, live: _LiveTask, output: Any) -> None:
        current: Any = live.dto.output
        previous: dict[str, Any] = (
            cast(dict[str, Any], current) if isinstance(current, dict) else {}
        )
        delta = _text_delta(previous, output)
        live.dto.output = output
        if delta is None:
            self._update(live, output=output)
            return
        live.delta_seq += 1
        live.dto.updated_at = now()
        event = {"delta": delta, "seq": live.delta_seq, "resource_id": live.dto.id}
        broadcast(live.subscribers, {"event": "delta", "data": event})

    def _log(self, live: _LiveTask, phase: str, text: str) -> None:
        kind = TaskLogType.SETUP if phase == "setup" else TaskLogType.TASK
        buffer = live.logs.setdefault(int(kind), bytearray())
        if len(buffer) < _LOG_LIMIT:
            buffer += text.encode()[: _LOG_LIMIT - len(buffer)]
            if not live.logs_dirty:
                live.logs_dirty = True
                asyncio.get_running_loop().call_later(0.05, self._flush_logs, live)

    def _flush_logs(self, live: _LiveTask, send: bool = True) -> None:
        if not live.logs_dirty:
            return
        live.logs_dirty = False
        stamp = now()
        known = {int(log.log_type): log for log in live.dto.logs}
        logs: list[TaskLog] = []
        for kind, buffer in sorted(live.logs.items()):
            old = known.get(kind)
            logs.append(
                TaskLog(
                    id=old.id if old else new_id(),
                    created_at=old.created_at if old else stamp,
                    updated_at=stamp,
                    task_id=live.dto.id,
                    log_type=TaskLogType(kind),
                    content=base64.b64encode(bytes(buffer)).decode(),
                )
            )
        live.dto.logs = logs
        if live.dto.status in TERMINAL:
            # Output written straight to the worker's stderr can arrive after the task ended.
            self._save(live)
        elif send:
            data = live.dto.model_dump(mode="json", include={"logs"})
            data["id"] = live.dto.id
            broadcast(live.subscribers, {"data": data, "fields": ["logs"]})

    # ------------------------------------------------------------------ running

    def _metadata(self, live: _LiveTask, worker: Worker) -> dict[str, Any]:
        return {
            "app_id": live.dto.app_id,
            "app_version_id": live.dto.app_version_id,
            "worker_id": worker.id,
            "task_id": live.dto.id,
            "team_id": LOCAL_USER,
            "user_id": LOCAL_USER,
        }

    async def _acquire(self, live: _LiveTask) -> Worker:
        setup_key = json.dumps(live.dto.setup, sort_keys=True, default=str)
        if live.session is not None:
            return await self.sessions.worker_for(live.session, live.spec, setup_key)
        return await self.pool.acquire(live.spec, setup_key)

    async def _execute(self, live: _LiveTask) -> None:
        session = live.session
        lock = session.lock if session is not None else None
        try:
            await self._wait_for_run_at(live)
            if lock is not None:
                await lock.acquire()
            await self._run(live)
        except asyncio.CancelledError:
            if live.cancel_requested:
                self._finish(live, TaskStatus.CANCELLED, error="task cancelled")
            else:
                self._finish(live, TaskStatus.FAILED, error="the local runtime stopped")
        except Exception as exc:  # a bug here must fail the task, not hang its clients
            self._finish(live, TaskStatus.FAILED, error=f"internal error: {exc}")
        finally:
            if lock is not None and lock.locked():
                lock.release()
            await self._after(live)

    async def _wait_for_run_at(self, live: _LiveTask) -> None:
        """A task with a future ``run_at`` stays RECEIVED until then (a cancel ends the wait)."""
        run_at = live.dto.run_at
        if run_at is None:
            return
        while (delay := (run_at - now()).total_seconds()) > 0:
            # In steps, so a clock set forward while waiting is noticed.
            await asyncio.sleep(min(delay, 60.0))

    async def _run(self, live: _LiveTask) -> None:
        self._update(live, status=TaskStatus.QUEUED)
        try:
            worker = await self._acquire(live)
        except WorkerError as exc:
            self._finish(live, TaskStatus.FAILED, error=str(exc))
            return
        live.worker = worker
        worker.on_log = lambda phase, text: self._log(live, phase, text)
        worker.on_progress = lambda output: self._progress(live, output)
        worker.on_running = lambda: self._update(live, status=TaskStatus.RUNNING)
        self._update(live, status=TaskStatus.DISPATCHED, worker_id=worker.id)
        try:
            if worker.proc is None:
                self._update(live, status=TaskStatus.PREPARING)
                await self.pool.start(worker)
                self.apps.describes[live.spec.key] = worker.describe
                if live.dto.function == "run" and "run" not in worker.describe.get("functions", {}):
                    live.dto.function = str(worker.describe.get("default_function") or "run")
            if not worker.ready:
                self._update(live, status=TaskStatus.SETTING_UP)
                await worker.setup(live.dto.setup, self._metadata(live, worker))
            call = worker.call(
                live.dto.id,
                live.dto.function,
                live.dto.input,
                self._metadata(live, worker),
                self.files.uploads_in(live.dto.input),
            )
            if self.config.task_timeout is not None:
                try:
                    reply = await asyncio.wait_for(call, self.config.task_timeout)
                except asyncio.TimeoutError:
                    await worker.kill()
                    raise WorkerError(
                        f"task timed out after {self.config.task_timeout:g} s", fatal=True
                    ) from None
            else:
                reply = await call
        except WorkerError as exc:
            if live.cancel_requested:
                self._finish(live, TaskStatus.CANCELLED, error="task cancelled")
            else:
                self._finish(live, TaskStatus.FAILED, error=str(exc))
            return
        except asyncio.CancelledError:
            # Cancelled while starting or setting up: that worker's state is unknown.
            await worker.kill()
            raise
        event = reply.get("ev")
        if event == "done":
            output = reply.get("output")
            listed: list[Any] = list(reply.get("files") or [])
            files = [str(path) for path in listed]
            if files:
                self._update(live, status=TaskStatus.UPLOADING)
                output = await self.files.store_outputs(output, set(files), live.origin)
            self._finish(live, TaskStatus.COMPLETED, output=output)
        elif event == "cancelled":
            self._finish(live, TaskStatus.CANCELLED, error="task cancelled")
        else:
            if reply.get("fatal"):
                worker.dead = True
            self._finish(live, TaskStatus.FAILED, error=str(reply.get("error") or "task failed"))

    def _finish(
        self, live: _LiveTask, status: TaskStatus, *, output: Any = None, error: str | None = None
    ) -> None:
        if live.dto.status in TERMINAL:
            return
        changes: dict[str, Any] = {"status": status, "error": error}
        if status == TaskStatus.COMPLETED:
            changes["output"] = output
        elif live.dto.output is not None:
            changes["output"] = live.dto.output
        live.logs_dirty = live.logs_dirty or bool(live.logs)
        self._update(live, **changes)
        broadcast(live.subscribers, END)

    async def _after(self, live: _LiveTask) -> None:
        if live.dto.webhook and not live.deleted:
            self.webhooks.send(
                live.dto.webhook, live.dto.model_dump(mode="json", exclude_unset=True)
            )
        self.live.pop(live.dto.id, None)
        live.subscribers.clear()
        worker, session = live.worker, live.session
        live.worker = None
        if session is not None:
            await self.sessions.call_done(session, worker)
            return
        if worker is not None and worker.proc is not None:
            if worker.dead:
                await self.pool.discard(worker)
            else:
                await self.pool.release(worker, reuse=not live.cancel_requested)
        elif worker is not None:
            await self.pool.release(worker, reuse=False)
