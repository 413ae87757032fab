"""``LocalRuntime``: the runtime's HTTP server, in a background thread."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import uvicorn

from inferencesh.local._agent_templates import templates_from
from inferencesh.local._agents import Agents
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._engine import Engine
from inferencesh.local._hosts import is_loopback_host
from inferencesh.local._registry import DEFAULT_NAMESPACE, AppSpec, Registry, spec_from_target
from inferencesh.local._server import create_app
from inferencesh.local._worker_pool import Worker, WorkerError, WorkerLimits

__all__ = ["AppArg", "DataDirInUseError", "LocalRuntime"]

AppArg = AppSpec | str | type | tuple[str, Any]
# A YAML/JSON file of template agents ({"namespace/name": AgentConfig}), such a mapping, or several.
AgentsArg = (
    str
    | os.PathLike[str]
    | Mapping[str, Any]
    | Iterable[str | os.PathLike[str] | Mapping[str, Any]]
)
_START_TIMEOUT_SECONDS = 30.0
_LOCK_FILE = "runtime.lock"

logger = logging.getLogger("inferencesh.local")


class DataDirInUseError(RuntimeError):
    """Another runtime holds the data dir; ``pid`` is its process id (when it wrote one)."""

    def __init__(self, data_dir: Path, pid: str) -> None:
        super().__init__(
            f"the data dir {data_dir} is in use by another local runtime (pid {pid or 'unknown'});"
            " stop that one or use another data dir"
        )
        self.pid = pid


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _spec(app: AppArg, namespace: str) -> AppSpec:
    if isinstance(app, AppSpec):
        return app
    if isinstance(app, tuple):
        ref, target = app
        return spec_from_target(target, ref, namespace=namespace)
    if isinstance(app, str) and "=" in app:
        ref, _, target = app.partition("=")
        return spec_from_target(target, ref, namespace=namespace)
    return spec_from_target(app, namespace=namespace)


def _lock(data_dir: Path) -> IO[str]:
    """Hold the data dir for this process, or raise naming the process that holds it."""
    import fcntl

    handle = (data_dir / _LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise DataDirInUseError(data_dir, holder) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _connect_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class LocalRuntime:
    """A local inference.sh API server with built-in and user apps.

    >>> with LocalRuntime() as rt:  # doctest: +SKIP
    ...     httpx.post(f"{rt.base_url}/apps/run", json={"app": "infsh/echo", "input": {}},
    ...                headers={"Authorization": "Bearer inf_local"})

    ``data_dir=None`` keeps records in memory and files in a temporary folder; with a folder,
    records (tasks, sessions, files, chats) live in SQLite there and survive a restart, and only one
    runtime at a time may use it. ``keep_tasks`` / ``keep_days`` bound the history kept there.

    Bound to a loopback address (the default), it answers only requests addressed to a loopback
    name. Bound to any other address it needs ``api_key`` (or ``allow_any_key=True``, which is
    logged as a warning); ``public_url`` is the address clients use when it is not the bound one
    (upload and download URLs use it, else the request's Host).

    Limits: ``max_workers`` processes, ``task_timeout`` seconds per task, ``worker_memory_mb``
    per worker process (an address-space rlimit), ``max_output_bytes`` per task output.
    ``check_apps`` loads every app given in ``apps`` in a worker at start, so that one that
    cannot be imported fails here. An app ref without a namespace is in ``namespace``.

    ``agents`` registers template agents from a YAML/JSON file (or a mapping) of
    ``{"namespace/name": AgentConfig}``. ``allow_key_approvals=False`` answers tool approvals
    with 403 ``requires_sign_in``, as the platform does for API keys. ``agent_tool_timeout``
    bounds how long a tool call (or the wait for a client result or approval) may take;
    ``agent_token_delay`` paces the scripted model's streamed words.

    A task run with ``webhook`` has its final record POSTed there, signed with
    ``webhook_secret`` (HMAC-SHA256 in ``X-Inference-Signature``), tried ``webhook_attempts``
    times ``webhook_backoff`` seconds apart and doubling, each within ``webhook_timeout``.
    Webhooks go to loopback hosts only, and to the hosts in ``webhook_hosts`` (``"*"``: any).
    """

    def __init__(
        self,
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        apps: Iterable[AppArg] = (),
        heartbeat_interval: float = 15.0,
        *,
        host: str = "127.0.0.1",
        public_url: str | None = None,
        allow_any_key: bool = False,
        namespace: str = DEFAULT_NAMESPACE,
        secrets: dict[str, str] | None = None,
        max_workers: int = 4,
        session_timeout: int = 60,
        task_timeout: float | None = None,
        worker_memory_mb: int | None = None,
        max_output_bytes: int = 64 * 1024 * 1024,
        cancel_grace: float = 3.0,
        max_upload_bytes: int = 1 << 30,
        upload_url_ttl: float = 3600.0,
        file_url_ttl: float = 24 * 3600.0,
        keep_tasks: int | None = None,
        keep_days: float | None = None,
        check_apps: bool = False,
        agents: AgentsArg = (),
        allow_key_approvals: bool = True,
        agent_tool_timeout: float = 600.0,
        agent_token_delay: float = 0.02,
        webhook_hosts: Iterable[str] = (),
        webhook_secret: str | None = None,
        webhook_attempts: int = 5,
        webhook_backoff: float = 0.5,
        webhook_timeout: float = 10.0,
    ) -> None:
        _check_positive(
            max_workers=max_workers,
            task_timeout=task_timeout,
            worker_memory_mb=worker_memory_mb,
            max_output_bytes=max_output_bytes,
            keep_tasks=keep_tasks,
            keep_days=keep_days,
            webhook_attempts=webhook_attempts,
            webhook_timeout=webhook_timeout,
        )
        if webhook_backoff < 0:
            raise ValueError(f"webhook_backoff must not be negative, not {webhook_backoff!r}")
        if webhook_secret is not None and len(webhook_secret) < 16:
            raise ValueError("webhook_secret must be at least 16 characters")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.loopback = is_loopback_host(host)
        if not self.loopback and api_key is None and not allow_any_key:
            raise ValueError(
                f"host={host!r} serves the API beyond this machine: set api_key (inferencesh"
                " serve --api-key KEY), or allow_any_key=True (--allow-any-key) to accept any"
                " inf_ key from anyone who can reach it"
            )
        self.allow_any_key = allow_any_key
        self.public_url = public_url.rstrip("/") if public_url else None
        self.heartbeat_interval = heartbeat_interval
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.check_apps = check_apps
        self.registry = Registry(namespace)
        self._user_apps: list[AppSpec] = []
        for app in apps:
            spec = _spec(app, namespace)
            if self.registry.has(spec):
                raise ValueError(f"two apps are registered as {spec.key}")
            self._user_apps.append(self.registry.add(spec))
        self._options: dict[str, Any] = {
            "secrets": dict(secrets or {}),
            "max_workers": max_workers,
            "session_timeout": session_timeout,
            "task_timeout": task_timeout,
            "worker_memory_mb": worker_memory_mb,
            "max_output_bytes": max_output_bytes,
            "cancel_grace": cancel_grace,
            "max_upload_bytes": max_upload_bytes,
            "upload_url_ttl": upload_url_ttl,
            "file_url_ttl": file_url_ttl,
            "keep_tasks": keep_tasks,
            "keep_days": keep_days,
            "public_url": self.public_url,
            "allow_key_approvals": allow_key_approvals,
            "agent_tool_timeout": agent_tool_timeout,
            "agent_token_delay": agent_token_delay,
            "webhook_hosts": tuple(webhook_hosts),
            "webhook_secret": webhook_secret,
            "webhook_attempts": webhook_attempts,
            "webhook_backoff": webhook_backoff,
            "webhook_timeout": webhook_timeout,
        }
        # Read now, so a broken agents file fails here rather than in the server thread.
        sources: list[str | os.PathLike[str] | Mapping[str, Any]]
        if isinstance(agents, (str, os.PathLike, Mapping)):
            sources = [cast("str | os.PathLike[str] | Mapping[str, Any]", agents)]
        else:
            sources = list(agents)
        self._templates = templates_from(sources)
        self.engine: Engine | None = None
        self.agents: Agents | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: str | None = None
        self._lock: IO[str] | None = None

    @property
    def base_url(self) -> str:
        """Where clients reach the runtime: ``public_url``, else ``http://<host>:<port>``."""
        if self.public_url:
            return self.public_url
        return f"http://{_connect_host(self.host)}:{self.port}"

    @property
    def webhook_secret(self) -> str | None:
        """The secret webhook bodies are signed with (see ``docs/decisions.md``, Webhooks).

        Known once the runtime has started, unless it was given; with a data dir it is kept in
        the file ``webhook-secret`` there.
        """
        if self.engine is not None:
            return self.engine.webhooks.secret
        secret: str | None = self._options["webhook_secret"]
        return secret

    @property
    def storage(self) -> str:
        """Where records and files live, and what is kept, in one line."""
        if self.data_dir is None:
            return "data: in memory (gone when the runtime stops)"
        keep: list[str] = []
        if self._options["keep_tasks"] is not None:
            keep.append(f"the newest {self._options['keep_tasks']} tasks")
        if self._options["keep_days"] is not None:
            keep.append(f"records of the last {self._options['keep_days']:g} days")
        kept = " and ".join(keep) or "everything (set --keep-tasks / --keep-days to prune)"
        stored = ""
        if self.engine is not None:
            stored = f", {self.engine.store.count('tasks')} tasks stored"
        return f"data: {self.data_dir.resolve()}{stored}; keeps {kept}"

    def register_app(self, ref: str, target: Any, *, secrets: Iterable[str] = ()) -> AppSpec:
        """Serve ``target`` (a BaseApp class, ``module:Class`` or app folder) as ``ref``.

        ``secrets`` names environment variables the app needs: a run without them gets HTTP 412.
        """
        spec = spec_from_target(target, ref, tuple(secrets), namespace=self.registry.namespace)
        self.registry.add(spec)
        if self.engine is not None:
            self.engine.apps.describes.pop(spec.key, None)
        return spec

    def _check_apps(self, config: RuntimeConfig) -> dict[str, dict[str, Any]]:
        """Load each user app in a worker; the first that fails stops the start."""
        limits = WorkerLimits(config.max_output_bytes, config.worker_memory_mb)

        async def load(spec: AppSpec) -> tuple[AppSpec, dict[str, Any] | str]:
            worker = Worker(spec, "", limits)
            try:
                await worker.start(config.secrets)
            except WorkerError as exc:
                return spec, str(exc)
            finally:
                await worker.stop()
            return spec, worker.describe

        async def load_all() -> list[tuple[AppSpec, dict[str, Any] | str]]:
            return await asyncio.gather(*(load(spec) for spec in self._user_apps))

        described: dict[str, dict[str, Any]] = {}
        for spec, result in asyncio.run(load_all()):
            if isinstance(result, str):
                raise ValueError(f"app {spec.key} ({spec.target}) cannot be loaded: {result}")
            described[spec.key] = result
        return described

    def start(self) -> LocalRuntime:
        """Bind the port, start the server thread and wait until it answers."""
        if self._thread is not None:
            return self
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(self.data_dir)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalRuntime:
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets, and without
        # it every keep-alive response waits ~40 ms for a delayed ACK.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        if self.data_dir is not None:
            files_dir = self.data_dir / "files"
        else:
            self._tmp = tempfile.mkdtemp(prefix="infsh-local-")
            files_dir = Path(self._tmp) / "files"
        config = RuntimeConfig(
            data_dir=self.data_dir,
            files_dir=files_dir,
            base_url=f"http://{_connect_host(self.host)}:{self.port}",
            **self._options,
        )
        described = self._check_apps(config) if self.check_apps else {}
        if not self.loopback and self.api_key is None:
            logger.warning(
                "the local runtime on %s:%d accepts ANY inf_ key from anyone who can reach it"
                " (allow_any_key); set an api_key to protect it",
                self.host,
                self.port,
            )
        self.engine = Engine(self.registry, config)
        self.engine.apps.describes.update(described)
        self.agents = Agents(self.engine)
        for ref, template in self._templates:
            self.agents.templates.add(ref, template)
        app = create_app(
            self.engine,
            api_key=self.api_key,
            heartbeat_interval=self.heartbeat_interval,
            agents=self.agents,
            loopback_only=self.loopback,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=2,
                ws="none",
            )
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="inferencesh-local", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local runtime did not start")
            time.sleep(0.01)
        return self

    def wait(self) -> None:
        """Block until the server stops; Ctrl-C or SIGTERM stop it cleanly (workers included)."""
        thread = self._thread
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)
        try:
            while thread is not None and thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the server and every worker; remove the temporary folder; free the data dir."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._server = self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _check_positive(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, not {value!r}")
