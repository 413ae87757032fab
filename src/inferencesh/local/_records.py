"""What every record of the runtime shares: ids, timestamps, the owner, and request parsing.

Records are the generated wire models; each one starts from :func:`header` (id, short id,
creation and update times, owner), so those fields are built in one place.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from inferencesh._generated.models import TASK_STATUS_TERMINAL
from inferencesh.local._errors import ApiError

__all__ = [
    "LOCAL_USER",
    "TERMINAL",
    "dump",
    "header",
    "new_id",
    "now",
    "owner",
    "parse",
    "stable_id",
    "validation_detail",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

# Declared in schema/overrides.yaml and generated, so a renamed or new terminal status follows.
TERMINAL = TASK_STATUS_TERMINAL
LOCAL_USER = "local"


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh random record id (24 hex digits)."""
    return uuid.uuid4().hex[:24]


def stable_id(prefix: str, text: str) -> str:
    """An id derived from ``text``, the same on every run."""
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def owner() -> dict[str, Any]:
    """The owner fields: everything on the local runtime belongs to its one user."""
    return {"user_id": LOCAL_USER, "team_id": LOCAL_USER, "visibility": "private"}


def header(record_id: str, when: datetime | None = None) -> dict[str, Any]:
    """The fields every record starts with; the short id skips a ``prefix_`` of the id."""
    stamp = when or now()
    return {
        "id": record_id,
        "short_id": record_id.split("_", 1)[-1][:8],
        "created_at": stamp,
        "updated_at": stamp,
        **owner(),
    }


def dump(model: BaseModel) -> dict[str, Any]:
    """A record as JSON, with only the fields that were set."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def validation_detail(exc: ValidationError) -> str:
    """The first few validation errors, ``field: message`` each."""
    parts: list[str] = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse(model: type[ModelT], body: Any) -> ModelT:
    """A request body as ``model``; 400 problems for anything else."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(400, "validation_error", validation_detail(exc)) from None
