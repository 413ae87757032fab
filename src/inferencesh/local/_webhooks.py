"""Webhooks: a task run with ``webhook`` gets its final record POSTed there when it ends.

The body is the task as ``GET /tasks/{id}`` returns it (without the envelope), signed with
HMAC-SHA256 under a secret of this runtime: ``X-Inference-Signature: sha256=<hex digest of the
exact body bytes>``. ``X-Inference-Delivery`` is one id per task end (the same on every retry,
so a receiver can drop repeats) and ``X-Inference-Event`` is ``task.completed``, ``task.failed``,
``task.cancelled`` or ``task.rejected``.

A delivery is tried at most ``attempts`` times, each bounded by ``timeout`` seconds, waiting
``backoff``, 2x, 4x ... seconds in between; connection errors, timeouts, 408, 429 and 5xx
answers are retried, any other answer ends it. Only loopback hosts are targets unless more are
allowed (``hosts``; ``"*"`` allows any host).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from inferencesh.local._errors import ApiError
from inferencesh.local._hosts import is_loopback_host
from inferencesh.local._records import new_id

__all__ = ["SIGNATURE_HEADER", "WebhookPolicy", "Webhooks", "signature", "webhook_secret"]

SIGNATURE_HEADER = "X-Inference-Signature"
_SECRET_FILE = "webhook-secret"
_RETRIED = {408, 425, 429}

logger = logging.getLogger("inferencesh.local")


def webhook_secret(data_dir: Path | None) -> str:
    """This runtime's signing secret; kept in the data dir, so receivers keep working."""
    if data_dir is None:
        return secrets.token_hex(32)
    path = data_dir / _SECRET_FILE
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    if len(text) >= 32:
        return text
    text = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    return text


def signature(secret: str, body: bytes) -> str:
    """The ``X-Inference-Signature`` value of ``body``: ``sha256=`` and the hex HMAC."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class WebhookPolicy:
    """Where webhooks may go and how hard a delivery is tried."""

    hosts: frozenset[str] = frozenset()
    attempts: int = 5
    backoff: float = 0.5
    timeout: float = 10.0

    @classmethod
    def of(cls, hosts: Iterable[str], **options: Any) -> WebhookPolicy:
        """A policy allowing loopback and ``hosts`` (names compared without case)."""
        return cls(hosts=frozenset(h.lower().rstrip(".") for h in hosts), **options)

    def check(self, url: str) -> None:
        """400 naming the field when ``url`` is not a target this runtime may call."""
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("http", "https") or not host:
            raise ApiError(
                400, "validation_error", f"webhook: {url!r} is not an http(s) URL with a host"
            )
        if parts.username or parts.password:
            raise ApiError(400, "validation_error", "webhook: a URL with user info is refused")
        if is_loopback_host(host) or "*" in self.hosts or host.lower() in self.hosts:
            return
        raise ApiError(
            400,
            "validation_error",
            f"webhook: {host!r} is not a loopback host; the runtime calls only loopback"
            " webhooks unless it is started with webhook_hosts (serve --webhook-host HOST)",
        )


def _event(task: dict[str, Any]) -> str:
    names = {10: "completed", 11: "failed", 12: "cancelled", 13: "rejected"}
    return f"task.{names.get(int(task.get('status') or 0), 'ended')}"


class Webhooks:
    """Deliveries in flight; each runs in the background until it succeeds or gives up."""

    def __init__(self, secret: str, policy: WebhookPolicy) -> None:
        self.secret = secret
        self.policy = policy
        self._running: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def send(self, url: str, task: dict[str, Any]) -> None:
        """Start delivering ``task`` (a finished task's JSON) to ``url``."""
        delivery = asyncio.create_task(self._deliver(url, task))
        self._running.add(delivery)
        delivery.add_done_callback(self._running.discard)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No proxies from the environment and no redirects: the target is what was checked.
            self._client = httpx.AsyncClient(
                trust_env=False, follow_redirects=False, timeout=self.policy.timeout
            )
        return self._client

    async def _deliver(self, url: str, task: dict[str, Any]) -> None:
        body = json.dumps(task, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "inferencesh-local-runtime",
            SIGNATURE_HEADER: signature(self.secret, body),
            "X-Inference-Delivery": new_id(),
            "X-Inference-Event": _event(task),
        }
        task_id = task.get("id")
        outcome = "no attempt"
        for attempt in range(1, self.policy.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.policy.backoff * 2 ** (attempt - 2))
            try:
                response = await self._http().post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 300:
                logger.info("webhook of task %s delivered (attempt %d)", task_id, attempt)
                return
            outcome = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in _RETRIED:
                break
        logger.warning("webhook of task %s to %s was not delivered: %s", task_id, url, outcome)

    async def close(self) -> None:
        """Stop the deliveries still retrying."""
        for delivery in list(self._running):
            delivery.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
