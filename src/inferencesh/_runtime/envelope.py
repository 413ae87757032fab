"""Generic wire shapes that the upstream type files cannot express as plain models."""

from __future__ import annotations

from typing import Generic, TypeVar

from inferencesh._runtime.base import WireModel

__all__ = ["CursorListResponse"]

ItemT = TypeVar("ItemT")


class CursorListResponse(WireModel, Generic[ItemT]):
    """One page of a ``POST /<resource>/list`` call."""

    items: list[ItemT] = []  # pydantic copies mutable defaults per instance
    next_cursor: str | None = None
    prev_cursor: str | None = None
    has_next: bool = False
    has_previous: bool = False
    items_per_page: int | None = None
    total_items: int | None = None
