"""Sessions: one warm worker that keeps an app's state between calls, with an idle timeout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from inferencesh._generated.models import AppSessionDTO, AppSessionStatus
from inferencesh.local._apps import app_id, version_id
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._errors import ApiError
from inferencesh.local._records import header, new_id, now
from inferencesh.local._registry import AppSpec
from inferencesh.local._store import Store
from inferencesh.local._worker_pool import Worker, WorkerError, WorkerPool

__all__ = ["LiveSession", "Sessions"]


@dataclass
class LiveSession:
    """An active session (or one that still has calls running)."""

    dto: AppSessionDTO
    spec: AppSpec
    setup: Any
    timeout: int
    worker: Worker | None = None
    busy: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _session_error(session_id: str, dto: AppSessionDTO | None) -> ApiError | None:
    if dto is None:
        return ApiError(404, "SESSION_NOT_FOUND", f"session {session_id} not found")
    if dto.status == AppSessionStatus.EXPIRED:
        return ApiError(410, "SESSION_EXPIRED", f"session {session_id} has expired")
    if dto.status != AppSessionStatus.ACTIVE:
        return ApiError(410, "SESSION_ENDED", f"session {session_id} has ended")
    return None


class Sessions:
    """The sessions of one runtime; live ones in memory, every record in the store."""

    def __init__(self, store: Store, pool: WorkerPool, config: RuntimeConfig) -> None:
        self.store = store
        self.pool = pool
        self.config = config
        self.live: dict[str, LiveSession] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def recover(self) -> None:
        """Sessions a previous run left active ended with it."""
        for data in self.store.open_records("sessions"):
            session = AppSessionDTO.model_validate(data)
            if session.status == AppSessionStatus.ACTIVE:
                session.status = AppSessionStatus.ENDED
                session.ended_at = now()
                self.store.put(
                    "sessions", session.id, session.model_dump(mode="json", exclude_unset=True)
                )

    def save(self, session: LiveSession) -> None:
        """Write the session's record."""
        data = session.dto.model_dump(mode="json", exclude_unset=True)
        self.store.put(
            "sessions", session.dto.id, data, open=session.dto.status == AppSessionStatus.ACTIVE
        )

    def new(self, spec: AppSpec, setup: Any, timeout: int | None) -> LiveSession:
        """A new session for ``spec``, busy with the call that creates it."""
        idle = timeout or self.config.session_timeout
        stamp = now()
        session_id = f"sess_{new_id()}"
        dto = AppSessionDTO.model_validate(
            {
                **header(session_id, stamp),
                "app_id": app_id(spec),
                "app_version_id": version_id(spec),
                "worker_id": "",
                "status": AppSessionStatus.ACTIVE,
                "expires_at": stamp + timedelta(seconds=idle),
                "call_count": 0,
                "idle_timeout": idle,
            }
        )
        session = LiveSession(dto=dto, spec=spec, setup=setup, timeout=idle, busy=1)
        self.live[session_id] = session
        self.save(session)
        return session

    def _active(self, session_id: str) -> LiveSession:
        session = self.live.get(session_id)
        if session is None:
            data = self.store.get("sessions", session_id)
            dto = None if data is None else AppSessionDTO.model_validate(data)
            raise _session_error(session_id, dto) or ApiError(
                410, "SESSION_ENDED", f"session {session_id} has ended"
            )
        if session.busy == 0 and session.dto.expires_at <= now():
            closing = asyncio.create_task(self.close(session, AppSessionStatus.EXPIRED))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            raise ApiError(410, "SESSION_EXPIRED", f"session {session_id} has expired")
        error = _session_error(session_id, session.dto)
        if error is not None:
            raise error
        return session

    def use(self, session_id: str, spec: AppSpec) -> LiveSession:
        """An active session of ``spec`` for one more call."""
        session = self._active(session_id)
        if session.spec.key != spec.key:
            raise ApiError(
                409, "APP_MISMATCH", f"session {session_id} belongs to {session.spec.key}"
            )
        session.busy += 1
        session.dto.expires_at = now() + timedelta(seconds=session.timeout)
        return session

    def get(self, session_id: str) -> AppSessionDTO:
        """A session record, whatever its status."""
        session = self.live.get(session_id)
        if session is not None:
            return session.dto
        data = self.store.get("sessions", session_id)
        if data is None:
            raise ApiError(404, "SESSION_NOT_FOUND", f"session {session_id} not found")
        return AppSessionDTO.model_validate(data)

    def list(self) -> list[AppSessionDTO]:
        """Every session this runtime knows, oldest first."""
        live = {sid: s.dto for sid, s in self.live.items()}
        stored = [AppSessionDTO.model_validate(d) for d in self.store.all("sessions")]
        return [live.get(dto.id, dto) for dto in stored]

    def keepalive(self, session_id: str) -> AppSessionDTO:
        """Reset the idle timer."""
        session = self._active(session_id)
        stamp = now()
        session.dto.expires_at = stamp + timedelta(seconds=session.timeout)
        session.dto.updated_at = stamp
        self.save(session)
        return session.dto

    async def end(self, session_id: str) -> None:
        """End a session and release its worker."""
        session = self._active(session_id)
        await self.close(session, AppSessionStatus.ENDED)

    async def worker_for(self, session: LiveSession, spec: AppSpec, setup_key: str) -> Worker:
        """The session's worker, acquired from the pool on its first call."""
        if session.dto.status != AppSessionStatus.ACTIVE:
            raise WorkerError(f"session {session.dto.id} has {session.dto.status.value}")
        if session.worker is not None:
            return session.worker
        worker = await self.pool.acquire(spec, setup_key, fresh=True)
        session.worker = worker
        session.dto.worker_id = worker.id
        self.save(session)
        return worker

    async def call_done(self, session: LiveSession, worker: Worker | None) -> None:
        """Count a finished call; a session whose first call lost its worker ends."""
        session.busy -= 1
        stamp = now()
        session.dto.call_count += 1
        session.dto.last_call_at = stamp
        session.dto.expires_at = stamp + timedelta(seconds=session.timeout)
        self.save(session)
        failed_first = session.worker is None or (worker is not None and worker.dead)
        if failed_first:
            await self.close(session, AppSessionStatus.ENDED)
        elif session.dto.status != AppSessionStatus.ACTIVE and session.busy == 0:
            await self._release_worker(session)

    async def close(self, session: LiveSession, status: AppSessionStatus) -> None:
        """Mark a session ended (or expired); its worker goes once no call uses it."""
        if session.dto.status == AppSessionStatus.ACTIVE:
            stamp = now()
            session.dto.status = status
            session.dto.ended_at = stamp
            session.dto.updated_at = stamp
            self.save(session)
        if session.busy == 0:
            await self._release_worker(session)

    async def _release_worker(self, session: LiveSession) -> None:
        self.live.pop(session.dto.id, None)
        worker, session.worker = session.worker, None
        if worker is not None:
            # Its memory holds the session's state: never hand it to anyone else.
            await self.pool.release(worker, reuse=False)

    async def expire_idle(self) -> None:
        """End the sessions whose idle timeout has passed."""
        stamp = now()
        for session in list(self.live.values()):
            if (
                session.dto.status == AppSessionStatus.ACTIVE
                and session.busy == 0
                and session.dto.expires_at <= stamp
            ):
                await self.close(session, AppSessionStatus.EXPIRED)

    async def close_all(self) -> None:
        """End every session (the runtime is stopping)."""
        await asyncio.gather(*self._closing, return_exceptions=True)
        for session in list(self.live.values()):
            await self.close(session, AppSessionStatus.ENDED)
