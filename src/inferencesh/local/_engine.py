"""The runtime's services wired together over one store and one worker pool. No HTTP here.

Records are the generated wire models (``TaskDTO``, ``AppSessionDTO``, ``FileDTO``); the HTTP
layer only wraps them in envelopes. Everything runs on one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from inferencesh.local._apps import Apps
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._files import Files, url_secret
from inferencesh.local._registry import Registry
from inferencesh.local._sessions import Sessions
from inferencesh.local._store import Store
from inferencesh.local._tasks import Tasks
from inferencesh.local._webhooks import WebhookPolicy, Webhooks, webhook_secret
from inferencesh.local._worker_pool import WorkerLimits, WorkerPool

__all__ = ["Engine"]

_REAP_EVERY_SECONDS = 5.0
_PRUNE_EVERY_SECONDS = 60.0


class Engine:
    """Apps, tasks, sessions and files of one local runtime."""

    def __init__(self, registry: Registry, config: RuntimeConfig) -> None:
        self.config = config
        db = None if config.data_dir is None else config.data_dir / "runtime.sqlite3"
        self.store = Store(db)
        limits = WorkerLimits(config.max_output_bytes, config.worker_memory_mb)
        self.pool = WorkerPool(
            max_workers=config.max_workers,
            idle_ttl=config.worker_idle_ttl,
            env=config.secrets,
            limits=limits,
        )
        self.apps = Apps(registry, config, limits)
        self.files = Files(self.store, config, url_secret(config.data_dir))
        self.sessions = Sessions(self.store, self.pool, config)
        policy = WebhookPolicy.of(
            config.webhook_hosts,
            attempts=config.webhook_attempts,
            backoff=config.webhook_backoff,
            timeout=config.webhook_timeout,
        )
        secret = config.webhook_secret or webhook_secret(config.data_dir)
        self.webhooks = Webhooks(secret, policy)
        self.tasks = Tasks(
            self.store, self.pool, self.apps, self.sessions, self.files, self.webhooks, config
        )
        self.tasks.recover()
        self.sessions.recover()
        self.prune()
        self._maintenance: asyncio.Task[None] | None = None

    def prune(self) -> None:
        """Apply retention: finished tasks beyond ``keep_tasks``, records past ``keep_days``."""
        config = self.config
        before = None if config.keep_days is None else time.time() - config.keep_days * 86400
        if config.keep_tasks is not None or before is not None:
            self.store.prune("tasks", keep=config.keep_tasks, before=before)
        if before is not None:
            self.store.prune("sessions", before=before)
            self.store.prune("chats", before=before)
            self.store.prune("agent_runs", before=before)
            self.files.forget(self.store.prune("files", before=before))

    async def start(self) -> None:
        """Start background maintenance (session expiry, idle worker reaping)."""
        self._maintenance = asyncio.create_task(self._maintain())

    async def close(self) -> None:
        """Stop tasks, sessions and every worker."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self.tasks.close()
        await self.sessions.close_all()
        await self.pool.close()
        await self.tasks.drain()
        await self.webhooks.close()
        self.store.close()

    async def _maintain(self) -> None:
        last_reap = last_prune = time.monotonic()
        while True:
            await asyncio.sleep(0.2)
            await self.sessions.expire_idle()
            if time.monotonic() - last_reap > _REAP_EVERY_SECONDS:
                last_reap = time.monotonic()
                await self.pool.reap_idle()
            if time.monotonic() - last_prune > _PRUNE_EVERY_SECONDS:
                last_prune = time.monotonic()
                self.prune()
