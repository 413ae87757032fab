"""Wire bodies for the fault servers: complete records, as the API sends them."""

from __future__ import annotations

from typing import Any

NOW = "2026-11-23T12:00:00Z"


def task(task_id: str = "t1", status: int | str = 7, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task_id,
        "short_id": task_id[:8],
        "created_at": NOW,
        "updated_at": NOW,
        "team_id": "team",
        "user_id": "user",
        "visibility": "private",
        "app_id": "app",
        "app_version_id": "ver",
        "engine_public_key": None,
        "user_public_key": None,
        "events": [],
        "logs": [],
        "usage_events": [],
        "workers": [],
        "function": "run",
        "infra": "cloud",
        "input": {},
        "output": None,
        "is_featured": False,
        "rating": "safe",
        "status": status,
    }
    body.update(fields)
    return body


def created(task_id: str = "t1", status: int = 1, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task_id,
        "short_id": task_id[:8],
        "created_at": NOW,
        "updated_at": NOW,
        "status": status,
        "status_text": "received",
        "output": None,
    }
    body.update(fields)
    return body


def file_record(
    upload_url: str, uri: str = "https://files.example/f1", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "f1",
        "short_id": "f1",
        "created_at": NOW,
        "updated_at": NOW,
        "team_id": "team",
        "user_id": "user",
        "visibility": "private",
        "category": "uploads",
        "content_type": "application/octet-stream",
        "filename": "f",
        "path": "",
        "rating": "safe",
        "remote_path": "",
        "size": 0,
        "upload_url": upload_url,
        "uri": uri,
    }
    body.update(fields)
    return body


def v3(data: Any) -> dict[str, Any]:
    return {"data": data, "messages": []}
