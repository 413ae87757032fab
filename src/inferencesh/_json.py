"""Narrowing decoded JSON without casts at every call site: the stream machines, the error
mapping and the transport read untrusted bodies through these."""

from __future__ import annotations

from typing import Any, cast

__all__ = ["json_array", "json_object"]


def json_object(value: Any) -> dict[str, Any] | None:
    """``value`` as a JSON object, or ``None`` when it is something else."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def json_array(value: Any) -> list[Any] | None:
    """``value`` as a JSON array, or ``None`` when it is something else."""
    return cast("list[Any]", value) if isinstance(value, list) else None  # type: ignore[redundant-cast]
