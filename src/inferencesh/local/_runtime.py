"""``LocalRuntime``: the runtime's HTTP server on loopback, in a background thread."""

from __future__ import annotations

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
from typing import Any, cast

import uvicorn

from inferencesh.local._agent_templates import templates_from
from inferencesh.local._agents import Agents
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._engine import Engine
from inferencesh.local._registry import AppSpec, Registry, spec_from_target
from inferencesh.local._server import create_app

__all__ = ["AppArg", "LocalRuntime"]

AppArg = AppSpec | str | type | tuple[str, Any]
# A YAML/JSON file of template agents ({"namespace/name": AgentConfig}), such a mapping, or several.
AgentsArg = (
    str
    | os.PathLike[str]
    | Mapping[str, Any]
    | Iterable[str | os.PathLike[str] | Mapping[str, Any]]
)
_START_TIMEOUT_SECONDS = 30.0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _spec(app: AppArg) -> AppSpec:
    if isinstance(app, AppSpec):
        return app
    if isinstance(app, tuple):
        ref, target = app
        return spec_from_target(target, ref)
    if isinstance(app, str) and "=" in app:
        ref, _, target = app.partition("=")
        return spec_from_target(target, ref)
    return spec_from_target(app)


class LocalRuntime:
    """A local inference.sh API server with built-in and user apps.

    >>> with LocalRuntime() as rt:  # doctest: +SKIP
    ...     httpx.post(f"{rt.base_url}/apps/run", json={"app": "infsh/echo", "input": {}},
    ...                headers={"Authorization": "Bearer inf_local"})

    ``data_dir=None`` keeps records in memory and files in a temporary folder; with a folder,
    records live in SQLite there and survive a restart (chats stay in memory).

    ``agents`` registers template agents from a YAML/JSON file (or a mapping) of
    ``{"namespace/name": AgentConfig}``. ``allow_key_approvals=False`` answers tool approvals
    with 403 ``requires_sign_in``, as the platform does for API keys. ``agent_tool_timeout``
    bounds how long a tool call (or the wait for a client result or approval) may take;
    ``agent_token_delay`` paces the scripted model's streamed words.
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
        secrets: dict[str, str] | None = None,
        max_workers: int = 4,
        session_timeout: int = 60,
        task_timeout: float | None = None,
        cancel_grace: float = 3.0,
        max_upload_bytes: int = 1 << 30,
        agents: AgentsArg = (),
        allow_key_approvals: bool = True,
        agent_tool_timeout: float = 600.0,
        agent_token_delay: float = 0.02,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.heartbeat_interval = heartbeat_interval
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.registry = Registry()
        for app in apps:
            self.registry.add(_spec(app))
        self._options: dict[str, Any] = {
            "secrets": dict(secrets or {}),
            "max_workers": max_workers,
            "session_timeout": session_timeout,
            "task_timeout": task_timeout,
            "cancel_grace": cancel_grace,
            "max_upload_bytes": max_upload_bytes,
            "allow_key_approvals": allow_key_approvals,
            "agent_tool_timeout": agent_tool_timeout,
            "agent_token_delay": agent_token_delay,
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

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        return f"http://{self.host}:{self.port}"

    def register_app(self, ref: str, target: Any, *, secrets: Iterable[str] = ()) -> AppSpec:
        """Serve ``target`` (a BaseApp class, ``module:Class`` or app folder) as ``ref``.

        ``secrets`` names environment variables the app needs: a run without them gets HTTP 412.
        """
        spec = self.registry.add(spec_from_target(target, ref, tuple(secrets)))
        if self.engine is not None:
            self.engine.apps.describes.pop(spec.ref, None)
        return spec

    def start(self) -> LocalRuntime:
        """Bind the port, start the server thread and wait until it answers."""
        if self._thread is not None:
            return self
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets, and without
        # it every keep-alive response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            files_dir = self.data_dir / "files"
        else:
            self._tmp = tempfile.mkdtemp(prefix="infsh-local-")
            files_dir = Path(self._tmp) / "files"
        config = RuntimeConfig(
            data_dir=self.data_dir, files_dir=files_dir, base_url=self.base_url, **self._options
        )
        self.engine = Engine(self.registry, config)
        self.agents = Agents(self.engine)
        for ref, template in self._templates:
            self.agents.templates.add(ref, template)
        app = create_app(
            self.engine,
            api_key=self.api_key,
            heartbeat_interval=self.heartbeat_interval,
            agents=self.agents,
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
                self.stop()
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
        """Stop the server and every worker; remove the temporary folder."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._server = self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
