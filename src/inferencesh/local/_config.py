"""The settings of one runtime, shared by its services."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RuntimeConfig"]


@dataclass
class RuntimeConfig:
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
    # The size of one task's output (as JSON) and the memory of one worker process.
    max_output_bytes: int = 64 * 1024 * 1024
    worker_memory_mb: int | None = None
    # Upload URLs take one upload within this time; download URLs are signed for this long.
    upload_url_ttl: float = 3600.0
    file_url_ttl: float = 24 * 3600.0
    # Retention: finished tasks beyond the newest keep_tasks, and records older than keep_days.
    keep_tasks: int | None = None
    keep_days: float | None = None
    # Where clients reach this runtime, when that is not the address it is bound to.
    public_url: str | None = None
    # Webhooks: hosts beyond loopback they may call ("*": any), how deliveries are tried, and
    # the signing secret (None: one kept in the data dir, or a fresh one without a data dir).
    webhook_hosts: tuple[str, ...] = ()
    webhook_attempts: int = 5
    webhook_backoff: float = 0.5
    webhook_timeout: float = 10.0
    webhook_secret: str | None = None
