"""Small HTTP helpers for the runtime tests: raw httpx, bounded loops, no client library."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

TERMINAL = {10, 11, 12, 13}


def run(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """POST /apps/run; the created task."""
    response = client.post("/apps/run", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def stream_lines(
    client: httpx.Client, task_id: str, *, sse: bool = False, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Every JSON message of a task's stream (heartbeats included) until the server ends it."""
    headers = {"Accept": "text/event-stream" if sse else "application/x-ndjson"}
    messages: list[dict[str, Any]] = []
    with client.stream("GET", f"/tasks/{task_id}/stream", headers=headers) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if sse:
                if line.startswith(":"):
                    messages.append({"type": "heartbeat", "comment": line})
                    continue
                if not line.startswith("data: "):
                    continue
                line = line[len("data: ") :]
            if line.strip():
                messages.append(json.loads(line))
            if len(messages) >= limit:
                break
    return messages


def wait(client: httpx.Client, task_id: str, *, attempts: int = 600) -> dict[str, Any]:
    """Poll GET /tasks/{id} until the task ends (at most ``attempts`` polls)."""
    for _ in range(attempts):
        task: dict[str, Any] = client.get(f"/tasks/{task_id}").json()["data"]
        if task["status"] in TERMINAL:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not end")


def wait_status(client: httpx.Client, task_id: str, status: int, *, attempts: int = 600) -> None:
    """Poll until the task has reached ``status`` (or any later one)."""
    for _ in range(attempts):
        task = client.get(f"/tasks/{task_id}/status").json()["data"]
        if task["status"] >= status:
            return
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached status {status}")


def run_and_wait(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Run an app and return the finished task."""
    return wait(client, run(client, body)["id"])


def log_text(task: dict[str, Any]) -> str:
    """All log content of a task, decoded."""
    return "".join(base64.b64decode(log["content"] or "").decode() for log in task["logs"])


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a problem+json document with this status and error code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://api.inference.sh/errors/{code}"
    assert body["title"] and body["detail"]
    return body
