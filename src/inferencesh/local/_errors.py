"""Errors the runtime answers with, as RFC 9457 problem documents."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = ["ApiError", "problem_body"]

ERROR_TYPE_BASE = "https://api.inference.sh/errors/"


class ApiError(Exception):
    """An error response: HTTP status, error code, human detail and optional extra members."""

    def __init__(
        self, status: int, code: str, detail: str, *, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra or {}


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """``{type, title, status, detail}`` plus ``extra`` (e.g. ``errors`` for HTTP 412)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {
        "type": ERROR_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
