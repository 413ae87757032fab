"""The runtime's core: tasks and their lifecycle, sessions, files. No HTTP here.

Records are the generated wire models (``TaskDTO``, ``AppSessionDTO``, ``FileDTO``); the HTTP
layer only wraps them in envelopes. Everything runs on one event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from inferencesh._generated.models import (
    ApiAppRunRequest,
    AppDTO,
    AppSessionDTO,
    AppSessionStatus,
    AppVersionDTO,
    FileCreateRequest,
    FileDTO,
    RequirementError,
    ResourceStatusDTO,
    TaskDTO,
    TaskEvent,
    TaskLog,
    TaskLogType,
    TaskResultDTO,
    TaskStatus,
)
from inferencesh.local._builtin import BUILTIN_APPS
from inferencesh.local._errors import ApiError
from inferencesh.local._registry import AppSpec, Registry, parse_ref
from inferencesh.local._store import Store
from inferencesh.local._workers import Worker, WorkerError, WorkerPool

__all__ = ["END", "Engine", "EngineConfig", "broadcast"]

TERMINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.REJECTED}
LOCAL_USER = "local"
_TEXT_FIELDS = ("response", "reasoning")
_LOG_LIMIT = 1 << 20
_SUBSCRIBER_BACKLOG = 10_000
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")

# Sentinel a subscriber queue receives when the task has ended.
END: dict[str, Any] = {}


def broadcast(subscribers: set[asyncio.Queue[dict[str, Any]]], message: dict[str, Any]) -> None:
    """Queue ``message`` for every stream reader; a reader too far behind is ended."""
    for queue in list(subscribers):
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            # A reader this far behind reconnects and starts from a fresh snapshot.
            subscribers.discard(queue)
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(END)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return uuid.uuid4().hex[:24]


def _stable_id(prefix: str, text: str) -> str:
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def app_id(spec: AppSpec) -> str:
    """The id an app has on this runtime (stable across restarts)."""
    return _stable_id("app_", spec.ref)


def _version_id(spec: AppSpec) -> str:
    return _stable_id("ver_", f"{spec.ref}\0{spec.target}")


def _owner() -> dict[str, Any]:
    return {"user_id": LOCAL_USER, "team_id": LOCAL_USER, "visibility": "private"}


@dataclass
class EngineConfig:
    """Settings of one runtime."""

    data_dir: Path | None = None
    files_dir: Path = Path(".")
    base_url: str = "http://127.0.0.1"
    max_workers: int = 4
    session_timeout: int = 60
    cancel_grace: float = 3.0
    task_timeout: float | None = None
    max_upload_bytes: int = 1 << 30
    worker_idle_ttl: float = 600.0
    secrets: dict[str, str] = field(default_factory=lambda: {})
    # The platform refuses tool approvals made with an API key (403 requires_sign_in); the local
    # runtime allows them by default so the documented approval flow works offline.
    allow_key_approvals: bool = True
    agent_tool_timeout: float = 600.0
    agent_token_delay: float = 0.02


@dataclass
class _Session:
    dto: AppSessionDTO
    spec: AppSpec
    setup: Any
    timeout: int
    worker: Worker | None = None
    busy: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _LiveTask:
    dto: TaskDTO
    spec: AppSpec
    session: _Session | None
    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=lambda: set())
    worker: Worker | None = None
    runner: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    delta_seq: int = 0
    logs: dict[int, bytearray] = field(default_factory=lambda: {})
    logs_dirty: bool = False
    deleted: bool = False


class Engine:
    """Tasks, sessions and files of one local runtime."""

    def __init__(self, registry: Registry, config: EngineConfig) -> None:
        self.registry = registry
        self.config = config
        db = None if config.data_dir is None else config.data_dir / "runtime.sqlite3"
        self.store = Store(db)
        config.files_dir.mkdir(parents=True, exist_ok=True)
        self.pool = WorkerPool(
            max_workers=config.max_workers, idle_ttl=config.worker_idle_ttl, env=config.secrets
        )
        self.tasks: dict[str, _LiveTask] = {}
        self.sessions: dict[str, _Session] = {}
        self.describes: dict[str, dict[str, Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._watchdogs: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._recover()

    # ------------------------------------------------------------------ lifecycle

    def _recover(self) -> None:
        """Tasks and sessions a previous run left unfinished can never finish now."""
        for data in self.store.all("tasks"):
            task = TaskDTO.model_validate(data)
            if task.status not in TERMINAL:
                task.status = TaskStatus.FAILED
                task.error = "the local runtime stopped before the task finished"
                task.updated_at = _now()
                self.store.put("tasks", task.id, task.model_dump(mode="json", exclude_unset=True))
        for data in self.store.all("sessions"):
            session = AppSessionDTO.model_validate(data)
            if session.status == AppSessionStatus.ACTIVE:
                session.status = AppSessionStatus.ENDED
                session.ended_at = _now()
                self.store.put(
                    "sessions", session.id, session.model_dump(mode="json", exclude_unset=True)
                )

    async def start(self) -> None:
        """Start background maintenance (session expiry, idle worker reaping)."""
        self._maintenance = asyncio.create_task(self._maintain())

    async def close(self) -> None:
        """Stop tasks, sessions and every worker."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        for task in [*self._watchdogs, *(live.runner for live in self.tasks.values())]:
            if task is not None:
                task.cancel()
        # Also the runners of tasks that already ended but are still releasing their worker.
        await asyncio.gather(*self._background, return_exceptions=True)
        for session in list(self.sessions.values()):
            await self._close_session(session, AppSessionStatus.ENDED)
        await self.pool.close()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.store.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _maintain(self) -> None:
        last_reap = time.monotonic()
        while True:
            await asyncio.sleep(0.2)
            now = _now()
            for session in list(self.sessions.values()):
                if (
                    session.dto.status == AppSessionStatus.ACTIVE
                    and session.busy == 0
                    and session.dto.expires_at <= now
                ):
                    await self._close_session(session, AppSessionStatus.EXPIRED)
            if time.monotonic() - last_reap > 5:
                last_reap = time.monotonic()
                await self.pool.reap_idle()

    # ------------------------------------------------------------------ apps

    def _spec(self, ref: str) -> AppSpec:
        spec = self.registry.get(ref)
        if spec is None:
            raise ApiError(404, "not_found", f"App not found: {ref}")
        return spec

    async def describe(self, spec: AppSpec) -> dict[str, Any]:
        """The app's schemas, from a worker (the runtime never imports app code itself)."""
        cached = self.describes.get(spec.ref)
        if cached is not None:
            return cached
        worker = Worker(spec, "")
        try:
            await worker.start(self.config.secrets)
        except WorkerError as exc:
            raise ApiError(422, "invalid_request", f"cannot load {spec.ref}: {exc}") from None
        finally:
            await worker.stop()
        self.describes[spec.ref] = worker.describe
        return worker.describe

    def _app_dto(self, spec: AppSpec, describe: dict[str, Any]) -> AppDTO:
        now = _now()
        functions: dict[str, Any] = dict(describe.get("functions") or {})
        version = AppVersionDTO.model_validate(
            {
                "id": _version_id(spec),
                "short_id": _version_id(spec)[4:12],
                "created_at": now,
                "updated_at": now,
                "env": {},
                "kernel": "python",
                "metadata": {},
                "repository": spec.target,
                "resources": {},
                "input_schema": describe.get("input_schema") or {},
                "output_schema": describe.get("output_schema") or {},
                "setup_schema": describe.get("setup_schema") or {},
                "functions": functions,
                "default_function": describe.get("default_function"),
                "required_secrets": [{"key": key, "optional": False} for key in spec.secrets]
                + [{"key": key, "optional": True} for key in spec.optional_secrets],
            }
        )
        return AppDTO.model_validate(
            {
                "id": app_id(spec),
                "short_id": app_id(spec)[4:12],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "namespace": spec.namespace,
                "name": spec.name,
                "title": spec.name,
                "description": str(spec.config.get("description") or ""),
                "agent_description": "",
                "category": str(spec.config.get("category") or "other"),
                "images": {},
                "status": "active",
                "version_id": version.id,
                "version": version,
            }
        )

    async def get_app(self, namespace: str, name: str) -> AppDTO:
        """An app by ``namespace/name``, with its input and output JSON schemas."""
        spec = self._spec(f"{namespace}/{name}")
        return self._app_dto(spec, await self.describe(spec))

    async def get_app_by_id(self, app_id_: str) -> AppDTO:
        """An app by its id."""
        for ref in self.registry.refs():
            spec = self._spec(ref)
            if app_id(spec) == app_id_:
                return self._app_dto(spec, await self.describe(spec))
        raise ApiError(404, "not_found", f"App not found: {app_id_}")

    def delete_app(self, app_id_: str) -> None:
        """Unregister a user app (built-in ones stay)."""
        for ref in self.registry.refs():
            if app_id(self._spec(ref)) == app_id_:
                if ref in BUILTIN_APPS:
                    raise ApiError(403, "forbidden", f"{ref} is built in and cannot be deleted")
                self.registry.remove(ref)
                self.describes.pop(ref, None)
                return
        raise ApiError(404, "not_found", f"App not found: {app_id_}")

    def _check_secrets(self, spec: AppSpec) -> None:
        missing = [
            key for key in spec.secrets if key not in self.config.secrets and key not in os.environ
        ]
        if missing:
            errors = [
                RequirementError.model_validate(
                    {
                        "type": "secret",
                        "key": key,
                        "message": f"secret {key} is required by {spec.ref} but is not set",
                        "action": {"type": "add_secret", "secrets": [key]},
                    }
                ).model_dump(mode="json", exclude_none=True)
                for key in missing
            ]
            raise ApiError(
                412, "requirements_not_met", errors[0]["message"], extra={"errors": errors}
            )

    # ------------------------------------------------------------------ tasks

    def create_task(self, body: Any) -> TaskResultDTO:
        """Validate a run request, record the task and start it."""
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "the request body must be a JSON object")
        try:
            request = ApiAppRunRequest.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, "validation_error", _validation_detail(exc)) from None
        if not request.app:
            raise ApiError(400, "validation_error", "app: required (namespace/name)")
        spec = self._spec(request.app)
        session_value = request.session or None
        if request.session_timeout is not None:
            if session_value != "new":
                raise ApiError(
                    400, "validation_error", 'session_timeout is only valid with session "new"'
                )
            if not 1 <= request.session_timeout <= 3600:
                raise ApiError(
                    400, "validation_error", "session_timeout must be between 1 and 3600 seconds"
                )
        self._check_secrets(spec)
        function = request.function or parse_ref(request.app)[1]
        if function is None:
            function = str(self.describes.get(spec.ref, {}).get("default_function") or "run")
        setup = request.setup
        session = None
        if session_value == "new":
            session = self._new_session(spec, setup, request.session_timeout)
        elif session_value is not None:
            session = self._use_session(session_value, spec)
            setup = session.setup
        now = _now()
        task_id = _new_id()
        dto = TaskDTO.model_validate(
            {
                "id": task_id,
                "short_id": task_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "app_id": app_id(spec),
                "app_version_id": _version_id(spec),
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
                "run_at": request.run_at,
            }
        )
        if request.variant is not None:
            dto.app_variant = request.variant
        dto.events = [self._event(task_id, TaskStatus.RECEIVED, now)]
        if session is not None and session.dto.task_id is None:
            session.dto.task_id = task_id
            self._save_session(session)
        live = _LiveTask(dto=dto, spec=spec, session=session)
        self.tasks[task_id] = live
        self._save_task(live)
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
                "created_at": now,
                "updated_at": now,
                "run_at": dto.run_at,
            }
        )

    def get_task(self, task_id: str) -> TaskDTO:
        """A task from memory (running) or the store (finished)."""
        live = self.tasks.get(task_id)
        if live is not None and not live.deleted:
            return live.dto
        data = self.store.get("tasks", task_id)
        if data is None:
            raise ApiError(404, "not_found", f"task {task_id} not found")
        return TaskDTO.model_validate(data)

    def task_status(self, task_id: str) -> ResourceStatusDTO:
        """Only id, status and update time."""
        task = self.get_task(task_id)
        return ResourceStatusDTO(id=task.id, status=int(task.status), updated_at=task.updated_at)

    def delete_task(self, task_id: str) -> None:
        """Forget a finished task (a running one is cancelled first)."""
        self.get_task(task_id)
        live = self.tasks.get(task_id)
        if live is not None:
            live.deleted = True
            self.cancel_task(task_id)
        self.store.delete("tasks", task_id)

    def subscribe(
        self, task_id: str
    ) -> tuple[dict[str, Any], asyncio.Queue[dict[str, Any]] | None]:
        """The task's snapshot now, and a queue of its later updates (None if it has ended)."""
        live = self.tasks.get(task_id)
        if live is None or live.dto.status in TERMINAL:
            return self.get_task(task_id).model_dump(mode="json", exclude_unset=True), None
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_SUBSCRIBER_BACKLOG)
        live.subscribers.add(queue)
        self._flush_logs(live)
        return live.dto.model_dump(mode="json", exclude_unset=True), queue

    def unsubscribe(self, task_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering updates to ``queue``."""
        live = self.tasks.get(task_id)
        if live is not None:
            live.subscribers.discard(queue)

    def cancel_task(self, task_id: str) -> None:
        """Cancel a task: a queued one at once, a running one through its app."""
        task = self.get_task(task_id)
        live = self.tasks.get(task_id)
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

    def _event(self, task_id: str, status: TaskStatus, when: datetime) -> TaskEvent:
        return TaskEvent(
            id=_new_id(), created_at=when, event_time=when, task_id=task_id, status=status
        )

    def _save_task(self, live: _LiveTask) -> None:
        if live.deleted:
            return
        self.store.put("tasks", live.dto.id, live.dto.model_dump(mode="json", exclude_unset=True))

    def _broadcast(self, live: _LiveTask, message: dict[str, Any]) -> None:
        broadcast(live.subscribers, message)

    def _update(self, live: _LiveTask, **changes: Any) -> None:
        """Apply changes, record a status event, and send a partial update."""
        dto = live.dto
        now = _now()
        self._flush_logs(live, broadcast=False)
        fields = list(changes)
        for key, value in changes.items():
            setattr(dto, key, value)
        if "status" in changes:
            dto.events = [*dto.events, self._event(dto.id, changes["status"], now)]
            fields += ["events", "logs"]
        dto.updated_at = now
        fields.append("updated_at")
        if dto.status in TERMINAL:
            # A running task is read from memory; the store needs it when it starts and ends
            # (a restart turns anything unfinished into a failure anyway).
            self._save_task(live)
        data = dto.model_dump(mode="json", include=set(fields))
        data["id"] = dto.id
        self._broadcast(live, {"data": data, "fields": fields})

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
        live.dto.updated_at = _now()
        event = {"delta": delta, "seq": live.delta_seq, "resource_id": live.dto.id}
        self._broadcast(live, {"event": "delta", "data": event})

    def _log(self, live: _LiveTask, phase: str, text: str) -> None:
        kind = TaskLogType.SETUP if phase == "setup" else TaskLogType.TASK
        buffer = live.logs.setdefault(int(kind), bytearray())
        if len(buffer) < _LOG_LIMIT:
            buffer += text.encode()[: _LOG_LIMIT - len(buffer)]
            if not live.logs_dirty:
                live.logs_dirty = True
                asyncio.get_running_loop().call_later(0.05, self._flush_logs, live)

    def _flush_logs(self, live: _LiveTask, broadcast: bool = True) -> None:
        if not live.logs_dirty:
            return
        live.logs_dirty = False
        now = _now()
        known = {int(log.log_type): log for log in live.dto.logs}
        logs: list[TaskLog] = []
        for kind, buffer in sorted(live.logs.items()):
            old = known.get(kind)
            logs.append(
                TaskLog(
                    id=old.id if old else _new_id(),
                    created_at=old.created_at if old else now,
                    updated_at=now,
                    task_id=live.dto.id,
                    log_type=TaskLogType(kind),
                    content=base64.b64encode(bytes(buffer)).decode(),
                )
            )
        live.dto.logs = logs
        if live.dto.status in TERMINAL:
            # Output written straight to the worker's stderr can arrive after the task ended.
            self._save_task(live)
        elif broadcast:
            data = live.dto.model_dump(mode="json", include={"logs"})
            data["id"] = live.dto.id
            self._broadcast(live, {"data": data, "fields": ["logs"]})

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
        session = live.session
        setup_key = json.dumps(live.dto.setup, sort_keys=True, default=str)
        if session is not None:
            if session.dto.status != AppSessionStatus.ACTIVE:
                raise WorkerError(f"session {session.dto.id} has {session.dto.status.value}")
            if session.worker is not None:
                return session.worker
        worker = await self.pool.acquire(live.spec, setup_key)
        if session is not None:
            session.worker = worker
            session.dto.worker_id = worker.id
            self._save_session(session)
        return worker

    async def _execute(self, live: _LiveTask) -> None:
        session = live.session
        lock = session.lock if session is not None else None
        try:
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
            await self._after_task(live)

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
                self.describes[live.spec.ref] = worker.describe
                if live.dto.function == "run" and "run" not in worker.describe.get("functions", {}):
                    live.dto.function = str(worker.describe.get("default_function") or "run")
            if not worker.ready:
                self._update(live, status=TaskStatus.SETTING_UP)
                await worker.setup(live.dto.setup, self._metadata(live, worker))
            call = worker.call(
                live.dto.id, live.dto.function, live.dto.input, self._metadata(live, worker)
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
                output = await self._store_outputs(output, set(files))
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
        self._broadcast(live, END)

    async def _after_task(self, live: _LiveTask) -> None:
        self.tasks.pop(live.dto.id, None)
        live.subscribers.clear()
        worker, session = live.worker, live.session
        live.worker = None
        if session is not None:
            session.busy -= 1
            now = _now()
            session.dto.call_count += 1
            session.dto.last_call_at = now
            session.dto.expires_at = now + timedelta(seconds=session.timeout)
            self._save_session(session)
            failed_first = session.worker is None or (worker is not None and worker.dead)
            if failed_first:
                await self._close_session(session, AppSessionStatus.ENDED)
            elif session.dto.status != AppSessionStatus.ACTIVE and session.busy == 0:
                await self._release_session_worker(session)
            return
        if worker is not None and worker.proc is not None:
            if worker.dead:
                await self.pool.discard(worker)
            else:
                await self.pool.release(worker, reuse=not live.cancel_requested)
        elif worker is not None:
            await self.pool.release(worker, reuse=False)

    # ------------------------------------------------------------------ sessions

    def _save_session(self, session: _Session) -> None:
        self.store.put(
            "sessions", session.dto.id, session.dto.model_dump(mode="json", exclude_unset=True)
        )

    def _new_session(self, spec: AppSpec, setup: Any, timeout: int | None) -> _Session:
        idle = timeout or self.config.session_timeout
        now = _now()
        session_id = f"sess_{_new_id()}"
        dto = AppSessionDTO.model_validate(
            {
                "id": session_id,
                "short_id": session_id[5:13],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "app_id": app_id(spec),
                "app_version_id": _version_id(spec),
                "worker_id": "",
                "status": AppSessionStatus.ACTIVE,
                "expires_at": now + timedelta(seconds=idle),
                "call_count": 0,
                "idle_timeout": idle,
            }
        )
        session = _Session(dto=dto, spec=spec, setup=setup, timeout=idle, busy=1)
        self.sessions[session_id] = session
        self._save_session(session)
        return session

    def _session_error(self, session_id: str, dto: AppSessionDTO | None) -> ApiError | None:
        if dto is None:
            return ApiError(404, "SESSION_NOT_FOUND", f"session {session_id} not found")
        if dto.status == AppSessionStatus.EXPIRED:
            return ApiError(410, "SESSION_EXPIRED", f"session {session_id} has expired")
        if dto.status != AppSessionStatus.ACTIVE:
            return ApiError(410, "SESSION_ENDED", f"session {session_id} has ended")
        return None

    def _active_session(self, session_id: str) -> _Session:
        session = self.sessions.get(session_id)
        if session is None:
            data = self.store.get("sessions", session_id)
            dto = None if data is None else AppSessionDTO.model_validate(data)
            raise self._session_error(session_id, dto) or ApiError(
                410, "SESSION_ENDED", f"session {session_id} has ended"
            )
        if session.busy == 0 and session.dto.expires_at <= _now():
            self._spawn(self._close_session(session, AppSessionStatus.EXPIRED))
            raise ApiError(410, "SESSION_EXPIRED", f"session {session_id} has expired")
        error = self._session_error(session_id, session.dto)
        if error is not None:
            raise error
        return session

    def _use_session(self, session_id: str, spec: AppSpec) -> _Session:
        session = self._active_session(session_id)
        if session.spec.ref != spec.ref:
            raise ApiError(
                409, "APP_MISMATCH", f"session {session_id} belongs to {session.spec.ref}"
            )
        session.busy += 1
        session.dto.expires_at = _now() + timedelta(seconds=session.timeout)
        return session

    def get_session(self, session_id: str) -> AppSessionDTO:
        """A session record, whatever its status."""
        session = self.sessions.get(session_id)
        if session is not None:
            return session.dto
        data = self.store.get("sessions", session_id)
        if data is None:
            raise ApiError(404, "SESSION_NOT_FOUND", f"session {session_id} not found")
        return AppSessionDTO.model_validate(data)

    def list_sessions(self) -> list[AppSessionDTO]:
        """Every session this runtime knows, oldest first."""
        live = {sid: s.dto for sid, s in self.sessions.items()}
        stored = [AppSessionDTO.model_validate(d) for d in self.store.all("sessions")]
        return [live.get(dto.id, dto) for dto in stored]

    def keepalive(self, session_id: str) -> AppSessionDTO:
        """Reset the idle timer."""
        session = self._active_session(session_id)
        now = _now()
        session.dto.expires_at = now + timedelta(seconds=session.timeout)
        session.dto.updated_at = now
        self._save_session(session)
        return session.dto

    async def end_session(self, session_id: str) -> None:
        """End a session and release its worker."""
        session = self._active_session(session_id)
        await self._close_session(session, AppSessionStatus.ENDED)

    async def _close_session(self, session: _Session, status: AppSessionStatus) -> None:
        if session.dto.status == AppSessionStatus.ACTIVE:
            now = _now()
            session.dto.status = status
            session.dto.ended_at = now
            session.dto.updated_at = now
            self._save_session(session)
        if session.busy == 0:
            await self._release_session_worker(session)

    async def _release_session_worker(self, session: _Session) -> None:
        self.sessions.pop(session.dto.id, None)
        worker, session.worker = session.worker, None
        if worker is not None:
            # Its memory holds the session's state: never hand it to anyone else.
            await self.pool.release(worker, reuse=False)

    # ------------------------------------------------------------------ files

    def _file_uri(self, file_id: str, filename: str) -> str:
        name = urllib.parse.quote(filename or "file")
        return f"{self.config.base_url}/files/{file_id}/content/{name}"

    def _file_path(self, file_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{24}", file_id):
            raise ApiError(404, "not_found", "file not found")
        return self.config.files_dir / file_id

    def create_files(self, body: Any) -> list[FileDTO]:
        """File records with upload URLs that this runtime serves."""
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "the request body must be a JSON object")
        try:
            request = FileCreateRequest.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, "validation_error", _validation_detail(exc)) from None
        entries = request.files or []
        if not entries:
            raise ApiError(400, "validation_error", "files: at least one file is required")
        if len(entries) > 100:
            raise ApiError(400, "validation_error", "files: at most 100 files per request")
        records: list[FileDTO] = []
        for entry in entries:
            filename = entry.filename or os.path.basename(entry.path or "") or "file"
            if _BAD_NAME.search(filename) or filename in (".", "..") or len(filename) > 255:
                raise ApiError(
                    400, "validation_error", f"filename {filename!r} is not a plain file name"
                )
            if entry.size is not None and entry.size > self.config.max_upload_bytes:
                raise ApiError(
                    413, "payload_too_large", f"{filename} is larger than the upload limit"
                )
            file_id = _new_id()
            token = secrets.token_urlsafe(24)
            now = _now()
            dto = FileDTO.model_validate(
                {
                    "id": file_id,
                    "short_id": file_id[:8],
                    "created_at": now,
                    "updated_at": now,
                    **_owner(),
                    "category": request.category or "uploads",
                    "content_type": entry.content_type or "application/octet-stream",
                    "filename": filename,
                    "path": entry.path or "",
                    "rating": "unrated",
                    "remote_path": file_id,
                    "size": entry.size or 0,
                    "upload_url": f"{self.config.base_url}/files/{file_id}/upload/{token}",
                    "uri": self._file_uri(file_id, filename),
                }
            )
            self.store.put(
                "files",
                file_id,
                {"dto": dto.model_dump(mode="json", exclude_unset=True), "token": token},
            )
            records.append(dto)
        return records

    def _file_record(self, file_id: str) -> tuple[FileDTO, str]:
        self._file_path(file_id)
        data = self.store.get("files", file_id)
        if data is None:
            raise ApiError(404, "not_found", "file not found")
        return FileDTO.model_validate(data["dto"]), str(data.get("token") or "")

    def get_file(self, file_id: str) -> FileDTO:
        """A file record."""
        return self._file_record(file_id)[0]

    def delete_file(self, file_id: str) -> None:
        """Delete a file record and its bytes."""
        self._file_record(file_id)
        self._file_path(file_id).unlink(missing_ok=True)
        self.store.delete("files", file_id)

    def file_content(self, file_id: str) -> tuple[Path, FileDTO]:
        """Where a file's bytes are, for download."""
        dto, _ = self._file_record(file_id)
        path = self._file_path(file_id)
        if not path.is_file():
            raise ApiError(404, "not_found", "the file has not been uploaded")
        return path, dto

    def begin_upload(self, file_id: str, token: str) -> tuple[FileDTO, Path]:
        """Check an upload URL; returns the record and the temporary path to write to."""
        dto, expected = self._file_record(file_id)
        if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
            raise ApiError(403, "forbidden", "invalid upload URL")
        return dto, self.config.files_dir / f".{file_id}.{_new_id()}.part"

    def finish_upload(
        self, dto: FileDTO, part: Path, size: int, content_type: str | None
    ) -> FileDTO:
        """Move an uploaded file into place and record its size."""
        os.replace(part, self._file_path(dto.id))
        dto.size = size
        if content_type and dto.content_type == "application/octet-stream":
            dto.content_type = content_type.split(";")[0].strip()
        dto.updated_at = _now()
        data = self.store.get("files", dto.id) or {}
        self.store.put(
            "files", dto.id, {**data, "dto": dto.model_dump(mode="json", exclude_unset=True)}
        )
        return dto

    async def _store_outputs(self, output: Any, paths: set[str]) -> Any:
        """Copy the files an app returned into the file store and point their ``uri`` at it."""
        stored: dict[str, str] = {}

        async def visit(value: Any) -> Any:
            if isinstance(value, dict):
                mapping = cast(dict[str, Any], value)
                items: dict[str, Any] = {str(k): await visit(v) for k, v in mapping.items()}
                path = items.get("path")
                if isinstance(path, str) and path in paths and os.path.isfile(path):
                    if path not in stored:
                        stored[path] = await self._store_file(path, items)
                    items["uri"] = stored[path]
                return items
            if isinstance(value, list):
                entries: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
                return [await visit(item) for item in entries]
            return value

        return await visit(output)

    async def _store_file(self, path: str, meta: dict[str, Any]) -> str:
        file_id = _new_id()
        await asyncio.to_thread(shutil.copyfile, path, self._file_path(file_id))
        filename = str(meta.get("filename") or os.path.basename(path))
        now = _now()
        dto = FileDTO.model_validate(
            {
                "id": file_id,
                "short_id": file_id[:8],
                "created_at": now,
                "updated_at": now,
                **_owner(),
                "category": "outputs",
                "content_type": str(meta.get("content_type") or "application/octet-stream"),
                "filename": filename,
                "path": path,
                "rating": "unrated",
                "remote_path": file_id,
                "size": os.path.getsize(path),
                "upload_url": "",
                "uri": self._file_uri(file_id, filename),
            }
        )
        self.store.put(
            "files", file_id, {"dto": dto.model_dump(mode="json", exclude_unset=True), "token": ""}
        )
        return dto.uri


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


def _validation_detail(exc: ValidationError) -> str:
    parts: list[str] = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
